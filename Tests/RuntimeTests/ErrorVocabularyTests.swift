import XCTest
@testable import Runtime

/// Runtime errors speak of parameters, not of command-line flags (the CLI words them with flags).
final class ErrorVocabularyTests: XCTestCase {
    static func namesAFlag(_ message: String) -> Bool {
        message.range(of: #"(^|[\s(])--?[a-z]"#, options: .regularExpression) != nil
    }

    func testFlagDetector() {
        XCTAssertTrue(Self.namesAFlag("raise --ctx"))
        XCTAssertTrue(Self.namesAFlag("the path given with -m."))
        XCTAssertFalse(Self.namesAFlag("must be ≥ 0 (got -1.0)"))
        XCTAssertFalse(Self.namesAFlag("max_position_embeddings, top-k"))
    }

    func testRuntimeErrorsNameNoFlags() {
        let errors: [any Error] = [
            ModelError.fileNotFound(path: "/x"), ModelError.outputExists(path: "/out"),
            InferenceError.contextOverflow(needed: 9, capacity: 8),
            EvalError.tooFewTokens(tokens: 5, seqlen: 64), EvalError.badSeqlen(100_000, max: 512),
            SamplingError(.temperature, "must be ≥ 0", Float(-1)),
        ]
        for e in errors { XCTAssertFalse(Self.namesAFlag("\(e)"), "\(e)") }
    }

    func testSamplingSettingsAreCheckedInOrder() {
        XCTAssertNil(SamplingParams().invalidSetting())
        XCTAssertNil(SamplingParams.greedy.invalidSetting())
        XCTAssertEqual(SamplingParams(temperature: -1).invalidSetting(), SamplingError(.temperature, "must be ≥ 0", Float(-1)))
        XCTAssertEqual(SamplingParams(temperature: .nan).invalidSetting()?.setting, .temperature)
        XCTAssertEqual(SamplingParams(topK: -1).invalidSetting()?.setting, .topK)
        XCTAssertEqual(SamplingParams(topP: 0).invalidSetting()?.setting, .topP)
        XCTAssertEqual(SamplingParams(topP: 2, minP: 1).invalidSetting()?.setting, .topP)
        XCTAssertEqual(SamplingParams(minP: 1).invalidSetting()?.setting, .minP)
        XCTAssertEqual(SamplingParams(repeatPenalty: 0).invalidSetting()?.setting, .repeatPenalty)
        XCTAssertEqual(SamplingParams(repeatLastN: -1).invalidSetting()?.setting, .repeatLastN)
        XCTAssertEqual("\(SamplingParams(topP: 2).invalidSetting().map { "\($0)" } ?? "")", "top_p must be in (0, 1] (got 2.0)")
    }

    func testWriteAtomicallyRefusesAnExistingOutput() throws {
        let dir = NSTemporaryDirectory() + "surgeon-vocab-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try writeAtomically(dir, overwrite: false) { _ in }) {
            XCTAssertEqual($0 as? ModelError, .outputExists(path: (dir as NSString).standardizingPath))
        }
    }
}
