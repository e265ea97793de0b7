import Foundation
import XCTest
import Tokenize
import TestSupport

/// The pure-Swift SentencePiece BPE must give libsentencepiece's ids on the same vocabulary.
final class SentencePieceBPETokenizerTests: XCTestCase {
    /// The Swift tokenizer built from the values libsentencepiece reads from the model.
    func pair(_ model: URL) throws -> (SentencePieceTokenizer, SentencePieceBPETokenizer) {
        let library = try SentencePieceTokenizer(modelFile: model)
        return (library, SentencePieceBPETokenizer(vocabulary: library.vocabulary))
    }

    func testGoldensOnLlama2AndTok512() throws {
        try checkGoldens(pair(Fixtures.llama2Model).1, "llama2")
        try checkGoldens(pair(Fixtures.tok512Model).1, "tok512")
    }

    func testEqualsLibraryOnWikitextLines() throws {
        let rows = WikiText.rows(fileContents: try Fixtures.text(Fixtures.wikiTestURL))
        let sample = rows.prefix(400) + rows.filter { $0.unicodeScalars.contains { $0.value > 127 } }.prefix(200)
        for model in [Fixtures.llama2Model, Fixtures.tok512Model] {
            let (library, swift) = try pair(model)
            for row in sample {
                XCTAssertEqual(swift.encode(row, addSpecialTokens: true), library.encode(row, addSpecialTokens: true), row)
            }
        }
    }

    func testGGUFValues() throws {
        let v = try SentencePieceTokenizer(modelFile: Fixtures.llama2Model).vocabulary
        let t = try SentencePieceBPETokenizer(
            ggufTokens: v.pieces, scores: v.scores, tokenTypes: v.types.map(\.rawValue),
            bosId: nil, eosId: nil, unkId: nil, addBOS: nil, addEOS: nil,
            addSpacePrefix: nil, removeExtraWhitespaces: nil)
        XCTAssertEqual(t.vocabulary, v)
        try checkGoldens(t, "llama2")
    }

    func testUnknownCharacterWithoutByteFallbackIsUnk() throws {
        let v = try SentencePieceVocabulary(
            pieces: ["<unk>", "<s>", "</s>", "\u{2581}", "a", "b", "\u{2581}a", "ab"],
            scores: [0, 0, 0, -1, -2, -3, -0.5, -0.25],
            types: [.unknown, .control, .control, .normal, .normal, .normal, .normal, .normal],
            bosId: 1, eosId: 2, unkId: 0)
        let t = SentencePieceBPETokenizer(vocabulary: v)
        // "▁ab": ab (-0.25) scores above ▁a (-0.5), and "▁ab" is no piece.
        XCTAssertEqual(t.encode("ab", addSpecialTokens: false), [3, 7])
        // "▁a▁b": ▁a, then ▁ and b stay apart.
        XCTAssertEqual(t.encode("a b", addSpecialTokens: true), [1, 6, 3, 5])
        XCTAssertEqual(t.encode("bzb", addSpecialTokens: false), [3, 5, 0, 5])
        XCTAssertEqual(t.decode([3, 5, 0, 5]), "b \u{2047} b")
    }
}
