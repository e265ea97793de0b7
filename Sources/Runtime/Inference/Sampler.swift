import Foundation

/// A small seeded generator (xoshiro256**, seeded by splitmix64): the same seed gives the same tokens.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var z = seed
        func next() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var x = z
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
        s = (next(), next(), next(), next())
    }

    public mutating func next() -> UInt64 {
        let r = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return r
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// Sampling settings, as llama.cpp names them.
public struct SamplingParams: Sendable, Equatable {
    public var temperature: Float = 0.8
    public var topK: Int = 40
    public var topP: Float = 0.95
    public var minP: Float = 0.05
    public var repeatPenalty: Float = 1.0
    public var repeatLastN: Int = 64
    public var seed: UInt64 = 0

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05,
                repeatPenalty: Float = 1.0, repeatLastN: Int = 64, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repeatPenalty = repeatPenalty
        self.repeatLastN = repeatLastN
        self.seed = seed
    }

    public static let greedy = SamplingParams(temperature: 0)

    /// The first setting out of its range, or nil when all are usable.
    public func invalidSetting() -> SamplingError? {
        if !(temperature >= 0) || !temperature.isFinite { return SamplingError(.temperature, "must be ≥ 0", temperature) }
        if topK < 0 { return SamplingError(.topK, "must be ≥ 0", topK) }
        if !(topP > 0 && topP <= 1) { return SamplingError(.topP, "must be in (0, 1]", topP) }
        if !(minP >= 0 && minP < 1) { return SamplingError(.minP, "must be in [0, 1)", minP) }
        if !(repeatPenalty > 0) || !repeatPenalty.isFinite { return SamplingError(.repeatPenalty, "must be > 0", repeatPenalty) }
        if repeatLastN < 0 { return SamplingError(.repeatLastN, "must be ≥ 0", repeatLastN) }
        return nil
    }
}

/// A sampling setting out of its range: which one, the range, and the value given.
public struct SamplingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The settings, under their llama.cpp / Hugging Face parameter names.
    public enum Setting: String, Sendable {
        case temperature, topK = "top_k", topP = "top_p", minP = "min_p"
        case repeatPenalty = "repeat_penalty", repeatLastN = "repeat_last_n"
    }

    public let setting: Setting
    public let requirement: String   // e.g. "must be in (0, 1]"
    public let value: String

    public init(_ setting: Setting, _ requirement: String, _ value: some CustomStringConvertible) {
        self.setting = setting
        self.requirement = requirement
        self.value = value.description
    }

    public var description: String { "\(setting.rawValue) \(requirement) (got \(value))" }
}

/// Picks the next token from logits: repetition penalty, then greedy (temperature 0) or
/// top-k → top-p → min-p → temperature → draw. Buffers are reused between calls.
public struct Sampler {
    public var params: SamplingParams
    private var rng: SeededRandom
    private var order: [Int32] = []
    private var probs: [Float] = []

    public init(_ params: SamplingParams) {
        self.params = params
        rng = SeededRandom(seed: params.seed)
    }

    /// logits are modified in place (penalty). `recent`: the tokens seen so far.
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>, recent: ArraySlice<Int32>) -> Int32 {
        let V = logits.count
        if params.repeatPenalty != 1, params.repeatLastN > 0 {
            for id in recent.suffix(params.repeatLastN) where Int(id) < V {
                let l = logits[Int(id)]
                logits[Int(id)] = l > 0 ? l / params.repeatPenalty : l * params.repeatPenalty
            }
        }
        if params.temperature == 0 { return argmax(logits) }
        // candidates sorted by logit, cut to top-k
        if order.count != V { order = (0..<Int32(V)).map { $0 }; probs = [Float](repeating: 0, count: V) }
        for i in 0..<V { order[i] = Int32(i) }
        let k = params.topK > 0 ? min(params.topK, V) : V
        order.withUnsafeMutableBufferPointer { ob in
            if k < V {
                partialSortTop(ob, k: k, by: logits)
            } else {
                ob.sort { logits[Int($0)] > logits[Int($1)] }
            }
        }
        let maxL = logits[Int(order[0])]
        var sum: Float = 0
        for i in 0..<k {
            let p = expf((logits[Int(order[i])] - maxL) / params.temperature)
            probs[i] = p
            sum += p
        }
        var n = k
        // top-p: smallest prefix with mass ≥ p
        if params.topP < 1 {
            var acc: Float = 0
            for i in 0..<k {
                acc += probs[i] / sum
                if acc >= params.topP { n = i + 1; break }
            }
        }
        // min-p: drop candidates below min_p · p_max
        if params.minP > 0 {
            let cut = params.minP * probs[0]
            var m = 1
            while m < n && probs[m] >= cut { m += 1 }
            n = m
        }
        var total: Float = 0
        for i in 0..<n { total += probs[i] }
        var r = Float(rng.uniform()) * total
        for i in 0..<n {
            r -= probs[i]
            if r <= 0 { return order[i] }
        }
        return order[n - 1]
    }
}

/// Index of the largest value (the first one on ties).
public func argmax(_ x: UnsafeMutableBufferPointer<Float>) -> Int32 {
    var best = 0
    var bv = -Float.infinity
    for i in 0..<x.count where x[i] > bv {
        bv = x[i]
        best = i
    }
    return Int32(best)
}

/// Moves the k largest (by key) to the front, sorted descending.
private func partialSortTop(_ a: UnsafeMutableBufferPointer<Int32>, k: Int, by key: UnsafeMutableBufferPointer<Float>) {
    var lo = 0, hi = a.count - 1
    while lo < hi {
        let pivot = key[Int(a[(lo + hi) / 2])]
        var i = lo, j = hi
        while i <= j {
            while key[Int(a[i])] > pivot { i += 1 }
            while key[Int(a[j])] < pivot { j -= 1 }
            if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
        }
        if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { break }
    }
    var top = UnsafeMutableBufferPointer(rebasing: a[0..<k])
    top.sort { key[Int($0)] > key[Int($1)] }
}
