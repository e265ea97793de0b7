import CBLAS

/// Kernel plumbing shared by the weight storages: the SIMD level of the C GEMV kernels, strided
/// dense products, and the prefill path of sparse storages (decompress a tile of rows, sgemm it).
public enum SparseKernels {
    /// What this CPU supports: 0 portable, 1 AVX2, 2 AVX-512 (see sparse_kernels.h).
    public static let detectedLevel: Int32 = surgeon_simd_level()
    /// Level the GEMV kernels use (tests lower it to exercise every version; never above detected).
    /// nonisolated(unsafe): only tests write it, between kernel calls, on the test's own thread.
    nonisolated(unsafe) public static var level: Int32 = detectedLevel

    /// Below this many tokens the sparse storages run their GEMV once per token; from it on they
    /// decompress tiles of rows and call sgemm (prefill is then as fast as dense).
    public static let gemmMinTokens = 4
    /// Floats of one decompressed tile per thread (1 MB: a hundred rows or more, enough for sgemm,
    /// and little resident memory beside a 16-bit model's weights).
    public static let tileFloats = 1 << 18
}

/// y[t, i] = Σ_k x[t, k] · w[i, k] (+ y if accumulate) for n rows of w and K inputs.
/// x: [T, K] (stride ldx); w: [n, K] (stride ldw); y: [T, n] (stride ldy)
@inline(__always)
public func matmulWTStrided(_ x: UnsafePointer<Float>, ldx: Int, _ w: UnsafePointer<Float>, ldw: Int,
                            _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int, K: Int, n: Int, accumulate: Bool) {
    if n == 0 || T == 0 { return }
    let beta: Float = accumulate ? 1 : 0
    if K == 0 {
        if !accumulate { for t in 0..<T { (y + t * ldy).update(repeating: 0, count: n) } }
        return
    }
    sgemm(transA: false, transB: true, M: T, N: n, K: K, x, lda: ldx, w, ldb: ldw, beta: beta, y, ldc: ldy)   // T = 1: sgemv
}

/// Prefill for storages without a dense copy: rows are decompressed tile by tile into this
/// thread's scratch and multiplied with sgemm.  x: [T, C] (stride ldx); y: [T, R] (stride ldy)
/// `decompress(rows, tile)` writes the dense rows `rows` as [rows.count, C] into `tile`.
@inline(__always)
func tiledGEMM(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int, C: Int,
               rows: Range<Int>, accumulate: Bool, decompress: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
    if rows.isEmpty || T == 0 { return }
    let per = max(16, SparseKernels.tileFloats / max(C, 1) / 16 * 16)
    let tile = ThreadScratch.floats(min(per, rows.count) * C, slot: 2)
    var r = rows.lowerBound
    while r < rows.upperBound {
        let hi = min(rows.upperBound, r + per)
        decompress(r..<hi, tile)
        matmulWTStrided(x, ldx: ldx, tile, ldw: C, y + r, ldy: ldy, T: T, K: C, n: hi - r, accumulate: accumulate)
        r = hi
    }
}
