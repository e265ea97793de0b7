import CBLAS

/// The C kernels of 16-bit weights (half_kernels.h) at the SIMD level this CPU supports (the
/// sparse kernels' level, `SparseKernels.level`, which tests lower; f16 drops to the portable path
/// on a CPU without F16C).
public enum HalfKernels {
    /// F16C present (checked once: cpuid is slow under virtualisation).
    public static let hasF16C = surgeon_has_f16c() != 0

    @inline(__always)
    static func level(bf16: Bool) -> Int32 {
        let l = SparseKernels.level
        return (bf16 || hasF16C || l >= 2) ? l : 0
    }

    /// y[r] = Σ_c w[r, c]·x[c] (y[r] += when accumulate) for r in `rows`.
    /// x: [C]; w: [R, C] 16-bit; y: [R]
    @inline(__always)
    public static func gemv(_ x: UnsafePointer<Float>, C: Int, _ w: UnsafePointer<UInt16>, rows: Range<Int>,
                            _ y: UnsafeMutablePointer<Float>, accumulate: Bool, bf16: Bool) {
        surgeon_gemv16(level(bf16: bf16), x, C, w, rows.lowerBound, rows.upperBound, y, accumulate ? 1 : 0, bf16 ? 1 : 0)
    }

    /// dst[i] = src[i] widened to float32.  src: [n] 16-bit; dst: [n]
    @inline(__always)
    public static func convert(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, bf16: Bool) {
        surgeon_cvt16(level(bf16: bf16), src, dst, n, bf16 ? 1 : 0)
    }

    /// The same over rows of stride ldw ≥ C (their first C values).  x: [C]; w: [R, ldw] 16-bit; y: [R]
    @inline(__always)
    public static func gemv(_ x: UnsafePointer<Float>, C: Int, _ w: UnsafePointer<UInt16>, ldw: Int, rows: Range<Int>,
                            _ y: UnsafeMutablePointer<Float>, accumulate: Bool, bf16: Bool) {
        surgeon_gemv16_strided(level(bf16: bf16), x, C, w, ldw, rows.lowerBound, rows.upperBound, y, accumulate ? 1 : 0, bf16 ? 1 : 0)
    }

    /// 2:4 GEMV with 16-bit values (sparse16_kernels.h).  x: [C]; vals: [R, nv]; pos: [R, nw]; y: [R]
    @inline(__always)
    static func gemv24(_ x: UnsafePointer<Float>, C: Int, _ vals: UnsafePointer<UInt16>?, _ pos: UnsafePointer<UInt32>?,
                       rows: Range<Int>, _ y: UnsafeMutablePointer<Float>, accumulate: Bool, bf16: Bool) {
        surgeon_gemv24_16(level(bf16: bf16), x, C, vals, pos, rows.lowerBound, rows.upperBound, y, accumulate ? 1 : 0, bf16 ? 1 : 0)
    }

    /// Bitmask GEMV with 16-bit values.  x: [C]; vals: [nnz + 16]; start: [R + 1]; mask: [R, nm]; y: [R]
    @inline(__always)
    static func gemvBitmask(_ x: UnsafePointer<Float>, C: Int, _ vals: UnsafePointer<UInt16>?, _ start: UnsafePointer<Int64>?,
                            _ mask: UnsafePointer<UInt16>?, rows: Range<Int>, _ y: UnsafeMutablePointer<Float>,
                            accumulate: Bool, bf16: Bool) {
        surgeon_gemv_bitmask16(level(bf16: bf16), x, C, vals, start, mask, rows.lowerBound, rows.upperBound, y,
                               accumulate ? 1 : 0, bf16 ? 1 : 0)
    }

    /// y[t, i] = Σ_k x[t, k]·w[i, k] (+ y if accumulate) for n rows of a 16-bit w and K inputs: one
    /// GEMV per token below `SparseKernels.gemmMinTokens`, else tiles of rows widened into this
    /// thread's scratch (slot 2) and multiplied with sgemm (the 16-bit `matmulWTStrided`).
    /// x: [T, K] (stride ldx); w: [n, K] 16-bit (stride ldw); y: [T, n] (stride ldy)
    @inline(__always)
    public static func matmulWT(_ x: UnsafePointer<Float>, ldx: Int, _ w: UnsafePointer<UInt16>, ldw: Int,
                                _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int, K: Int, n: Int, accumulate: Bool, bf16: Bool) {
        if n == 0 || T == 0 { return }
        if K == 0 {
            if !accumulate { for t in 0..<T { (y + t * ldy).update(repeating: 0, count: n) } }
            return
        }
        if T < SparseKernels.gemmMinTokens {
            for t in 0..<T { gemv(x + t * ldx, C: K, w, ldw: ldw, rows: 0..<n, y + t * ldy, accumulate: accumulate, bf16: bf16) }
            return
        }
        let per = max(16, SparseKernels.tileFloats / K / 16 * 16)
        let tile = ThreadScratch.floats(min(per, n) * K, slot: 2)
        var r = 0
        while r < n {
            let hi = min(n, r + per)
            for i in r..<hi { convert(w + i * ldw, tile + (i - r) * K, K, bf16: bf16) }
            matmulWTStrided(x, ldx: ldx, tile, ldw: K, y + r, ldy: ldy, T: T, K: K, n: hi - r, accumulate: accumulate)
            r = hi
        }
    }
}
