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
}
