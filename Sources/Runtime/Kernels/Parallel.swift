import CBLAS
import Dispatch
import Foundation

/// The one threading layer of the engine: our own parallel-for, with OpenBLAS pinned to one
/// thread inside it (mixing both would oversubscribe the cores).
public enum Parallel {
    // nonisolated(unsafe): written only by setThreads, which callers run once per command before
    // any parallel region (never from inside one); kernels only read them.
    nonisolated(unsafe) private static var _threads = 1
    nonisolated(unsafe) private static var pools: [Int: ThreadPool] = [:]
    nonisolated(unsafe) private static var pool: ThreadPool?

    /// Number of worker threads used by every kernel (`-t/--threads`).
    public static var threads: Int { _threads }

    /// Sets the worker count and keeps OpenBLAS single-threaded.
    public static func setThreads(_ n: Int) {
        selectBLASKernels()
        _threads = max(1, n)
        openblas_set_num_threads(1)
        if _threads > 1 {
            if pools[_threads] == nil { pools[_threads] = ThreadPool(size: _threads) }
            pool = pools[_threads]
        } else {
            pool = nil
        }
    }

    nonisolated(unsafe) private static var kernelsSelected = false   // see _threads: set under setThreads only

    /// The OpenBLAS kernel set in use (e.g. "SkylakeX").
    public static var blasCore: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS 0.3.21 takes AMD Zen 4/5 for Haswell (AVX2), does not know newer Intel Xeons
    /// (Sapphire Rapids falls back to its SSE3 "Prescott" kernels: 3x slower prefill, 2x slower
    /// f32 decode), and some environments pin OPENBLAS_CORETYPE=Haswell. Switch to the best kernel
    /// set the CPU runs (`betterBLASCore`). SURGEON_KEEP_BLAS_CORE=1 keeps OpenBLAS's own choice.
    static func selectBLASKernels() {
        guard !kernelsSelected else { return }
        kernelsSelected = true
        guard getenv("SURGEON_KEEP_BLAS_CORE") == nil,
              let core = betterBLASCore(current: blasCore, avx512: surgeon_cpu_has_avx512() != 0,
                                        avx2: SparseKernels.detectedLevel >= 1) else { return }
        gotoblas_dynamic_quit()
        setenv("OPENBLAS_CORETYPE", core, 1)
        gotoblas_dynamic_init()
    }

    /// OpenBLAS's x86 kernel sets without AVX2 (its fallbacks for CPUs it does not know).
    static let blasCoresBelowAVX2: Set<String> = [
        "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
        "dunnington", "nehalem", "opteron", "opteron_sse3", "barcelona", "bobcat", "sandybridge",
        "bulldozer", "piledriver", "nano", "generic",
    ]

    /// The kernel set to switch to when OpenBLAS chose one below what the CPU runs, else nil:
    /// with AVX-512 (F/BW/VL/DQ) anything but SkylakeX, Cooperlake or SapphireRapids goes to
    /// SkylakeX; with AVX2 + FMA only, a set without AVX2 goes to Haswell.
    static func betterBLASCore(current: String, avx512: Bool, avx2: Bool) -> String? {
        let core = current.lowercased()
        if avx512 {
            return ["skylakex", "cooperlake", "sapphirerapids"].contains(core) ? nil : "SkylakeX"
        }
        if avx2 && blasCoresBelowAVX2.contains(core) { return "Haswell" }
        return nil
    }

    /// Runs `body(i)` for i in 0..<n on up to `threads` workers (inline when one suffices).
    @inline(__always)
    public static func forEach(_ n: Int, _ body: (Int) -> Void) {
        if n <= 0 { return }
        if let pool, n > 1 {
            pool.run(parts: n, body)
        } else {
            for i in 0..<n { body(i) }
        }
    }

    /// Splits 0..<n into at most `threads` contiguous chunks (aligned to `align`) and runs them in parallel.
    @inline(__always)
    public static func chunks(_ n: Int, align: Int = 1, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        if n <= 0 { return }
        let maxParts = max(1, min(_threads, n / max(minChunk, 1)))
        if maxParts <= 1 { body(0..<n); return }
        let per = ((n + maxParts - 1) / maxParts + align - 1) / align * align
        let parts = (n + per - 1) / per
        forEach(parts) { p in
            let lo = p * per
            let hi = min(n, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }
}
