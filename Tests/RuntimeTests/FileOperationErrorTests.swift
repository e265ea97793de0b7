import Foundation
import XCTest
@testable import Runtime
import TestSupport

/// File errors name the operation and the path, with the system's reason (issue 20: write failures
/// said "cannot be read", a full disk dumped Foundation's raw error text).
final class FileOperationErrorTests: XCTestCase {
    func testAFailedWriteSaysWriteNotRead() throws {
        let path = Fixtures.tempDir() + "/no-such-dir/x.safetensors"
        XCTAssertThrowsError(try SafetensorsWriter.write([], to: path)) { e in
            XCTAssertEqual(e as? FileOperationError, FileOperationError(.write, path: path, code: ENOENT))
            XCTAssertEqual("\(e)", "cannot write \(path): no such file or directory")
        }
        XCTAssertThrowsError(try GGUFMetadataWriter.write([], to: path)) { e in
            XCTAssertEqual((e as? FileOperationError)?.operation, .write)
            XCTAssertEqual((e as? FileOperationError)?.path, path)
        }
    }

    /// A real full disk: /dev/full fails every write with ENOSPC, and Foundation's error for it
    /// comes out as the errno, the operation and the path.
    func testFoundationsDiskFullErrorIsRecognised() throws {
        XCTAssertThrowsError(try Data(repeating: 1, count: 1 << 16).write(to: URL(fileURLWithPath: "/dev/full"))) { e in
            let f = FileOperationError(foundation: e)
            XCTAssertEqual(f?.operation, .write, "\(e)")
            XCTAssertEqual(f?.code, ENOSPC, "\(e)")
            XCTAssertEqual(f?.isDiskFull, true)
            XCTAssertEqual(f?.reason, "no space left on device")
        }
        // the safetensors writer's own failures on it are write errors naming the file
        XCTAssertThrowsError(try SafetensorsWriter.write([.init(name: "x", shape: [4], floats: [1, 2, 3, 4])], to: "/dev/full")) { e in
            XCTAssertEqual((e as? FileOperationError)?.operation, .write, "\(e)")
            XCTAssertEqual((e as? FileOperationError)?.path, "/dev/full", "\(e)")
        }
    }

    func testCocoaFileErrorsAndUnrelatedErrors() {
        let ro = CocoaError(.fileWriteVolumeReadOnly, userInfo: [NSFilePathErrorKey: "/ro/out"])
        XCTAssertEqual(FileOperationError(foundation: ro), FileOperationError(.write, path: "/ro/out", code: EROFS))
        let missing = CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: "/x"])
        XCTAssertEqual(FileOperationError(foundation: missing), FileOperationError(.read, path: "/x", code: ENOENT))
        XCTAssertEqual(FileOperationError(foundation: POSIXError(.ENOSPC))?.operation, .write)
        XCTAssertNil(FileOperationError(foundation: ModelError.fileNotFound(path: "/x")))
        XCTAssertNil(FileOperationError(foundation: CocoaError(.propertyListReadCorrupt)))
    }

    func testReadFileContents() throws {
        let dir = Fixtures.tempDir()
        XCTAssertThrowsError(try readFileContents(dir + "/missing.txt")) { e in
            XCTAssertEqual(e as? FileOperationError, FileOperationError(.read, path: dir + "/missing.txt", code: ENOENT))
        }
        XCTAssertThrowsError(try readFileContents(dir)) { e in
            XCTAssertEqual((e as? FileOperationError)?.operation, .read)
            XCTAssertEqual((e as? FileOperationError)?.path, dir)
        }
        try Data("hi".utf8).write(to: URL(fileURLWithPath: dir + "/t.txt"))
        XCTAssertEqual(try readFileContents(dir + "/t.txt"), Data("hi".utf8))
    }
}
