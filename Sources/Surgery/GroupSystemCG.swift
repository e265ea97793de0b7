import CBLAS

/// The grouped OBS system solved by preconditioned conjugate gradients (surgeon.md §5): K_P·x is
/// taken through the Kronecker structure (n·(nC + p) flops, `GroupSystem.multiply`) and never built,
/// and the preconditioner is K_P's exact diagonal blocks, one per row: Gp[s, s]·Ai[P_s, P_s], each
/// factored once (float64 Cholesky). What couples the rows is Gp's off-diagonal, which the iterations
/// resolve; a group of 2,000 entries then costs a few row-block factorizations and tens of cheap
/// products instead of one n³/3 factorization. The iterations stop at the same float64 criterion
/// as the refinement (LAPACK dsposv's ‖t − K·x‖∞ ≤ ‖x‖∞·‖K‖∞·ε₆₄·√n, on the true residual), or give
/// up (nil) once they have cost a fraction of the factorization they replace: the caller then
/// factors K_P.
extension GroupSystem {
    /// Below this many entries a group is factored directly.
    static let minIterativeEntries = 64

    /// x with K_P·x = t and the iterations it took, or nil when the rows' blocks cannot be factored
    /// or the iterations do not meet the criterion within their budget.  t: [n]; ai: [nC, nC]
    func conjugateGradient(_ t: [Double], ai: UnsafePointer<Double>) -> (x: [Double], iterations: Int)? {
        guard n >= Self.minIterativeEntries else { return nil }
        guard let blocks = rowBlocks(ai: ai) else { return nil }
        let norm = infinityNorm(ai: ai)
        let tMax = t.reduce(0.0) { max($0, abs($1)) }
        guard tMax.isFinite else { return nil }
        if tMax == 0 { return ([Double](repeating: 0, count: n), 0) }
        // budget: a sixth of the float32 factorization's n³/3 flops, in iterations of this system's size
        var blockFlops = 0
        for s in 0..<p { blockFlops += (off[s + 1] - off[s]) * (off[s + 1] - off[s]) }
        let iterationFlops = 2 * n * (nC + p) + 4 * blockFlops + 10 * n
        let maxIterations = max(20, n * n * n / 18 / iterationFlops)
        var x = [Double](repeating: 0, count: n), r = t, z = t, q = [Double](repeating: 0, count: n)
        var y = [Double](repeating: 0, count: p * nC)
        blocks.precondition(&z, system: self)
        var d = z
        var rz = dot(r, z)
        for iteration in 1...maxIterations {
            multiply(d, ai: ai, scratch: &y, into: &q)
            let dq = dot(d, q)
            guard dq > 0, dq.isFinite else { return nil }
            let alpha = rz / dq
            for e in 0..<n { x[e] += alpha * d[e]; r[e] -= alpha * q[e] }
            if iteration % 5 == 0 {
                // the true residual replaces the recurrence's (which drifts) and decides convergence
                multiply(x, ai: ai, scratch: &y, into: &q)
                guard let converged = residual(t, kx: q, x: x, norm: norm, into: &r) else { return nil }
                if converged { return (x, iteration) }
            }
            for e in 0..<n { z[e] = r[e] }
            blocks.precondition(&z, system: self)
            let rzNext = dot(r, z)
            guard rzNext.isFinite else { return nil }
            let beta = rzNext / rz
            rz = rzNext
            for e in 0..<n { d[e] = z[e] + beta * d[e] }
        }
        return nil
    }

    /// ‖K_P‖∞ = max_x Σ_y |Gp[s_x, s_y]|·|Ai[c_x, c_y]| (n² flops, nothing stored).  ai: [nC, nC]
    func infinityNorm(ai: UnsafePointer<Double>) -> Double {
        var norm = 0.0
        for x in 0..<n {
            let aRow = ai + pc[x] * nC, gRow = ps[x] * p
            var sum = 0.0
            for u in 0..<p {
                var inRow = 0.0
                for y in off[u]..<off[u + 1] { inRow += abs(aRow[pc[y]]) }
                sum += abs(gp[gRow + u]) * inRow
            }
            norm = max(norm, sum)
        }
        return norm
    }

    /// The rows' diagonal blocks Gp[s, s]·Ai[P_s, P_s], each Cholesky-factored; nil if one is not
    /// positive definite in float64.  ai: [nC, nC]
    func rowBlocks(ai: UnsafePointer<Double>) -> RowBlocks? {
        var start = [0]
        for s in 0..<p { start.append(start[s] + (off[s + 1] - off[s]) * (off[s + 1] - off[s])) }
        var factors = [Double](repeating: 0, count: start[p])
        var ok = true
        factors.withUnsafeMutableBufferPointer { fp in
            guard let fb = fp.baseAddress else { return }
            for s in 0..<p where ok {
                let m = off[s + 1] - off[s], b = fb + start[s], g = gp[s * p + s]
                for i in 0..<m {
                    let aRow = ai + pc[off[s] + i] * nC
                    for j in 0...i { b[i * m + j] = g * aRow[pc[off[s] + j]] }   // lower triangle, row-major
                }
                var uplo = Int8(UInt8(ascii: "U")), mm = Int32(m), info: Int32 = 0   // = column-major upper
                dpotrf_(&uplo, &mm, b, &mm, &info)
                ok = info == 0
            }
        }
        return ok ? RowBlocks(start: start, factors: factors) : nil
    }

    /// Cholesky factors of the rows' diagonal blocks: row slot s at factors[start[s]...], [m_s, m_s].
    struct RowBlocks {
        let start: [Int]
        let factors: [Double]

        /// v ← blockdiag(K_P)⁻¹·v, row by row.  v: [n]
        func precondition(_ v: inout [Double], system: GroupSystem) {
            var uplo = Int8(UInt8(ascii: "U")), one: Int32 = 1, info: Int32 = 0
            v.withUnsafeMutableBufferPointer { vp in
                guard let vb = vp.baseAddress else { return }
                factors.withUnsafeBufferPointer { fp in
                    guard let fb = fp.baseAddress else { return }
                    for s in 0..<system.p {
                        var m = Int32(system.off[s + 1] - system.off[s])
                        if m == 0 { continue }
                        dpotrs_(&uplo, &m, &one, fb + start[s], &m, vb + system.off[s], &m, &info)
                    }
                }
            }
        }
    }
}

/// xᵀy.  x, y: [n]
@inline(__always)
private func dot(_ x: [Double], _ y: [Double]) -> Double {
    cblas_ddot(Int32(x.count), x, 1, y, 1)
}
