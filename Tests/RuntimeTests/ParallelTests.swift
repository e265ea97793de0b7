import CBLAS
import XCTest
@testable import Runtime

final class ParallelTests: XCTestCase {
    /// The switch rule: a fallback below what the CPU runs is replaced, a good choice is kept.
    func testBetterBLASCoreRule() {
        // Sapphire Rapids under OpenBLAS 0.3.21: Prescott (SSE3) -> SkylakeX
        XCTAssertEqual(Parallel.betterBLASCore(current: "Prescott", avx512: true, avx2: true), "SkylakeX")
        // AMD Zen 4 taken for Haswell, or a pinned Haswell, on an AVX-512 CPU -> SkylakeX
        XCTAssertEqual(Parallel.betterBLASCore(current: "Zen", avx512: true, avx2: true), "SkylakeX")
        XCTAssertEqual(Parallel.betterBLASCore(current: "Haswell", avx512: true, avx2: true), "SkylakeX")
        // AVX-512 kernel sets are kept
        for core in ["SkylakeX", "Cooperlake", "SapphireRapids"] {
            XCTAssertNil(Parallel.betterBLASCore(current: core, avx512: true, avx2: true), core)
        }
        // AVX2 only: a pre-AVX2 fallback -> Haswell; Haswell and Zen kept; never SkylakeX
        XCTAssertEqual(Parallel.betterBLASCore(current: "Prescott", avx512: false, avx2: true), "Haswell")
        XCTAssertEqual(Parallel.betterBLASCore(current: "Sandybridge", avx512: false, avx2: true), "Haswell")
        XCTAssertNil(Parallel.betterBLASCore(current: "Haswell", avx512: false, avx2: true))
        XCTAssertNil(Parallel.betterBLASCore(current: "Zen", avx512: false, avx2: true))
        // a CPU without AVX2 keeps whatever OpenBLAS chose
        XCTAssertNil(Parallel.betterBLASCore(current: "Prescott", avx512: false, avx2: false))
    }

    /// On this machine: after setThreads the kernel set in use is one the rule would keep.
    func testTheActiveBLASCoreMatchesTheCPU() throws {
        if getenv("SURGEON_KEEP_BLAS_CORE") != nil { throw XCTSkip("SURGEON_KEEP_BLAS_CORE is set") }
        Parallel.setThreads(Parallel.threads)
        let core = Parallel.blasCore
        XCTAssertNil(Parallel.betterBLASCore(current: core, avx512: surgeon_cpu_has_avx512() != 0,
                                             avx2: SparseKernels.detectedLevel >= 1),
                     "OpenBLAS runs \(core), below what this CPU runs")
    }
}
