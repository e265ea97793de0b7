import Foundation
import XCTest
@testable import Runtime
import TestSupport

/// `MappedFile.release`: a range read out of the mapping stops counting in the process's resident
/// size (the mapping's Rss in /proc/self/smaps), and reading it again gives the same bytes.
final class MappedFileTests: XCTestCase {
    /// Resident kB of this process's mappings of `path` (/proc/self/smaps).
    func residentKB(of path: String) throws -> Int {
        // /proc files report size 0: read until EOF
        guard let fh = fopen("/proc/self/smaps", "r") else { throw XCTSkip("no /proc/self/smaps") }
        defer { fclose(fh) }
        var data = [UInt8](), chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, fh)
            if n <= 0 { break }
            data += chunk[0..<n]
        }
        let smaps = String(decoding: data, as: UTF8.self)
        var inFile = false, total = 0
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), first.first?.isHexDigit == true {
                inFile = line.hasSuffix(path)
            } else if inFile, fields.first == "Rss:", fields.count >= 2 {
                total += Int(fields[1]) ?? 0
            }
        }
        return total
    }

    func testReleasedPagesLeaveTheResidentSizeAndReadBackTheSame() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/data.bin"
        let size = 64 * 4096 + 123
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let f = try MappedFile(path: path)
        func sum() -> Int { f.bytes(at: 0, count: size).map { $0.reduce(0) { $0 + Int($1) } } ?? -1 }
        let expected = bytes.reduce(0) { $0 + Int($1) }
        XCTAssertEqual(sum(), expected)
        XCTAssertGreaterThanOrEqual(try residentKB(of: path), 64 * 4, "every page touched is resident")
        f.release(at: 0, count: size)
        XCTAssertLessThanOrEqual(try residentKB(of: path), 8, "only the partial last page may stay")
        XCTAssertEqual(sum(), expected, "the bytes read again are the file's")
        // a range inside one page releases nothing; out-of-range requests are ignored
        f.release(at: 10, count: 100)
        f.release(at: -5, count: 10)
        f.release(at: size + 1, count: 10)
        XCTAssertEqual(sum(), expected)
    }
}
