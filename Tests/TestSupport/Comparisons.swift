/// Comparisons for tests that a NaN or ∞ cannot slip through (Swift's max() skips a NaN that
/// comes after a number, so a plain `zip(a, b).map { abs($0 - $1) }.max()` may report 0).

/// Largest |a[i] − b[i]|; +∞ when a NaN or ∞ appears on either side.
public func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var m: Float = 0
    for i in 0..<a.count {
        let d = abs(a[i] - b[i])
        if !d.isFinite { return .infinity }
        m = max(m, d)
    }
    return m
}

/// Largest |a[i] − b[i]|; +∞ when a NaN or ∞ appears on either side.
public func maxAbsDiff(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var m = 0.0
    for i in 0..<a.count {
        let d = abs(a[i] - b[i])
        if !d.isFinite { return .infinity }
        m = max(m, d)
    }
    return m
}

/// Largest |a − b| relative to the largest |b|; +∞ when a NaN or ∞ appears in a.
public func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    maxAbsDiff(a, b) / max(b.map { abs($0) }.max() ?? 0, 1e-30)
}

/// ‖a − b‖_F / ‖b‖_F, in float64; NaN when a NaN or ∞ appears (every comparison with it fails).
public func relativeFrobenius(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        let d = Double(a[i]) - Double(b[i])
        num += d * d
        den += Double(b[i]) * Double(b[i])
    }
    return (num / max(den, 1e-300)).squareRoot()
}
