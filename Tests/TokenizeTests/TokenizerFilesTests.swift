import Foundation
import XCTest
import Tokenize
import TestSupport

final class TokenizerFilesTests: XCTestCase {
    func testSmolLM2Directory() throws {
        let files = try TokenizerFiles.load(directory: Fixtures.directory("smollm2-tokenizer"))
        XCTAssertEqual(files.source.lastPathComponent, "tokenizer.json")
        XCTAssertTrue(files.tokenizer is ByteLevelBPETokenizer)
        XCTAssertEqual(files.tokenizer.eosId, 2)
        XCTAssertEqual(files.tokenizer.stopIds, [0, 2])
        XCTAssertFalse(files.tokenizer.addsBOS)
        XCTAssertEqual(files.config.eosToken, "<|im_end|>")
        XCTAssertEqual(files.chatTemplate, .chatML(defaultSystemPrompt: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        XCTAssertEqual(files.tokenizer.specialTokens["<|im_start|>"], 1)
        XCTAssertEqual(files.tokenizer.tokenId(for: "Ġworld"), 905)
    }

    func testOPTAndGPT2Directories() throws {
        let opt = try TokenizerFiles.load(directory: Fixtures.directory("opt-tokenizer"))
        XCTAssertEqual(opt.source.lastPathComponent, "vocab.json")
        XCTAssertTrue(opt.tokenizer.addsBOS)
        XCTAssertEqual(opt.tokenizer.bosId, 2)
        XCTAssertEqual(opt.tokenizer.vocabSize, 50265)
        XCTAssertNil(opt.chatTemplateText)
        XCTAssertEqual(opt.config.addBOS, true)
        let gpt2 = try TokenizerFiles.load(directory: Fixtures.directory("gpt2-tokenizer"))
        XCTAssertFalse(gpt2.tokenizer.addsBOS)
        XCTAssertEqual(gpt2.tokenizer.stopIds, [50256])
        XCTAssertTrue(gpt2.tokenizer.isSpecial(50256))
    }

    func testSentencePieceDirectories() throws {
        let llama = try TokenizerFiles.load(directory: Fixtures.directory("llama2-tokenizer"))
        XCTAssertTrue(llama.tokenizer is SentencePieceTokenizer)
        XCTAssertTrue(llama.tokenizer.addsBOS)
        let stories = try TokenizerFiles.load(directory: Fixtures.directory("stories260K"))
        XCTAssertEqual(stories.config.addBOS, true)
        XCTAssertEqual(stories.tokenizer.encode("Once", addSpecialTokens: true).first, 1)
    }

    func testEmptyDirectoryIsReported() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenize-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try TokenizerFiles.load(directory: dir)) { error in
            XCTAssertEqual(error as? TokenizerError, .noTokenizerFiles(directory: dir.path))
        }
    }

    func testMalformedTokenizerJSONIsReported() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenize-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("{\"model\": {\"type\": \"Unigram\"}}".utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertThrowsError(try TokenizerFiles.load(directory: dir)) { error in
            guard case TokenizerError.unsupported = error else { return XCTFail("\(error)") }
        }
        try Data("not json".utf8).write(to: dir.appendingPathComponent("tokenizer.json"))
        XCTAssertThrowsError(try TokenizerFiles.load(directory: dir)) { error in
            guard case TokenizerError.malformed = error else { return XCTFail("\(error)") }
        }
    }
}
