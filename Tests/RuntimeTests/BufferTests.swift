import Foundation
import XCTest
@testable import Runtime

/// `Buffer` is zeroed, and a large one is resident only where it has been written (calloc'd pages:
/// a KV cache sized for the whole context costs memory as far as the sequence reaches).
final class BufferTests: XCTestCase {
    /// Resident pages of [p, p + bytes) (mincore).
    func residentPages(_ p: UnsafeMutableRawPointer, bytes: Int) -> Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: p) + page - 1) / page * page)!
        let count = (bytes - (Int(bitPattern: start) - Int(bitPattern: p))) / page
        var vec = [UInt8](repeating: 0, count: count)
        guard mincore(start, count * page, &vec) == 0 else { return -1 }
        return vec.reduce(0) { $0 + Int($1 & 1) }
    }

    func testLargeBuffersAreZeroAndResidentOnlyWhereWritten() {
        let n = 16 << 20   // 64 MiB of floats
        let b = Buffer(n)
        let pages = 4 * n / Int(sysconf(Int32(_SC_PAGESIZE)))
        XCTAssertLessThan(residentPages(UnsafeMutableRawPointer(b.pointer), bytes: 4 * n), pages / 16, "a fresh buffer is not resident")
        for i in 0..<(n / 8) { b.pointer[i] = 1 }   // the first eighth
        let resident = residentPages(UnsafeMutableRawPointer(b.pointer), bytes: 4 * n)
        XCTAssertGreaterThanOrEqual(resident, pages / 8 - 1)
        XCTAssertLessThan(resident, pages / 4)
        XCTAssertEqual(b.pointer[n / 8], 0)
        XCTAssertEqual(b.pointer[n - 1], 0)
        b.reserve(2 * n)
        XCTAssertEqual(b.pointer[0], 0, "a grown buffer is zeroed")
        XCTAssertEqual(b.pointer[2 * n - 1], 0)
    }
}
