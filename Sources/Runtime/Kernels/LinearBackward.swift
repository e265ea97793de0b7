/// Backward of the linear layer y = x Wᵀ + b (its forward is `Linear.forward` in Weights/Linear.swift),
/// and a parallel sgemm the backward passes split over the workers.

/// c[M, N] = alpha · op(a) · op(b) + beta · c, split over the worker threads along the larger of
/// M and N (each worker runs a one-thread sgemm on its block of c).
/// a: [M, K] (or [K, M] when transA), b: [K, N] (or [N, K] when transB), c: [M, N] (row strides lda, ldb, ldc)
public func sgemmParallel(transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: Float = 1,
                          _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                          beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    if M == 0 || N == 0 { return }
    // at least ~1M multiply-adds per worker, or not worth waking one
    let minWork = 1 << 20
    if M >= N {
        Parallel.chunks(M, align: 16, minChunk: max(32, minWork / max(N * K, 1))) { r in
            let aBlock = transA ? a + r.lowerBound : a + r.lowerBound * lda
            sgemm(transA: transA, transB: transB, M: r.count, N: N, K: K, alpha: alpha, aBlock, lda: lda,
                  b, ldb: ldb, beta: beta, c + r.lowerBound * ldc, ldc: ldc)
        }
    } else {
        Parallel.chunks(N, align: 16, minChunk: max(32, minWork / max(M * K, 1))) { r in
            let bBlock = transB ? b + r.lowerBound * ldb : b + r.lowerBound
            sgemm(transA: transA, transB: transB, M: M, N: r.count, K: K, alpha: alpha, a, lda: lda,
                  bBlock, ldb: ldb, beta: beta, c + r.lowerBound, ldc: ldc)
        }
    }
}

/// One linear layer's part in a backward pass: its output gradient and where its parameter
/// gradients go (nil: not wanted).  dy: [T, R]; dW: [R, C]; db: [R]
public struct LinearGradient {
    public let linear: Linear
    public let dy: UnsafePointer<Float>
    public let dW: UnsafeMutablePointer<Float>?
    public let db: UnsafeMutablePointer<Float>?

    public init(_ linear: Linear, dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?) {
        self.linear = linear
        self.dy = dy
        self.dW = dW
        self.db = db
    }
}

extension Linear {
    /// Backward of y = x Wᵀ + b: dx = dy · W (added to dx when `accumulate`), dW += dyᵀ · x,
    /// db += Σ_t dy[t].  x: [T, C]; dy: [T, R]; dx: [T, C]; dW: [R, C]; db: [R]
    public func backward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, T: Int, dx: UnsafeMutablePointer<Float>?,
                         accumulate: Bool, dW: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?) {
        Linear.backwardMany(x: x, T: T, [LinearGradient(self, dy: dy, dW: dW, db: db)], dx: dx, accumulate: accumulate)
    }

    /// Backward of several linears reading the same input (q/k/v, gate/up):
    /// dx = Σ_i dy_i · W_i (added to dx when `accumulate`), and each part's dW_i, db_i.
    /// x: [T, C]; dx: [T, C]; part i: dy_i [T, R_i], dW_i [R_i, C], db_i [R_i]
    public static func backwardMany(x: UnsafePointer<Float>, T: Int, _ parts: [LinearGradient],
                                    dx: UnsafeMutablePointer<Float>?, accumulate: Bool) {
        guard let first = parts.first, T > 0 else { return }
        let C = first.linear.inFeatures
        let weights = parts.map { $0.linear.denseWeight.data }
        let totalRows = parts.reduce(0) { $0 + $1.linear.outFeatures }
        let minWork = 1 << 20   // multiply-adds per worker below which one thread does it all
        // dx: rows of T split over the workers; every part accumulates into the same block.
        if let dx {
            Parallel.chunks(T, align: 8, minChunk: max(16, minWork / max(C * totalRows, 1))) { r in
                for (i, p) in parts.enumerated() {
                    let R = p.linear.outFeatures
                    weights[i].withUnsafeBufferPointer { wp in
                        sgemm(transA: false, transB: false, M: r.count, N: C, K: R, p.dy + r.lowerBound * R, lda: R,
                              wp.baseAddress!, ldb: C, beta: (i == 0 && !accumulate) ? 0 : 1,
                              dx + r.lowerBound * C, ldc: C)
                    }
                }
            }
        }
        // dW, db: the output rows of all parts, concatenated, split over the workers.
        let wanted = parts.filter { $0.dW != nil || $0.db != nil }
        if wanted.isEmpty { return }
        let total = wanted.reduce(0) { $0 + $1.linear.outFeatures }
        Parallel.chunks(total, align: 16, minChunk: max(16, minWork / max(C * T, 1))) { range in
            var base = 0
            for p in wanted {
                let R = p.linear.outFeatures
                let lo = max(range.lowerBound, base) - base, hi = min(range.upperBound, base + R) - base
                base += R
                if lo >= hi { continue }
                if let dW = p.dW {
                    // dW[lo..<hi, :] += dy[:, lo..<hi]ᵀ · x
                    sgemm(transA: true, transB: false, M: hi - lo, N: C, K: T, p.dy + lo, lda: R, x, ldb: C,
                          beta: 1, dW + lo * C, ldc: C)
                }
                if let db = p.db {
                    for t in 0..<T {
                        let dyt = p.dy + t * R
                        for r in lo..<hi { db[r] += dyt[r] }
                    }
                }
            }
        }
    }
}
