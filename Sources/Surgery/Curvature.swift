import Foundation
import Runtime

/// Which Fisher approximation a layer's costs and updates use (surgeon.md §0, §2).
public enum CurvatureMethod: String, Sendable, CaseIterable {
    /// G = I, A = I (magnitude): nothing to calibrate.
    case identity
    /// G = I, A from the inputs (L-OBD): forward passes only.
    case activations
    /// G and A (K-FAC, the LLM Surgeon): one forward and backward per window.
    case kfac
}

/// Labels of the calibration loss.
public enum FisherLabels: Sendable, Equatable {
    /// The data's own next tokens (empirical Fisher; what the paper's scripts use).
    case empirical
    /// k labels per position drawn from the model's softmax (true Fisher), reproducible from `seed`.
    case sampled(Int, seed: UInt64 = 0)

    var description: String {
        switch self {
        case .empirical: return "empirical"
        case .sampled(let k, let seed): return "sampled(k=\(k), seed=\(seed))"
        }
    }
}

public enum CurvatureError: Error, CustomStringConvertible, Equatable {
    case invalidSampleCount(Int)
    case missingFactor(file: String, tensor: String)
    case tooFewWindows(windows: Int, ranks: Int)

    public var description: String {
        switch self {
        case .invalidSampleCount(let k): return "sampled Fisher labels need k ≥ 1 samples (got \(k))"
        case .missingFactor(let f, let t): return "\(f): factor \(t) is missing"
        case .tooFewWindows(let w, let r):
            return "\(r) ranks share \(w) calibration windows: every rank needs one; use at most \(w) ranks or more windows"
        }
    }
}

/// Kronecker factors of the Fisher per block linear layer, keyed by Hugging Face layer name:
/// A: [C(+1), C(+1)] (the +1 for a bias column; q/k/v and gate/up hold the same storage),
/// G: [R, R]. Empty dictionaries stand for identities (`identity`; G for `activations`).
public struct KFACFactors {
    public let method: CurvatureMethod
    public var A: [String: Tensor]
    public var G: [String: Tensor]
    /// Tokens the statistics average over (N·L).
    public var tokens: Int
    /// Description of how they were made (method, labels, windows, seed, source, mean loss).
    public var metadata: [String: String]
    /// Factors kept in scratch files by a grouped pass (`Curvature.estimateInGroups`); read them with
    /// `a(_:)` and `g(_:)`, which look in memory first.
    public var onDisk: FactorFiles?
    /// Factors built on demand from a spilled pass (`Curvature.estimateSpilled`), through `a(_:)`/`g(_:)`.
    public var spilled: SpilledActivations?

    public init(method: CurvatureMethod, A: [String: Tensor], G: [String: Tensor], tokens: Int, metadata: [String: String] = [:]) {
        self.method = method
        self.A = A
        self.G = G
        self.tokens = tokens
        self.metadata = metadata
    }

    /// Writes `A.<layer>` and `G.<layer>` as float32 tensors with the metadata (plus `extra`).
    public func write(to path: String, metadata extra: [String: String] = [:]) throws {
        var items: [SafetensorsWriter.Item] = []
        for (name, t) in A.sorted(by: { $0.key < $1.key }) { items.append(.init(name: "A." + name, tensor: t)) }
        for (name, t) in G.sorted(by: { $0.key < $1.key }) { items.append(.init(name: "G." + name, tensor: t)) }
        var meta = metadata.merging(extra) { _, new in new }
        meta["method"] = method.rawValue
        meta["tokens"] = String(tokens)
        try SafetensorsWriter.write(items, metadata: meta, to: path)
    }

    /// Reads factors written by `write` (A of layers with equal tensors are not re-shared).
    public static func read(path: String) throws -> KFACFactors {
        let f = try SafetensorsFile(path: path)
        var A: [String: Tensor] = [:], G: [String: Tensor] = [:]
        for name in f.tensorNames {
            if name.hasPrefix("A.") { A[String(name.dropFirst(2))] = try f.load(name) }
            if name.hasPrefix("G.") { G[String(name.dropFirst(2))] = try f.load(name) }
        }
        let method = f.metadata["method"].flatMap(CurvatureMethod.init(rawValue:)) ?? (G.isEmpty ? .activations : .kfac)
        return KFACFactors(method: method, A: A, G: G, tokens: f.metadata["tokens"].flatMap { Int($0) } ?? 0,
                           metadata: f.metadata)
    }
}

public enum Curvature {
    /// Estimates the factors of every block linear layer on the calibration windows, streaming one
    /// window at a time (memory: the factors plus one window's activations):
    /// A = Σ XaᵀXa/(N·L), G = Σ XgᵀXg/(N·L) where each window's loss is its mean next-token
    /// cross-entropy (positions 0..L−2 predict tokens 1..L−1); with k sampled labels G also averages
    /// over the k backward passes of each window. `progress(done, total)` is called after each window.
    /// Each window's loss and, after accumulation, every factor are checked finite (`NonFiniteError`).
    /// `layers`: accumulate only these layers' factors (nil: all; `estimateInGroups` passes groups).
    /// `communicator`: the ranks of a distributed run share the windows (rank r takes windows
    /// r, r + size, ...; every rank needs at least one) and their sums are reduced to `root`, whose
    /// result equals a one-process pass bit for bit (`FactorSum`); the other ranks
    /// return their own share only. With `ownership`, each layer's factors are reduced to its owner
    /// instead, and every rank returns the factors of its own layers only (the others are freed).
    public static func estimate(model: CausalLM, calibration: Calibration, method: CurvatureMethod,
                                labels: FisherLabels = .empirical, layers: Set<String>? = nil,
                                communicator: Communicator? = nil, root: Int = 0, ownership: LayerOwnership? = nil,
                                progress: ((Int, Int) -> Void)? = nil) throws -> KFACFactors {
        var meta = passMetadata(calibration: calibration, labels: labels)
        let total = calibration.tokenCount
        guard method != .identity else {
            return KFACFactors(method: .identity, A: [:], G: [:], tokens: total, metadata: meta)
        }
        if case .sampled(let k, _) = labels, k < 1 { throw CurvatureError.invalidSampleCount(k) }
        if let communicator, calibration.windows.count < communicator.size {
            throw CurvatureError.tooFewWindows(windows: calibration.windows.count, ranks: communicator.size)
        }
        let acc = KFACAccumulator(wantG: method == .kfac, only: layers)
        if let loss = try pass(model: model, calibration: calibration, method: method, labels: labels, observer: acc,
                               communicator: communicator, progress: progress) {
            meta["mean_loss"] = String(loss)
        }
        if let communicator, communicator.size > 1 {
            if let ownership {
                try acc.reduce(over: communicator, owner: ownership.rank(of:), keepOwnedOnly: true)
            } else {
                try acc.reduce(over: communicator, owner: { _ in root })
            }
            meta["ranks"] = String(communicator.size)
        }
        meta["held_bytes"] = String(acc.heldBytes)
        let (A, G) = acc.finish()
        try checkFiniteFactors(A: A, G: G, layers: model.blockLinearNames, windows: calibration.windows.count)
        meta["accumulated_bytes"] = String(acc.bytes)
        return KFACFactors(method: method, A: A, G: G, tokens: total, metadata: meta)
    }

    /// How factors were made: windows, offsets, lengths, labels, seed and source of the calibration.
    static func passMetadata(calibration: Calibration, labels: FisherLabels) -> [String: String] {
        var meta: [String: String] = [
            "windows": String(calibration.windows.count),
            "offsets": calibration.offsets.map(String.init).joined(separator: ","),
            "window_lengths": Set(calibration.windows.map(\.count)).sorted().map(String.init).joined(separator: ","),
            "labels": labels.description,
        ]
        if let s = calibration.seed { meta["offsets_seed"] = String(s) }
        if !calibration.source.isEmpty { meta["source"] = calibration.source }
        return meta
    }

    /// One forward (and, for K-FAC, backward) pass per calibration window, showing every block
    /// linear's activity to `observer` with the scales of the factors' averages (α_A = 1/(N·L),
    /// α_G = 1/(N·L), or 1/(N·L·k) for k sampled labels). Returns the mean calibration loss (nil
    /// without backward passes); each window's loss is checked finite.
    /// With a communicator, this rank's windows only (the scales stay those of all windows) and the
    /// mean loss over every rank's.
    static func pass(model: CausalLM, calibration: Calibration, method: CurvatureMethod, labels: FisherLabels,
                     observer acc: CurvatureObserver, communicator: Communicator? = nil,
                     progress: ((Int, Int) -> Void)?) throws -> Double? {
        let total = calibration.tokenCount
        let tape = model.makeTrainingTape()
        acc.alphaA = 1 / Float(total)
        var lossSum = 0.0, lossCount = 0
        for (w, window) in calibration.windows.enumerated() where communicator?.owns(item: w) ?? true {
            try tape.forward(window, observer: acc)
            if method == .kfac {
                switch labels {
                case .empirical:
                    acc.alphaG = 1 / Float(total)
                    let loss = try tape.backward(labels: .given(nextTokenTargets(window)), observer: acc, gradients: nil)
                    guard loss.isFinite else { throw NonFiniteError(.calibrationLoss(window: w), value: loss) }
                    lossSum += loss
                    lossCount += 1
                case .sampled(let k, let seed):
                    acc.alphaG = 1 / (Float(total) * Float(k))
                    let scored = window.indices.map { $0 < window.count - 1 }
                    for s in 0..<k {
                        let sampleSeed = mixSeed(seed, UInt64(w), UInt64(s))
                        let loss = try tape.backward(labels: .sampled(scored: scored, seed: sampleSeed), observer: acc,
                                                     gradients: nil)
                        guard loss.isFinite else { throw NonFiniteError(.calibrationLoss(window: w), value: loss) }
                        lossSum += loss
                        lossCount += 1
                    }
                }
            }
            progress?(w + 1, calibration.windows.count)
        }
        if let communicator, communicator.size > 1 {
            var sums = [lossSum, Double(lossCount)]
            try communicator.allReduceSum(&sums)
            lossSum = sums[0]
            lossCount = Int(sums[1])
        }
        return lossCount > 0 ? lossSum / Double(lossCount) : nil
    }

    /// Checks every accumulated factor for NaN/Inf (one pass over each, layers in model order),
    /// naming the first bad layer and factor.
    static func checkFiniteFactors(A: [String: Tensor], G: [String: Tensor], layers: [String], windows: Int) throws {
        for layer in layers {
            for (kind, factor) in [("A", A[layer]), ("G", G[layer])] {
                guard let t = factor else { continue }
                try t.data.withUnsafeBufferPointer { b in
                    guard let p = b.baseAddress else { return }
                    try checkFinite(p, count: b.count, rowLength: b.count) { _ in .factor(kind, layer: layer, windows: windows) }
                }
            }
        }
    }
}

/// A seed for sample s of window w (splitmix-style mixing, so nearby inputs give unrelated seeds).
func mixSeed(_ seed: UInt64, _ w: UInt64, _ s: UInt64) -> UInt64 {
    var z = seed ^ (w &* 0x9E37_79B9_7F4A_7C15) ^ (s &* 0xC2B2_AE3D_27D4_EB4F)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
