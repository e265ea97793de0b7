import Runtime
import Surgery

/// Explicit (dense, small) reference computations for the element tests: the full Kronecker
/// Fisher and OBS on arbitrary sets of weights.
public enum ExplicitOBS {
    public static func randomSPD(_ n: Int, _ rng: inout SeededRandom) -> [Double] {
        let m = (0..<(n * n)).map { _ in rng.normal() }
        var s = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { s[i * n + j] += m[i * n + k] * m[j * n + k] } } }
        for i in 0..<n { s[i * n + i] += 0.1 }
        return s
    }

    public static func layer(rows: Int, cols: Int, bias: Bool = false, _ rng: inout SeededRandom) -> PrunableLayer {
        let w = Tensor(shape: [rows, cols], data: (0..<(rows * cols)).map { _ in Float(rng.normal()) })
        let b = bias ? Tensor(shape: [rows], data: (0..<rows).map { _ in Float(rng.normal()) }) : nil
        return PrunableLayer(name: "test", linear: Linear(dense: w, bias: b))
    }

    /// (Gd ⊗ Ad)⁻¹ on θ = vec(W) row-major, with relative damping.  g: [R, R]; a: [C, C]
    public static func inverseFisher(g: [Double], a: [Double], R: Int, C: Int, dG: Double, dA: Double) throws -> [Double] {
        let gd = damped(g, n: R, dG), ad = damped(a, n: C, dA)
        let n = R * C
        var f = [Double](repeating: 0, count: n * n)
        for r in 0..<R { for c in 0..<C { for r2 in 0..<R { for c2 in 0..<C {
            f[(r * C + c) * n + r2 * C + c2] = gd[r * R + r2] * ad[c * C + c2]
        } } } }
        return try spdInverse(f, n: n, what: "F")
    }

    /// ½ θ_Sᵀ([F⁻¹]_SS)⁻¹θ_S and the OBS update −F⁻¹E_S([F⁻¹]_SS)⁻¹θ_S.
    public static func obs(_ finv: [Double], theta: [Double], set S: [Int]) throws -> (cost: Double, delta: [Double]) {
        let n = theta.count
        let ts = S.map { theta[$0] }
        let x = try spdSolve(submatrix(finv, cols: n, rows: S, cols: S), n: S.count, ts, k: 1, what: "F_SS")
        let cost = 0.5 * zip(ts, x).map(*).reduce(0, +)
        var delta = [Double](repeating: 0, count: n)
        for i in 0..<n { for (j, s) in S.enumerated() { delta[i] -= finv[i * n + s] * x[j] } }
        return (cost, delta)
    }

    /// Largest |a[i] − b[i]|; +∞ when a NaN or ∞ appears (see Comparisons.swift).
    public static func maxAbsDiff(_ a: [Double], _ b: [Double]) -> Double {
        TestSupport.maxAbsDiff(a, b)
    }
}
