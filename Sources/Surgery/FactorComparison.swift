import Runtime

/// How far one set of K-FAC factors is from another, factor by factor: ‖X − Y‖_F / ‖Y‖_F with Y the
/// reference (e.g. a distributed calibration against a one-process one). Sums in double precision.
public struct FactorComparison: Sendable, Equatable {
    /// "A.<layer>" / "G.<layer>" → relative Frobenius difference.
    public let relative: [String: Double]

    /// The largest difference and its factor (nil when nothing was compared).
    public var worst: (name: String, value: Double)? {
        relative.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }.map { ($0.key, $0.value) }
    }

    /// Compares every factor of `reference` with the same-named one of `factors`; a factor missing
    /// from either side or of another shape throws.
    public init(_ factors: KFACFactors, reference: KFACFactors) throws {
        var rel: [String: Double] = [:]
        for (kind, mine, ref) in [("A", factors.A, reference.A), ("G", factors.G, reference.G)] {
            guard Set(mine.keys) == Set(ref.keys) else {
                let missing = Set(mine.keys).symmetricDifference(Set(ref.keys)).sorted().first ?? ""
                throw CurvatureError.missingFactor(file: "the compared factors", tensor: "\(kind).\(missing)")
            }
            for (name, y) in ref {
                guard let x = mine[name], x.shape == y.shape else {
                    throw CurvatureError.missingFactor(file: "the compared factors", tensor: "\(kind).\(name) of shape \(y.shape)")
                }
                var diff = 0.0, norm = 0.0
                for i in 0..<y.data.count {
                    let d = Double(x.data[i]) - Double(y.data[i])
                    diff += d * d
                    norm += Double(y.data[i]) * Double(y.data[i])
                }
                rel["\(kind).\(name)"] = norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
            }
        }
        relative = rel
    }
}
