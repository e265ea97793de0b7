import XCTest
import Runtime
import TestSupport
@testable import surgeon

/// `--dtype` and `surgeon convert` from the command line.
final class DTypeCLITests: XCTestCase {
    static let stories = Fixtures.fixture("stories260K")

    /// compress and calibrate work on float32 weights: a 16-bit --dtype is refused before loading.
    func testCompressAndCalibrateRefuseSixteenBits() {
        for dtype in ["f16", "bf16"] {
            XCTAssertThrowsError(try CompressCommand.parse(["-m", Self.stories, "-o", "/tmp/x", "--sparsity", "0.5", "--dtype", dtype])) { e in
                XCTAssertTrue(CompressCommand.message(for: e).contains("compress loads float32 weights"), CompressCommand.message(for: e))
            }
            XCTAssertThrowsError(try CalibrateCommand.parse(["-m", Self.stories, "--calib", "x", "-o", "/tmp/x", "--dtype", dtype])) { e in
                XCTAssertTrue(CalibrateCommand.message(for: e).contains("calibrate loads float32 weights"), CalibrateCommand.message(for: e))
            }
        }
        XCTAssertThrowsError(try GenerateCommand.parse(["-m", Self.stories, "-p", "hi", "--dtype", "f8"]))
        XCTAssertNoThrow(try GenerateCommand.parse(["-m", Self.stories, "-p", "hi", "--dtype", "bf16"]))
    }

    /// convert writes a directory that reloads in its type; it refuses an output inside its input
    /// and an existing output without --overwrite, leaving it untouched.
    func testConvert() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/bf16"
        let ok = try SurgeonProcess.run(["convert", "-m", Self.stories, "--dtype", "bf16", "-o", out])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stderr.contains("convert:"), ok.stderr)
        XCTAssertEqual(try SafetensorsFile(path: out + "/model.safetensors").nativeDType, .bf16)
        let inspect = try SurgeonProcess.run(["inspect", "-m", out, "--json"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("dense-bf16"), inspect.stdout)
        let before = try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))
        let again = try SurgeonProcess.run(["convert", "-m", Self.stories, "--dtype", "f16", "-o", out])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("--overwrite"), again.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors")), before)
        let inside = try SurgeonProcess.run(["convert", "-m", out, "-o", out + "/nested"])
        XCTAssertNotEqual(inside.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/nested"))
        let bad = try SurgeonProcess.run(["convert", "-m", dir + "/missing", "-o", dir + "/x"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("error:"), bad.stderr)
    }
}
