import Foundation
import XCTest
import Runtime
@testable import Toolkit
import TestSupport

final class ReportTests: XCTestCase {
    /// The inspect report of a fixture: the JSON keys scripts read, a lossless JSON round trip, and
    /// one markdown row per block linear.
    func testInspectReportKeysAndRoundTrip() throws {
        let model = try loadModel(ModelFiles.open(Fixtures.fixture("tiny-llama")))
        let report = InspectReport(model: model)
        XCTAssertEqual(report.layers.map(\.name), model.blockLinearNames)
        XCTAssertTrue(report.attention.isEmpty)
        let json = try report.json()
        XCTAssertFalse(json.contains("\n"))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["architecture", "config", "sparsity", "total_bytes", "linear_bytes",
                                          "linear_dense_bytes", "parameters", "layers", "attention"])
        let layer = try XCTUnwrap((object["layers"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(layer.keys), ["name", "shape", "storage", "dtype", "storage_detail", "sparsity", "bytes", "valid_2_4",
                                         "removed_rows", "removed_cols"])
        let config = try XCTUnwrap(object["config"] as? [String: Any])
        XCTAssertEqual(Set(config.keys), ["layers", "hidden_size", "heads", "kv_heads", "head_dim", "intermediate_size", "vocab_size"])
        XCTAssertEqual(config["hidden_size"] as? Int, model.config.hiddenSize)
        XCTAssertEqual(try JSONDecoder().decode(InspectReport.self, from: Data(json.utf8)), report)
        let lines = report.markdown().split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 1 + 2 + report.layers.count + 1 + 1)   // title, header, rows, totals, final newline
        XCTAssertTrue(lines[0].hasPrefix("llama: "))
        XCTAssertTrue(lines[lines.count - 2].hasPrefix("block linears: sparsity 0.0%"))
    }

    /// Speed-ups are against the first model on each test; JSON is the bare array of rows.
    func testBenchReportRowsAndFormats() throws {
        let model = try loadModel(ModelFiles.open(Fixtures.fixture("stories260K")))
        let results = [[BenchResult(test: .prompt(16), runs: [100, 300]), BenchResult(test: .generate(8), runs: [10])],
                       [BenchResult(test: .prompt(16), runs: [400]), BenchResult(test: .generate(8), runs: [5, 5])]]
        let report = BenchReport(models: [(path: "a/dense", model: model), (path: "b/pruned", model: model)],
                                 results: results, threads: 2)
        XCTAssertEqual(report.rows.map(\.test), ["pp16", "tg8", "pp16", "tg8"])
        XCTAssertEqual(report.rows.map(\.speedup), [1, 1, 2, 0.5])
        XCTAssertEqual(report.rows[0].tpsMean, 200)
        XCTAssertEqual(report.rows[0].tpsSd, 100 * 2.0.squareRoot(), accuracy: 1e-9)
        let json = try report.json()
        XCTAssertTrue(json.hasPrefix("[{\"bytes\":"))
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        XCTAssertEqual(Set(rows[0].keys), ["model", "test", "threads", "tps_mean", "tps_sd", "bytes", "params", "sparsity",
                                           "speedup", "linear_bytes", "linear_dense_bytes"])
        XCTAssertEqual(rows[3]["model"] as? String, "b/pruned")
        XCTAssertEqual(try JSONDecoder().decode(BenchReport.self, from: Data(json.utf8)), report)
        let lines = report.markdown().split(separator: "\n")
        XCTAssertEqual(lines.count, 2 + 4)
        XCTAssertEqual(lines[2], "| dense | 0.99 MiB | 1.000 | 0.26 M | 0.0% | 2 | pp16 | 200.00 ± 141.42 | 1.00x |")
        XCTAssertEqual(lines[5], "| pruned | 0.99 MiB | 1.000 | 0.26 M | 0.0% | 2 | tg8 | 5.00 ± 0.00 | 0.50x |")
    }
}

/// Toolkit errors speak of parameters, not of command-line flags (the CLI words them with flags).
final class ToolkitErrorVocabularyTests: XCTestCase {
    func testToolkitErrorsNameNoFlags() throws {
        XCTAssertThrowsError(try CalibrationInput.fisherLabels("bogus", seed: 1)) {
            XCTAssertEqual($0 as? ToolkitError, .badFisherLabels("bogus"))
        }
        XCTAssertEqual(try CalibrationInput.fisherLabels("sampled:3", seed: 1), .sampled(3, seed: 1))
        let errors: [ToolkitError] = [.noTokenizer("/m"), .unsupportedTokenizer("/m", "bert"), .badFisherLabels("x"),
                                      .messageTooLong(tokens: 9, context: 8)]
        for e in errors {
            XCTAssertNil("\(e)".range(of: #"(^|[\s(])--?[a-z]"#, options: .regularExpression), "\(e)")
        }
    }
}
