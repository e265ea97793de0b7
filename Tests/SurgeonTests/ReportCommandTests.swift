import Foundation
import XCTest
import TestSupport

/// `surgeon report` and `compress --report` run as a user runs them: the page is written, and bad
/// inputs end with one `error:` line naming the path (and its flag) and exit status 1.
final class ReportCommandTests: XCTestCase {
    func surgeon(_ arguments: [String]) throws -> SurgeonProcess {
        guard FileManager.default.isExecutableFile(atPath: SurgeonProcess.binary) else {
            throw XCTSkip("\(SurgeonProcess.binary) is not built (run swift build --build-tests)")
        }
        return try SurgeonProcess.run(arguments)
    }

    func testCompressReportThenReportCommand() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try surgeon(["compress", "-m", Fixtures.fixture("stories260K"), "--method", "magnitude", "--structure", "rows-columns",
                             "--sparsity", "0.2", "--shots", "2", "--eval-file", Fixtures.wikiTest, "--eval-chunks", "1",
                             "--eval-seqlen", "128", "-o", dir + "/out", "--report", "-t", "2"])
        XCTAssertEqual(c.status, 0, c.stderr)
        let page = try String(contentsOfFile: dir + "/out/report.html", encoding: .utf8)
        // compress knows the dense perplexity: the line has three points (dense, shot 1, shot 2)
        let line = try XCTUnwrap(page.range(of: #"<polyline points="[^"]*""#, options: .regularExpression).map { String(page[$0]) })
        XCTAssertEqual(line.split(separator: " ").count - 1, 3, line)
        XCTAssertTrue(page.contains("<figcaption>Perplexity against sparsity of the block linears (dense "), "the caption names the dense point")

        let r = try surgeon(["report", dir + "/out", "-o", dir + "/r.html", "--svg", dir + "/svg"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/svg/layers-out.svg"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/svg/perplexity.svg"))

        // without compression.json
        let missing = try surgeon(["report", dir + "/svg", "-o", dir + "/x.html"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr, "error: \(dir)/svg has no compression.json: give an output directory written by compress\n")
        // a bench file that is not one
        try Data("{".utf8).write(to: URL(fileURLWithPath: dir + "/bench.json"))
        let bench = try surgeon(["report", dir + "/out", "--bench", dir + "/bench.json", "-o", dir + "/x.html"])
        XCTAssertEqual(bench.status, 1)
        XCTAssertTrue(bench.stderr.hasPrefix("error: --bench: \(dir)/bench.json is not a valid report input (not JSON)"), bench.stderr)
        // a bench file that does not exist: the file error names the flag
        let noBench = try surgeon(["report", dir + "/out", "--bench", dir + "/none.json", "-o", dir + "/x.html"])
        XCTAssertEqual(noBench.status, 1)
        XCTAssertTrue(noBench.stderr.contains("none.json given with --bench"), noBench.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.html"))
        // an -o whose directory does not exist
        let noDir = try surgeon(["report", dir + "/out", "-o", dir + "/nodir/x.html"])
        XCTAssertEqual(noDir.status, 1)
        XCTAssertTrue(noDir.stderr.hasPrefix("error: cannot write \(dir)/nodir/x.html given with -o: "), noDir.stderr)
        XCTAssertTrue(noDir.stderr.contains("its directory does not exist"), noDir.stderr)
        let badPPL = try surgeon(["report", dir + "/out", "--dense-ppl", "-3", "-o", dir + "/x.html"])
        XCTAssertNotEqual(badPPL.status, 0)
        XCTAssertTrue(badPPL.stderr.contains("--dense-ppl must be a positive perplexity"), badPPL.stderr)
    }
}
