import CBLAS

/// Dense matrix products on row-major float32 buffers (OpenBLAS, one thread per call).

/// y[t, r] = Σ_c x[t, c] · w[r, c] (+ y if accumulate), for output rows r in `rows`.
/// x: [T, C] (row stride ldx), w: [R, C], y: [T, R] (row stride ldy)
@inline(__always)
public func matmulWT(_ x: UnsafePointer<Float>, ldx: Int, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, ldy: Int,
                     T: Int, C: Int, rows: Range<Int>, accumulate: Bool = false) {
    let n = rows.count
    if n == 0 || T == 0 { return }
    // one token (T = 1) is a GEMV: the wrapper below sends it to sgemv
    sgemm(transA: false, transB: true, M: T, N: n, K: C, x, lda: ldx, w + rows.lowerBound * C, ldb: C,
          beta: accumulate ? 1 : 0, y + rows.lowerBound, ldc: ldy)
}

/// c[M, N] = alpha · op(a) · op(b) + beta · c — a thin, named wrapper over sgemm (row-major).
/// One row (M = 1: decode's attention scores and values, per head and token) goes to sgemv, which
/// does not pack its operands: sgemm's packing was ~10% of a one-thread decode.
@inline(__always)
public func sgemm(transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: Float = 1,
                  _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    if M == 0 || N == 0 { return }
    if M == 1 && K > 0 {
        // c[0, :] = alpha · op(b)ᵀ-times-a: op(b) is [K, N]; a's K entries are a row (or, transposed, a column of stride lda)
        let incA = Int32(transA ? lda : 1)
        if transB {   // b: [N, K]
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(N), Int32(K), alpha, b, Int32(ldb), a, incA, beta, c, 1)
        } else {      // b: [K, N]
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(K), Int32(N), alpha, b, Int32(ldb), a, incA, beta, c, 1)
        }
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(M), Int32(N), Int32(K), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// y[t, r] += b[r] for r in `rows`.  y: [T, R] (stride ldy), b: [R]
@inline(__always)
public func addBias(_ y: UnsafeMutablePointer<Float>, ldy: Int, _ b: UnsafePointer<Float>, T: Int, rows: Range<Int>) {
    for t in 0..<T {
        let yt = y + t * ldy
        for r in rows { yt[r] += b[r] }
    }
}

/// y += x, elementwise over n values (residual connections).
@inline(__always)
public func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] += x[i] }
}
