import Runtime

/// Errors of preparing calibration data.
public enum CalibrationError: Error, CustomStringConvertible, Equatable {
    case invalidSize(count: Int, length: Int)
    case textTooShort(tokens: Int, length: Int)
    case notEnoughOffsets(requested: Int, available: Int)
    case mismatchedOffsets(windows: Int, offsets: Int)
    case emptyCalibration

    public var description: String {
        switch self {
        case .invalidSize(let n, let l):
            return "calibration needs at least one window of at least 2 tokens (got \(n) windows of \(l))"
        case .textTooShort(let n, let l):
            return "the calibration text has \(n) tokens, fewer than one window of \(l)"
        case .notEnoughOffsets(let r, let a):
            return "\(r) distinct windows requested but the text offers only \(a) offsets; lower the count or the length"
        case .mismatchedOffsets(let w, let o):
            return "\(w) windows but \(o) offsets"
        case .emptyCalibration:
            return "no calibration windows"
        }
    }
}

/// Calibration input: N windows of token ids and where each starts in the source text.
public struct Calibration: Sendable {
    public var windows: [[Int32]]
    public var offsets: [Int]
    /// Seed the offsets were drawn with (nil when given by hand).
    public var seed: UInt64?
    /// Human-readable origin (e.g. "wikitext-2 wiki.valid.raw"), recorded with the factors.
    public var source: String
    /// Windows the curvature never sees, for the held-out loss after each shot, and where they start.
    public var heldOut: [[Int32]] = []
    public var heldOutOffsets: [Int] = []

    public init(windows: [[Int32]], offsets: [Int], seed: UInt64? = nil, source: String = "") throws {
        guard !windows.isEmpty else { throw CalibrationError.emptyCalibration }
        guard windows.count == offsets.count else {
            throw CalibrationError.mismatchedOffsets(windows: windows.count, offsets: offsets.count)
        }
        self.windows = windows
        self.offsets = offsets
        self.seed = seed
        self.source = source
    }

    /// Total number of tokens over all windows (N·L for equal windows).
    public var tokenCount: Int { windows.reduce(0) { $0 + $1.count } }

    /// The windows curvature estimate `k` (0, 1, …) reads when each reads `count` of the N windows:
    /// windows k·count … k·count + count − 1, modulo N (consecutive estimates take consecutive
    /// blocks, so every window is read equally often). All N windows when `count` ≥ N.
    public func rotation(_ k: Int, count: Int) throws -> Calibration {
        let n = windows.count
        guard count < n else { return self }
        let picks = (0..<max(1, count)).map { ((k % n) * count + $0) % n }
        var out = try Calibration(windows: picks.map { windows[$0] }, offsets: picks.map { offsets[$0] }, seed: seed, source: source)
        out.heldOut = heldOut
        out.heldOutOffsets = heldOutOffsets
        return out
    }
}

public enum CalibrationWindows {
    /// N windows of L tokens at N distinct offsets drawn uniformly from 0...tokens.count−L with a
    /// seeded generator (Floyd's algorithm: reproducible, in draw order).
    public static func sample(tokens: [Int32], count: Int, length: Int, seed: UInt64, source: String = "") throws -> Calibration {
        guard count > 0, length >= 2 else { throw CalibrationError.invalidSize(count: count, length: length) }
        guard tokens.count >= length else { throw CalibrationError.textTooShort(tokens: tokens.count, length: length) }
        let available = tokens.count - length + 1
        guard count <= available else { throw CalibrationError.notEnoughOffsets(requested: count, available: available) }
        var rng = SeededRandom(seed: seed)
        var chosen = Set<Int>()
        var offsets: [Int] = []
        offsets.reserveCapacity(count)
        for j in (available - count)..<available {
            let t = uniformInt(upTo: j, &rng)
            let pick = chosen.contains(t) ? j : t
            chosen.insert(pick)
            offsets.append(pick)
        }
        let windows = offsets.map { Array(tokens[$0..<($0 + length)]) }
        return try Calibration(windows: windows, offsets: offsets, seed: seed, source: source)
    }

    /// Uniform integer in 0...n by rejection (no modulo bias; independent of the standard library's algorithm).
    static func uniformInt(upTo n: Int, _ rng: inout SeededRandom) -> Int {
        let bound = UInt64(n) + 1
        let threshold = (0 &- bound) % bound
        while true {
            let r = rng.next()
            if r >= threshold { return Int(r % bound) }
        }
    }
}

extension CalibrationWindows {
    /// Sets `count` held-out windows of `length` tokens aside: drawn uniformly with their own
    /// generator (from `seed`), none overlapping a calibration window or another held-out one, so the
    /// held-out loss measures text the curvature never saw. Reproducible from the seed.
    public static func holdOut(_ calibration: Calibration, tokens: [Int32], count: Int, length: Int, seed: UInt64) throws -> Calibration {
        var c = calibration
        guard count > 0 else { return c }
        guard tokens.count >= length, length >= 2 else { throw CalibrationError.textTooShort(tokens: tokens.count, length: length) }
        let available = tokens.count - length + 1
        var taken = calibration.offsets.map { ($0, $0 + (calibration.windows.first?.count ?? length)) }
        var rng = SeededRandom(seed: seed ^ 0x48E1_D0C7_A5F3_9B21)
        var offsets: [Int] = []
        var tries = 0
        while offsets.count < count {
            tries += 1
            guard tries <= 1000 * count else {
                throw CalibrationError.notEnoughOffsets(requested: calibration.windows.count + count, available: offsets.count + calibration.windows.count)
            }
            let o = uniformInt(upTo: available - 1, &rng)
            if taken.contains(where: { o < $0.1 && $0.0 < o + length }) { continue }
            taken.append((o, o + length))
            offsets.append(o)
        }
        c.heldOut = offsets.map { Array(tokens[$0..<($0 + length)]) }
        c.heldOutOffsets = offsets
        return c
    }

    /// Sets the last `count` windows aside as held-out (windows given by hand, e.g. an ids file);
    /// at least one window must stay for the curvature.
    public static func holdOutLast(_ calibration: Calibration, count: Int) throws -> Calibration {
        guard count > 0 else { return calibration }
        let n = calibration.windows.count
        guard n > count else { throw CalibrationError.notEnoughOffsets(requested: count + 1, available: n) }
        var c = try Calibration(windows: Array(calibration.windows.prefix(n - count)), offsets: Array(calibration.offsets.prefix(n - count)),
                                seed: calibration.seed, source: calibration.source)
        c.heldOut = Array(calibration.windows.suffix(count))
        c.heldOutOffsets = Array(calibration.offsets.suffix(count))
        return c
    }
}
