import Foundation
import XCTest
@testable import Runtime

/// `HeapPolicy.releaseFreePages`: large blocks freed between longer-lived small ones (a surgery
/// shot's factors beside new weight storages) leave the resident set when it is called.
final class HeapPolicyTests: XCTestCase {
    /// Resident bytes of this process now (Linux /proc/self/statm; nil elsewhere).
    private func residentBytes() -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let f = s.split(separator: " ")
        guard f.count > 1, let pages = Int(f[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func testFreedHeapBlocksLeaveTheResidentSet() throws {
        #if os(Linux)
        let block = 2 << 20, count = 64   // 128 MiB in all
        // a freed mapped block raises glibc's threshold: the blocks below then come from the heap
        let first = UnsafeMutableRawPointer.allocate(byteCount: 4 * block, alignment: 64)
        memset(first, 1, 4 * block)
        first.deallocate()
        guard let before = residentBytes() else { throw XCTSkip("no /proc/self/statm") }
        var big: [UnsafeMutableRawPointer] = [], small: [UnsafeMutableRawPointer] = []
        for _ in 0..<count {
            let b = UnsafeMutableRawPointer.allocate(byteCount: block, alignment: 64)
            memset(b, 1, block)   // touched: resident
            big.append(b)
            small.append(UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 16))   // stays live between them
        }
        let peak = try XCTUnwrap(residentBytes())
        XCTAssertGreaterThan(peak - before, count * block / 2, "the blocks were resident")
        for b in big { b.deallocate() }
        HeapPolicy.releaseFreePages()
        let after = try XCTUnwrap(residentBytes())
        for s in small { s.deallocate() }
        XCTAssertLessThan(after - before, 32 << 20, "freed blocks handed back (resident before \(before), peak \(peak), after \(after))")
        #endif
    }
}
