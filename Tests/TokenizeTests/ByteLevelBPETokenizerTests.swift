import Foundation
import XCTest
import Tokenize
import TestSupport

final class ByteLevelBPETokenizerTests: XCTestCase {
    func loadSmolLM2() throws -> ByteLevelBPETokenizer {
        let dir = Fixtures.directory("smollm2-tokenizer")
        return try ByteLevelBPETokenizer(tokenizerJSON: dir.appendingPathComponent("tokenizer.json"),
                                         config: TokenizerConfig(directory: dir))
    }

    func loadVocabMerges(_ name: String) throws -> ByteLevelBPETokenizer {
        let dir = Fixtures.directory(name)
        return try ByteLevelBPETokenizer(vocabJSON: dir.appendingPathComponent("vocab.json"),
                                         mergesTXT: dir.appendingPathComponent("merges.txt"),
                                         config: TokenizerConfig(directory: dir))
    }

    func testSmolLM2Goldens() throws {
        let t = try loadSmolLM2()
        XCTAssertEqual(t.vocabSize, 49152)
        XCTAssertEqual(t.preTokenizer, .smollm)
        XCTAssertFalse(t.addsBOS)
        try checkGoldens(t, "smollm2")
    }

    func testOPTGoldens() throws {
        let t = try loadVocabMerges("opt-tokenizer")
        XCTAssertTrue(t.addsBOS)
        XCTAssertEqual(t.bosId, 2)
        try checkGoldens(t, "opt")
    }

    func testGPT2Goldens() throws {
        let t = try loadVocabMerges("gpt2-tokenizer")
        XCTAssertFalse(t.addsBOS)
        XCTAssertEqual(t.eosId, 50256)
        try checkGoldens(t, "gpt2")
    }
}

/// The GGUF path: the same vocabularies handed over as plain values.
final class ByteLevelBPEFromValuesTests: XCTestCase {
    func testSmolLM2FromGGUFStyleValues() throws {
        let root = try Fixtures.json(Fixtures.directory("smollm2-tokenizer").appendingPathComponent("tokenizer.json"))
        let model = try XCTUnwrap(root["model"] as? [String: Any])
        let vocab = try XCTUnwrap(model["vocab"] as? [String: Int])
        var tokens = [String](repeating: "", count: vocab.count)
        for (token, id) in vocab { tokens[id] = token }
        var types = [Int32](repeating: 1, count: tokens.count)
        for added in try XCTUnwrap(root["added_tokens"] as? [[String: Any]]) {
            types[try XCTUnwrap(added["id"] as? Int)] = 3
        }
        let merges = try XCTUnwrap(model["merges"] as? [[String]]).map { $0.joined(separator: " ") }
        let t = try ByteLevelBPETokenizer(ggufTokens: tokens, merges: merges, tokenTypes: types,
                                          bosId: 1, eosId: 2, addBOS: false, pre: "smollm")
        try checkGoldens(t, "smollm2")
        XCTAssertEqual(t.stopIds, [0, 2])
        XCTAssertEqual(t.decode([1, 19556, 2], skipSpecialTokens: true), "Hello")
        XCTAssertEqual(t.decode([1, 19556, 2]), "<|im_start|>Hello<|im_end|>")
        XCTAssertEqual(t.encode("<|im_end|>", addSpecialTokens: false, parseSpecialTokens: false).count, 7)
    }

    func testGPT2FromGGUFStyleValues() throws {
        let dir = Fixtures.directory("gpt2-tokenizer")
        let vocab = try XCTUnwrap(Fixtures.json(dir.appendingPathComponent("vocab.json")) as? [String: Int])
        var tokens = [String](repeating: "", count: vocab.count)
        for (token, id) in vocab { tokens[id] = token }
        var types = [Int32](repeating: 1, count: tokens.count)
        types[50256] = 3
        let merges = try Fixtures.text(dir.appendingPathComponent("merges.txt"))
            .split(separator: "\n").dropFirst().map(String.init)
        let t = try ByteLevelBPETokenizer(ggufTokens: tokens, merges: merges, tokenTypes: types,
                                          bosId: 50256, eosId: 50256, addBOS: nil, pre: nil)
        try checkGoldens(t, "gpt2")
    }

    func testInconsistentValuesAreRejected() {
        XCTAssertThrowsError(try ByteLevelBPETokenizer(ggufTokens: ["a", "b"], merges: ["a c"], tokenTypes: nil,
                                                       bosId: nil, eosId: nil, addBOS: nil, pre: nil)) { error in
            XCTAssertEqual(error as? TokenizerError, .mergeTokenMissing(index: 0, merge: "a c"))
        }
        XCTAssertThrowsError(try ByteLevelBPETokenizer(ggufTokens: ["a"], merges: [], tokenTypes: nil,
                                                       bosId: 5, eosId: nil, addBOS: true, pre: nil))
        XCTAssertThrowsError(try ByteLevelBPETokenizer(ggufTokens: ["a"], merges: [], tokenTypes: nil,
                                                       bosId: nil, eosId: nil, addBOS: nil, pre: "deepseek-llm"))
    }
}
