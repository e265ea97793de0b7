import Foundation
import XCTest
import Tokenize
import TestSupport

final class SentencePieceTokenizerTests: XCTestCase {
    func testLlama2Goldens() throws {
        let t = try SentencePieceTokenizer(modelFile: Fixtures.llama2Model)
        XCTAssertEqual(t.vocabSize, 32000)
        XCTAssertEqual(t.bosId, 1)
        XCTAssertEqual(t.eosId, 2)
        XCTAssertTrue(t.addsBOS)
        XCTAssertFalse(t.vocabulary.removeExtraWhitespaces)
        XCTAssertTrue(t.vocabulary.addSpacePrefix)
        XCTAssertEqual(t.normalizerName, "identity")
        XCTAssertFalse(t.hasCharacterMap)
        try checkGoldens(t, "llama2")
    }

    func testTok512Goldens() throws {
        let t = try SentencePieceTokenizer(modelFile: Fixtures.tok512Model)
        XCTAssertEqual(t.vocabSize, 512)
        XCTAssertTrue(t.vocabulary.removeExtraWhitespaces)
        XCTAssertEqual(t.normalizerName, "identity")
        try checkGoldens(t, "tok512")
    }

    func testDecodeAgreesWithLibrary() throws {
        for model in [Fixtures.llama2Model, Fixtures.tok512Model] {
            let t = try SentencePieceTokenizer(modelFile: model)
            for c in try Goldens.cases(for: model == Fixtures.llama2Model ? "llama2" : "tok512") {
                let ids = t.encode(c.text, addSpecialTokens: true)
                XCTAssertEqual(t.decode(ids, skipSpecialTokens: true), try t.decodeWithLibrary(ids), c.name)
            }
        }
    }

    func testControlTokensParsedOnlyWhenAsked() throws {
        let t = try SentencePieceTokenizer(modelFile: Fixtures.llama2Model)
        let text = "<s>[INST] Hi [/INST]"
        XCTAssertEqual(t.encode(text, addSpecialTokens: false, parseSpecialTokens: true).prefix(4), [1, 518, 25580, 29962])
        XCTAssertNotEqual(t.encode(text, addSpecialTokens: false).first, 1)
        XCTAssertEqual(t.decode([1, 15043, 2]), "<s>Hello</s>")
        XCTAssertEqual(t.decode([1, 15043, 2], skipSpecialTokens: true), "Hello")
        XCTAssertEqual(t.stopIds, [2])
    }

    func testMissingModelFileIsReported() {
        XCTAssertThrowsError(try SentencePieceTokenizer(modelFile: URL(fileURLWithPath: "/nonexistent/tokenizer.model"))) { error in
            guard case TokenizerError.fileUnreadable = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try SentencePieceTokenizer(modelFile: Fixtures.wikiTestURL)) { error in
            guard case TokenizerError.sentencePiece = error else { return XCTFail("\(error)") }
        }
    }
}
