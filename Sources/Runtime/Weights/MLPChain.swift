/// An MLP whose intermediate dimension is shrunk consistently (surgeon.md §8): the first layers
/// (Llama gate and up, OPT fc1) are compacted with kept rows starting with K, and the last layer
/// (down, fc2) is compacted with kept columns starting with the same K in the same order. The
/// forward then runs at width n = |K|: no scatter of the intermediate activations, no gather.
///
/// Exactness: an intermediate unit j outside K is skipped. That is exact when down never reads it
/// (j not among down's kept columns) or when its activation is provably 0: act(0) = 0 for ReLU,
/// GELU and SiLU·up, and the pre-activation is exactly 0 when the first layer does not keep row j
/// and has no bias there (for gate·up, either factor being 0 suffices).
public struct MLPChain: Sendable {
    public let width: Int
    let first: any RowColumnCompacted
    let second: (any RowColumnCompacted)?
    let last: any RowColumnCompacted

    /// True while the layers still hold the storages the chain was detected on.
    @inline(__always)
    public func matches(_ a: Linear, _ b: Linear?, _ d: Linear) -> Bool {
        guard let sa = a.compact, sa === first, let sd = d.compact, sd === last else { return false }
        if let second {
            guard let sb = b?.compact, sb === second else { return false }
        }
        return true
    }

    /// The chain these layers form, or nil (they then run as separate layers, still exactly).
    /// first: [F, C] (gate or fc1); second: [F, C] (up, nil for OPT); last: [C', F] (down or fc2)
    public static func detect(first a: Linear, second b: Linear?, last d: Linear) -> MLPChain? {
        guard let sa = a.compact, let sd = d.compact else { return nil }
        var sb: (any RowColumnCompacted)?
        if let b {
            guard let s = b.compact else { return nil }
            sb = s
        }
        let F = a.outFeatures
        guard d.inFeatures == F, b.map({ $0.outFeatures == F }) ?? true else { return nil }
        var n = 0
        let limit = min(sa.keptRows.count, sd.keptCols.count, sb?.keptRows.count ?? Int.max)
        while n < limit && sa.keptRows[n] == sd.keptCols[n] && (sb.map { $0.keptRows[n] == sa.keptRows[n] } ?? true) { n += 1 }
        // Which intermediate units are exactly zero before the activation.
        func zeroUnits(_ s: any RowColumnCompacted, _ bias: [Float]?) -> [Bool] {
            var z = [Bool](repeating: true, count: F)
            for r in s.keptRows { z[Int(r)] = false }
            if let bias { for j in 0..<F where bias[j] != 0 { z[j] = false } }
            return z
        }
        let za = zeroUnits(sa, a.bias)
        let zb = sb.map { zeroUnits($0, b?.bias) }
        for j in sd.keptCols.dropFirst(n) {
            let idx = Int(j)
            guard za[idx] || (zb?[idx] ?? false) else { return nil }
        }
        return MLPChain(width: n, first: sa, second: sb, last: sd)
    }
}
