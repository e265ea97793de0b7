import Foundation
import XCTest
@testable import Runtime
import TestSupport

/// Issue 20, defect 7: a finite weight that overflows float32 (3e38) must fail where the first
/// non-finite result is made — logits before sampling, perplexity NLLs — with an error naming it.
final class FiniteResultsTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// An overflowing copy of stories260K, removed when the test ends.
    func overflowingCopy() throws -> String {
        let dir = try OverflowingModel.copy()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        return dir
    }

    func testFirstNonFiniteFindsEveryKindInEveryLane() {
        for n in [0, 1, 7, 8, 9, 31, 512] {
            var x = (0..<n).map { Float($0 % 13) * 1e37 - 6e37 }   // large but finite
            XCTAssertNil(firstNonFinite(x, count: n), "n \(n)")
            for bad in [Float.nan, .infinity, -.infinity] {
                for i in Set([0, n / 2, n - 1]) where i >= 0 && i < n {
                    x[i] = bad
                    XCTAssertEqual(firstNonFinite(x, count: n), i, "n \(n), \(bad) at \(i)")
                    x[i] = 1
                }
            }
        }
        // the first of several
        var y = [Float](repeating: .greatestFiniteMagnitude, count: 40)
        y[33] = .nan
        y[17] = -.infinity
        XCTAssertEqual(firstNonFinite(y, count: 40), 17)
        XCTAssertThrowsError(try y.withUnsafeBufferPointer { b in
            try checkFinite(b.baseAddress!, count: 40, rowLength: 8) { .logits(position: $0, segment: nil) }
        }) { e in
            XCTAssertEqual(e as? NonFiniteError, NonFiniteError(.logits(position: 2, segment: nil), value: -.infinity, index: 1))
        }
    }

    func testTheFixtureCopyOverflows() throws {
        let dir = try overflowingCopy()
        let model = try loadModel(ModelFiles.open(dir))
        let gains = try XCTUnwrap(model.namedParameters().first { $0.name == OverflowingModel.defaultTensor }?.tensor)
        XCTAssertTrue(gains.data.allSatisfy { $0 == 3e38 })
        XCTAssertTrue(gains.isFinite, "the loader accepts a finite weight")
    }

    func testLogitsAreCheckedBeforeSampling() throws {
        let model = try loadModel(ModelFiles.open(try overflowingCopy()))
        let prompt: [Int32] = [1, 400, 30, 72]
        let session = InferenceSession(model: model)
        XCTAssertThrowsError(try session.feed(prompt)) { e in
            let err = e as? NonFiniteError
            XCTAssertEqual(err?.quantity, .logits(position: 3, segment: nil), "\(e)")
            XCTAssertTrue("\(e)".contains("the logits at position 3 contain"), "\(e)")
        }
        session.reset()
        XCTAssertThrowsError(try session.step(1)) {
            XCTAssertEqual(($0 as? NonFiniteError)?.quantity, .logits(position: 0, segment: nil), "\($0)")
        }
        session.reset()
        XCTAssertThrowsError(try session.logitsForAll(prompt)) {
            XCTAssertEqual(($0 as? NonFiniteError)?.quantity, .logits(position: 0, segment: nil), "\($0)")
        }
        // generate stops before sampling anything
        var sampler = Sampler(.greedy)
        var produced: [Int32] = []
        session.reset()
        XCTAssertThrowsError(try generate(session: session, prompt: prompt, maxTokens: 8, sampler: &sampler, stop: []) {
            produced.append($0)
            return true
        })
        XCTAssertEqual(produced, [])
        // the intact model is untouched by the check
        let intact = InferenceSession(model: try Fixtures.model("stories260K"))
        XCTAssertNoThrow(try intact.feed(prompt))
        XCTAssertNoThrow(try intact.step(5))
    }

    func testPerplexityFailsInsteadOfReportingNaN() throws {
        let model = try loadModel(ModelFiles.open(try overflowingCopy()))
        let ids = Array(try Fixtures.reference("stories260K").loadInts("input_ids").data.prefix(64))
        for proto in PerplexityProtocol.allCases {
            XCTAssertThrowsError(try PerplexityEvaluator(model: model, seqlen: 32, protocol: proto).run(tokens: ids)) { e in
                let first = proto == .paper ? 0 : 16
                XCTAssertEqual((e as? NonFiniteError)?.quantity, .logits(position: first, segment: 0), "\(e)")
            }
        }
        // the model as a reference: its logits are named as the reference's
        var ev = PerplexityEvaluator(model: try Fixtures.model("stories260K"), seqlen: 32, protocol: .paper)
        ev.reference = model
        XCTAssertThrowsError(try ev.run(tokens: ids)) {
            XCTAssertEqual(($0 as? NonFiniteError)?.quantity, .referenceLogits(position: 0, segment: 0), "\($0)")
        }
    }

    func testMessagesSayWhatAndWhere() {
        XCTAssertEqual(NonFiniteError.Value(.nan), .nan)
        XCTAssertEqual(NonFiniteError.Value(-.infinity), .negativeInfinity)
        let f = NonFiniteError(.factor("G", layer: "model.layers.1.mlp.down_proj", windows: 4), value: .infinity, index: 7)
        XCTAssertEqual(f.description, "the curvature factor G of model.layers.1.mlp.down_proj contains +Inf (entry 7) after 4 windows: "
                       + "the model's activations overflow float32: check the model file for weights too large for float32 "
                       + "arithmetic (e.g. ±3e38) and re-export it")
        XCTAssertTrue(NonFiniteError(.logits(position: 5, segment: 2), value: .nan, index: 9).description
            .hasPrefix("the logits at position 5 of segment 3 contain NaN (vocabulary entry 9)"))
        XCTAssertTrue(NonFiniteError(.perplexity(meanNLL: 800), value: .infinity).description.hasPrefix("the perplexity exp(800.0) is +Inf"))
    }
}
