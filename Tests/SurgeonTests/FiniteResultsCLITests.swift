import Foundation
import XCTest
import TestSupport
@testable import surgeon

/// The built `surgeon` binary on issue 20's defect 7 and two rough edges: a model whose finite
/// weights overflow float32 makes every command exit non-zero with an error (never `{}`, garbage
/// text or a NaN factors file); `perplexity` without `--seqlen` fits the model's context and
/// prints its result once; `-t` above the cores warns.
final class FiniteResultsCLITests: XCTestCase {
    static let binary = Fixtures.root.appendingPathComponent(".build/debug/surgeon").path

    /// A fresh temporary directory, removed when the test ends.
    func tempDir() -> String {
        let dir = Fixtures.tempDir()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// An overflowing copy of stories260K, removed when the test ends.
    func overflowingCopy() throws -> String {
        let dir = try OverflowingModel.copy()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        return dir
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary with `arguments`; output goes through files (no pipe can fill up).
    func surgeon(_ arguments: [String]) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("\(Self.binary) is not built (run swift build --build-tests)")
        }
        let p = try SurgeonProcess.run(arguments)
        return Run(status: p.status, stdout: p.stdout, stderr: p.stderr)
    }

    /// The first `bytes` of wikitext-2 test, cut at a line end.
    func textFile(bytes: Int) throws -> String {
        let text = try Fixtures.text(Fixtures.wikiTestURL)
        let head = text.utf8.prefix(bytes)
        let cut = head.lastIndex(of: UInt8(ascii: "\n")) ?? head.endIndex
        let path = tempDir() + "/text.raw"
        try Data(text.utf8[..<cut]).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testPerplexityOfAnOverflowingModelIsAnErrorNotAnEmptyRecord() throws {
        let model = try overflowingCopy()
        let r = try surgeon(["perplexity", "-m", model, "-f", try textFile(bytes: 6000), "--seqlen", "64", "--json"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "", "nothing on stdout, in particular no {}")
        XCTAssertTrue(r.stderr.contains("error: the logits at position 0 of segment 1 contain"), r.stderr)
    }

    func testGenerateWithAnOverflowingModelPrintsNoTokens() throws {
        let model = try overflowingCopy()
        let ids = try surgeon(["generate", "-m", model, "--ids", "1,400,30", "-n", "8", "--temp", "0"])
        XCTAssertNotEqual(ids.status, 0)
        XCTAssertEqual(ids.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "", ids.stdout)
        XCTAssertTrue(ids.stderr.contains("error: the logits at position 2 contain"), ids.stderr)
        let json = try surgeon(["generate", "-m", model, "--ids", "1,400,30", "-n", "8", "--json"])
        XCTAssertNotEqual(json.status, 0)
        XCTAssertEqual(json.stdout, "")
    }

    func testCalibrateWithAnOverflowingModelWritesNoFactors() throws {
        let model = try overflowingCopy()
        let dir = tempDir()
        let idsFile = dir + "/windows.json", output = dir + "/factors.safetensors"
        try Data("[[1, 400, 30, 72, 5, 9, 61, 300], [1, 20, 21, 22, 23, 24, 25, 26]]".utf8).write(to: URL(fileURLWithPath: idsFile))
        let r = try surgeon(["calibrate", "-m", model, "--ids-file", idsFile, "--seqlen", "8", "-o", output])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("error: the loss of calibration window 1 is"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
    }

    /// stories260K has a context of 512: the default segment is 512, not 2048, and the result is
    /// printed once, on stdout; progress goes to stderr.
    func testPerplexityDefaultSeqlenFitsTheContext() throws {
        let text = try textFile(bytes: 3000)
        let r = try surgeon(["perplexity", "-m", Fixtures.fixture("stories260K"), "-f", text, "--chunks", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stdout)
        XCTAssertTrue(lines.first?.hasPrefix("PPL = ") ?? false, r.stdout)
        XCTAssertTrue(r.stdout.contains("segments of 512"), r.stdout)
        XCTAssertFalse(r.stderr.contains("PPL = "), "the result is not repeated on stderr: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("perplexity"), "progress on stderr: \(r.stderr)")

        let json = try surgeon(["perplexity", "-m", Fixtures.fixture("stories260K"), "-f", text, "--chunks", "1", "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(record["seqlen"] as? Int, 512)
        XCTAssertEqual(record["protocol"] as? String, "paper")
        XCTAssertGreaterThan(try XCTUnwrap(record["ppl"] as? Double), 1)
        XCTAssertEqual(json.stdout.split(separator: "\n").count, 1)
    }

    func testDefaultSeqlenIsTheProtocolLengthCutToTheContext() {
        XCTAssertEqual(PerplexityCommand.defaultSeqlen(.paper, context: 512), 512)
        XCTAssertEqual(PerplexityCommand.defaultSeqlen(.paper, context: 8192), 2048)
        XCTAssertEqual(PerplexityCommand.defaultSeqlen(.llamacpp, context: 256), 256)
        XCTAssertEqual(PerplexityCommand.defaultSeqlen(.llamacpp, context: 8192), 512)
    }

    func testThreadsDefaultToTheCoresAndWarnAboveThem() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        XCTAssertEqual(ThreadOption.defaultCount, min(cores, 256))
        XCTAssertEqual(try ModelOptions.parse(["-m", "x"]).threads, min(cores, 256))
        XCTAssertNil(ThreadOption.warning(threads: 2, cores: 2))
        XCTAssertEqual(ThreadOption.warning(threads: 16, cores: 2),
                       "warning: -t 16 is more than the 2 cores available; workers beyond the cores wait on each other "
                       + "and make every step slower (the default is 2)")
        XCTAssertThrowsError(try ModelOptions.parse(["-m", "x", "-t", "0"]))
        XCTAssertThrowsError(try ModelOptions.parse(["-m", "x", "-t", "257"]))

        let above = try surgeon(["inspect", "-m", Fixtures.fixture("stories260K"), "-t", String(cores + 1)])
        XCTAssertEqual(above.status, 0, above.stderr)
        XCTAssertTrue(above.stderr.contains("warning: -t \(cores + 1) is more than the \(cores) core"), above.stderr)
        let fits = try surgeon(["inspect", "-m", Fixtures.fixture("stories260K"), "-t", "1"])
        XCTAssertEqual(fits.status, 0, fits.stderr)
        XCTAssertFalse(fits.stderr.contains("warning"), fits.stderr)
    }
}
