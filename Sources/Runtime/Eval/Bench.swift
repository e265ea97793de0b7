import Foundation

/// llama-bench-style speed tests: prompt processing (ppN) and token generation (tgN).
public enum BenchTest: Sendable, Equatable {
    case prompt(Int)
    case generate(Int)

    public var name: String {
        switch self {
        case .prompt(let n): return "pp\(n)"
        case .generate(let n): return "tg\(n)"
        }
    }

    public var tokens: Int {
        switch self {
        case .prompt(let n), .generate(let n): return n
        }
    }
}

public struct BenchResult: Sendable {
    public let test: BenchTest
    public let runs: [Double]   // tokens/s of each timed run

    public init(test: BenchTest, runs: [Double]) {
        self.test = test
        self.runs = runs
    }

    public var mean: Double { runs.reduce(0, +) / Double(max(runs.count, 1)) }
    public var sd: Double {
        guard runs.count > 1 else { return 0 }
        let m = mean
        return (runs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(runs.count - 1)).squareRoot()
    }
}

/// One model prepared for one test: token ids are fixed pseudo-random ids (no tokenization, no
/// sampling: the argmax of the logits is fed back for generation).
public final class BenchCase {
    public let test: BenchTest
    private let session: InferenceSession
    private let prompt: [Int32]

    public init(model: CausalLM, test: BenchTest) throws {
        let V = model.config.vocabSize
        var rng = SeededRandom(seed: 1234)
        let n = test.tokens
        guard n >= 1, n + 1 <= model.contextLength else {
            throw InferenceError.contextOverflow(needed: n + 1, capacity: model.contextLength)
        }
        self.test = test
        session = InferenceSession(model: model, capacity: n + 1)
        session.chunk = max(n, 1)
        prompt = (0..<n).map { _ in Int32(rng.next() % UInt64(V)) }
    }

    /// One run from an empty cache; returns tokens per second.
    public func run() throws -> Double {
        session.reset()
        let n = test.tokens
        let seconds: Double
        switch test {
        case .prompt:
            let t0 = now()
            _ = try session.feed(prompt)
            seconds = now() - t0
        case .generate:
            var token = prompt[0]
            let t0 = now()
            for _ in 0..<n {
                let logits = try session.step(token)
                token = argmax(logits)
            }
            seconds = now() - t0
        }
        return Double(n) / seconds
    }
}

/// Times one or more models on one test `repetitions` times, taking turns run by run (one
/// warm-up round first), so a shared machine's changing load falls on all of them alike and
/// their ratios stay meaningful.
public func runBench(models: [CausalLM], test: BenchTest, repetitions: Int) throws -> [BenchResult] {
    let cases = try models.map { try BenchCase(model: $0, test: test) }
    var runs = [[Double]](repeating: [], count: cases.count)
    for r in 0...repetitions {
        for (i, c) in cases.enumerated() {
            let tps = try c.run()
            if r > 0 { runs[i].append(tps) }
        }
    }
    return runs.map { BenchResult(test: test, runs: $0) }
}

/// Storage statistics of a model's weights.
public struct WeightStats: Sendable {
    public var bytes = 0            // all parameters as stored (block linears in their storages)
    public var parameters = 0       // all parameters (dense count)
    public var blockLinearParameters = 0
    public var blockLinearZeros = 0
    public var blockLinearBytes = 0        // block linear weights and biases as stored
    public var blockLinearDenseBytes = 0   // the same as dense float32
    public var sparsity: Double { blockLinearParameters > 0 ? Double(blockLinearZeros) / Double(blockLinearParameters) : 0 }
}

public func weightStats(_ model: CausalLM) -> WeightStats {
    var s = WeightStats()
    let weights = Set(model.blockLinearNames.map { $0 + ".weight" })
    for (_, t) in model.namedParameters(skipping: weights) {
        s.parameters += t.count
        s.bytes += t.count * 4
    }
    if let m = model as? any EmbeddingHolder & CausalLM { s.bytes += m.embeddingBytesBeyondFloat32 }   // 16-bit embedding / head
    for name in model.blockLinearNames {
        guard let l = model.linear(name) else { continue }
        let n = l.outFeatures * l.inFeatures
        s.parameters += n
        s.bytes += l.weight.bytes
        s.blockLinearParameters += n + (l.bias?.count ?? 0)
        s.blockLinearZeros += l.zeroCount
        s.blockLinearBytes += l.storageBytes
        s.blockLinearDenseBytes += 4 * (n + (l.bias?.count ?? 0))
    }
    return s
}
