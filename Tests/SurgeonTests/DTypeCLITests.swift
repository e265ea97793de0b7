import XCTest
import Runtime
import TestSupport
@testable import surgeon

/// `--dtype` and `surgeon convert` from the command line.
final class DTypeCLITests: XCTestCase {
    static let stories = Fixtures.fixture("stories260K")

    /// compress and calibrate take a 16-bit --dtype: compress writes its output in it (its storages
    /// tagged with the type, compression.json recording it), calibrate runs on 16-bit weights.
    func testCompressAndCalibrateInSixteenBits() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/24-bf16"
        let c = try SurgeonProcess.run(["compress", "-m", Self.stories, "--method", "magnitude", "--structure", "2:4", "--sparsity", "0.5",
                                        "--shots", "1", "--dtype", "bf16", "-o", out])
        XCTAssertEqual(c.status, 0, c.stderr)
        let report = try String(contentsOfFile: out + "/compression.json", encoding: .utf8)
        XCTAssertTrue(report.contains("\"dtype\" : \"bf16\""), report)
        let inspect = try SurgeonProcess.run(["inspect", "-m", out])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("2:4 bf16 | bf16 |"), inspect.stdout)
        let k = try SurgeonProcess.run(["calibrate", "-m", out, "--calib", Fixtures.wikiValid, "--nsamples", "1", "--seqlen", "32",
                                        "-o", dir + "/f.safetensors"])
        XCTAssertEqual(k.status, 0, k.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/f.safetensors"))
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
