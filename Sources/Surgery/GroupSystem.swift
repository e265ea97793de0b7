import CBLAS

/// One group's OBS system K_P = S (Gp ⊗ Ai) Sᵀ of the grouped correlated update (surgeon.md §5):
/// n masked entries on p rows of the live weights; entry x sits at row slot ps[x] and live column
/// pc[x], row slot s holding entries off[s]..<off[s+1]. gp: Gi[rows, rows]: [p, p]; ai: [nC, nC].
///
/// The Kronecker structure makes K_P·x cheap without K_P: Y = M·Ai (M: [p, nC] holding x at the
/// entries, n axpys of Ai's rows) and (K_P·x)[x] = Σ_s Gp[ps[x], s]·Y[s, pc[x]], n·(nC + p) flops
/// against n² for a dense product. `solve` first runs conjugate gradients preconditioned by the rows'
/// blocks (`conjugateGradient`, GroupSystemCG.swift), which never builds K_P; if they do not converge
/// within their budget it factors K_P once in float32 (spotrf, half the time and memory of float64)
/// and refines in float64 with these exact products. Both stop when the residual meets float64
/// backward accuracy, LAPACK's dsposv criterion ‖t − K·x‖∞ ≤ ‖x‖∞·‖K‖∞·ε₆₄·√n; when float32
/// cannot factor K_P or refinement stalls (K_P too ill-conditioned for float32), it solves with a
/// float64 Cholesky instead.
struct GroupSystem {
    let n: Int, p: Int, nC: Int
    let pc: [Int], ps: [Int], off: [Int]
    let gp: [Double]      // [p, p]

    /// Y = M·Ai: [p, nC] with M holding x at the entries.  x: [n]; ai: [nC, nC]
    func spread(_ x: [Double], ai: UnsafePointer<Double>) -> [Double] {
        var y = [Double](repeating: 0, count: p * nC)
        spread(x, ai: ai, into: &y)
        return y
    }

    /// Y = M·Ai into y ([p, nC], overwritten).  x: [n]; ai: [nC, nC]
    func spread(_ x: [Double], ai: UnsafePointer<Double>, into y: inout [Double]) {
        let n = self.n, nC = self.nC
        y.withUnsafeMutableBufferPointer { yp in
            guard let yb = yp.baseAddress else { return }
            yb.update(repeating: 0, count: yp.count)
            for e in 0..<n where x[e] != 0 { cblas_daxpy(Int32(nC), x[e], ai + pc[e] * nC, 1, yb + ps[e] * nC, 1) }
        }
    }

    /// K_P·x.  x: [n]; ai: [nC, nC]
    func multiply(_ x: [Double], ai: UnsafePointer<Double>) -> [Double] {
        var y = [Double](repeating: 0, count: p * nC), out = [Double](repeating: 0, count: n)
        multiply(x, ai: ai, scratch: &y, into: &out)
        return out
    }

    /// K_P·x into `out`, with `scratch` ([p, nC]) for Y = M·Ai.  x, out: [n]
    func multiply(_ x: [Double], ai: UnsafePointer<Double>, scratch y: inout [Double], into out: inout [Double]) {
        spread(x, ai: ai, into: &y)
        let n = self.n, p = self.p, nC = self.nC
        y.withUnsafeBufferPointer { yb in
            gp.withUnsafeBufferPointer { g in
                for e in 0..<n {
                    let gRow = ps[e] * p, c = pc[e]
                    var s = 0.0
                    for u in 0..<p { s += g[gRow + u] * yb[u * nC + c] }
                    out[e] = s
                }
            }
        }
    }

    /// LAPACK dsposv's stopping rule, shared by refinement and conjugate gradients: r ← t − K·x from
    /// kx = K·x, then whether ‖r‖∞ ≤ ‖x‖∞·‖K‖∞·ε₆₄·√n (`norm` = ‖K‖∞; LAPACK dlamch("E") = 2⁻⁵³);
    /// nil when r is not finite.  t, kx, x, r: [n]
    func residual(_ t: [Double], kx: [Double], x: [Double], norm: Double, into r: inout [Double]) -> Bool? {
        var rMax = 0.0, xMax = 0.0
        for e in 0..<n {
            r[e] = t[e] - kx[e]
            rMax = max(rMax, abs(r[e]))
            xMax = max(xMax, abs(x[e]))
        }
        guard rMax.isFinite else { return nil }
        return rMax <= xMax * norm * (Double.ulpOfOne / 2) * Double(n).squareRoot()
    }

    /// K_P[x, y] for y ≤ x (row-major lower triangle; the rest stays 0), as T.  ai: [nC, nC]
    private func lowerTriangle<T: BinaryFloatingPoint>(_: T.Type, ai: UnsafePointer<Double>) -> (k: [T], norm: Double) {
        var k = [T](repeating: 0, count: n * n)
        var rowSums = [Double](repeating: 0, count: n)   // Σ_y |K[x, y]| over the whole symmetric row
        k.withUnsafeMutableBufferPointer { kp in
            for sx in 0..<p {
                for x in off[sx]..<off[sx + 1] {
                    let aRow = ai + pc[x] * nC, out = x * n
                    for sy in 0...sx {
                        let gv = gp[sx * p + sy]
                        var y = off[sy]
                        let end = min(off[sy + 1], x + 1)
                        while y < end {
                            let v = gv * aRow[pc[y]]
                            kp[out + y] = T(v)
                            rowSums[x] += abs(v)
                            if y != x { rowSums[y] += abs(v) }
                            y += 1
                        }
                    }
                }
            }
        }
        return (k, rowSums.max() ?? 0)
    }

    /// How a system was solved: conjugate gradients, a float32 factor refined in float64, or a float64 factor.
    enum Route: Equatable { case conjugateGradient, refinedFloat32, float64 }

    /// x with K_P·x = t (see the type's comment), the route that solved it and its iterations
    /// (conjugate gradients or refinement steps); `iterative: false` skips conjugate gradients.
    /// t: [n]; ai: [nC, nC]
    func solve(_ t: [Double], ai: UnsafePointer<Double>, what: String,
               iterative: Bool = true) throws -> (x: [Double], route: Route, iterations: Int) {
        if n == 0 { return ([], .refinedFloat32, 0) }
        if iterative, let cg = conjugateGradient(t, ai: ai) { return (cg.x, .conjugateGradient, cg.iterations) }
        var (k, norm) = lowerTriangle(Float.self, ai: ai)
        // row-major lower triangle = column-major upper triangle
        var uplo = Int8(UInt8(ascii: "U"))
        var nn = Int32(n), one: Int32 = 1, info: Int32 = 0
        spotrf_(&uplo, &nn, &k, &nn, &info)
        if info == 0 {
            var x = [Double](repeating: 0, count: n), r = t
            var y = [Double](repeating: 0, count: p * nC), kx = [Double](repeating: 0, count: n)
            for step in 1...30 {
                var d = r.map { Float($0) }
                spotrs_(&uplo, &nn, &one, k, &nn, &d, &nn, &info)
                guard info == 0 else { break }
                for e in 0..<n { x[e] += Double(d[e]) }
                multiply(x, ai: ai, scratch: &y, into: &kx)
                guard let converged = residual(t, kx: kx, x: x, norm: norm, into: &r) else { break }
                if converged { return (x, .refinedFloat32, step) }
            }
        }
        k = []
        var kd = lowerTriangle(Double.self, ai: ai).k
        return (try spdSolveLower(&kd, n: n, t, what: what), .float64, 1)
    }
}

/// Solves a·x = b by float64 Cholesky for SPD a: [n, n] given by its lower triangle (row-major;
/// the upper part is not read; overwritten) and one right-hand side b: [n].
func spdSolveLower(_ a: inout [Double], n: Int, _ b: [Double], what: String) throws -> [Double] {
    if n == 0 { return [] }
    var uplo = Int8(UInt8(ascii: "U"))   // row-major lower = column-major upper
    var nn = Int32(n), one: Int32 = 1, info: Int32 = 0
    dpotrf_(&uplo, &nn, &a, &nn, &info)
    guard info == 0 else { throw SurgeryError.notPositiveDefinite(what: what) }
    var x = b
    dpotrs_(&uplo, &nn, &one, a, &nn, &x, &nn, &info)
    guard info == 0 else { throw SurgeryError.notPositiveDefinite(what: what) }
    return x
}
