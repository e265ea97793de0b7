import Foundation
import XCTest
import Tokenize
import TestSupport

/// Token counts of the wikitext-2 test text (paper protocol) against the goldens, and the
/// text preparation itself.
final class WikiTextTests: XCTestCase {
    func testTestTextMatchesProtocol() throws {
        let contents = try Fixtures.text(Fixtures.wikiTestURL)
        let rows = WikiText.rows(fileContents: contents)
        XCTAssertEqual(rows.count, 4358)
        XCTAssertEqual(rows[0], "")
        XCTAssertEqual(rows[1], " = Robert Boulter = \n")
        XCTAssertEqual(WikiText.testText(fileContents: contents).unicodeScalars.count, 1_294_336)
        let valid = try Fixtures.text(Fixtures.wikiValidURL)
        XCTAssertEqual(WikiText.rows(fileContents: valid).count, 3760)
        XCTAssertEqual(WikiText.calibrationText(fileContents: valid).unicodeScalars.count, 1_145_906)
    }

    func testRowsOfSmallText() {
        XCTAssertEqual(WikiText.rows(fileContents: " \n = A = \n \nx\n"), ["", " = A = \n", "", "x\n"])
        XCTAssertEqual(WikiText.testText(fileContents: " \na\nb"), "\n\na\n\n\nb")
        XCTAssertEqual(WikiText.calibrationText(fileContents: "a\n \nb\n"), "a\n  b\n")
    }

    @discardableResult
    private func checkCount(_ tokenizer: Tokenizer, _ name: String, _ text: String) throws -> [Int32] {
        let start = Date()
        let ids = tokenizer.encode(text, addSpecialTokens: true)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(ids.count, try Goldens.count("test_paper_protocol", name, "with_default_special"), name)
        let rate = Double(text.unicodeScalars.count) / seconds
        print("wikitext-2 test, \(name) (\(type(of: tokenizer))): \(ids.count) tokens in \(String(format: "%.2f", seconds)) s = \(String(format: "%.2f", rate / 1e6)) M chars/s")
        return ids
    }

    func testSentencePieceCounts() throws {
        let text = try Fixtures.wikiTestText()
        for (name, model) in [("llama2", Fixtures.llama2Model), ("tok512", Fixtures.tok512Model)] {
            let library = try SentencePieceTokenizer(modelFile: model)
            let expected = try checkCount(library, name, text)
            let ids = try checkCount(SentencePieceBPETokenizer(vocabulary: library.vocabulary), name, text)
            XCTAssertTrue(ids == expected, "\(name): the Swift SentencePiece BPE differs from libsentencepiece")
        }
    }

    func testByteLevelCounts() throws {
        let text = try Fixtures.wikiTestText()
        let smol = Fixtures.directory("smollm2-tokenizer")
        try checkCount(ByteLevelBPETokenizer(tokenizerJSON: smol.appendingPathComponent("tokenizer.json"),
                                             config: TokenizerConfig(directory: smol)), "smollm2", text)
        for name in ["opt", "gpt2"] {
            let dir = Fixtures.directory("\(name)-tokenizer")
            try checkCount(ByteLevelBPETokenizer(vocabJSON: dir.appendingPathComponent("vocab.json"),
                                                 mergesTXT: dir.appendingPathComponent("merges.txt"),
                                                 config: TokenizerConfig(directory: dir)), name, text)
        }
    }
}
