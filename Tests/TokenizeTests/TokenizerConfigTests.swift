import Foundation
import XCTest
import Tokenize
import TestSupport

/// Configuration forms the fixtures do not show: added_tokens_decoder, template lists,
/// tokenizer.json post-processor templates.
final class TokenizerConfigTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenize-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func write(_ name: String, _ object: Any) throws {
        try JSONSerialization.data(withJSONObject: object).write(to: dir.appendingPathComponent(name))
    }

    /// The 256 byte entries, then extra entries.
    func byteVocabulary(_ extra: [String]) -> [String: Int] {
        var vocab: [String: Int] = [:]
        for b in 0..<256 {
            // GPT-2's alphabet: printable Latin-1 bytes stand for themselves, the rest from U+0100 on.
            vocab[String(Character(Unicode.Scalar(Self.alphabet[b])!))] = b
        }
        for (i, e) in extra.enumerated() { vocab[e] = 256 + i }
        return vocab
    }

    static let alphabet: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256), next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) { table[b] = UInt32(b) } else { table[b] = next; next += 1 }
        }
        return table
    }()

    func testConfigWithAddedTokensDecoderAndTemplateList() throws {
        try write("tokenizer_config.json", [
            "add_bos_token": true,
            "bos_token": ["content": "<|begin|>"],
            "eos_token": "<|end|>",
            "added_tokens_decoder": ["257": ["content": "<|begin|>", "special": true],
                                     "258": ["content": "<|end|>", "special": true]],
            "chat_template": [["name": "tool_use", "template": "x"], ["name": "default", "template": "{{'<|im_start|>'}}"]],
        ])
        try write("vocab.json", byteVocabulary(["Ġt"]))
        try Data("#version: 0.2\nĠ t\n".utf8).write(to: dir.appendingPathComponent("merges.txt"))
        let files = try TokenizerFiles.load(directory: dir)
        XCTAssertEqual(files.config.addedTokens.map(\.id), [257, 258])
        XCTAssertEqual(files.chatTemplateText, "{{'<|im_start|>'}}")
        XCTAssertEqual(files.chatTemplate, .chatML(defaultSystemPrompt: nil))
        let t = files.tokenizer
        XCTAssertEqual(t.vocabSize, 259)
        XCTAssertEqual(t.bosId, 257)
        XCTAssertEqual(t.stopIds, [258])
        XCTAssertEqual(t.encode(" t<|end|>", addSpecialTokens: true), [257, 256, 258])
        XCTAssertEqual(t.decode([257, 256, 258], skipSpecialTokens: true), " t")
    }

    func testTokenizerJSONTemplateProcessingAddsBOS() throws {
        try write("tokenizer.json", [
            "added_tokens": [["id": 257, "content": "<|begin|>", "special": true]],
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            "post_processor": ["type": "Sequence", "processors": [
                ["type": "ByteLevel"],
                ["type": "TemplateProcessing",
                 "single": [["SpecialToken": ["id": "<|begin|>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                 "special_tokens": ["<|begin|>": ["id": "<|begin|>", "ids": [257], "tokens": ["<|begin|>"]]]],
            ]],
            "model": ["type": "BPE", "vocab": byteVocabulary(["Ġt"]), "merges": [["Ġ", "t"]], "ignore_merges": false],
        ])
        let files = try TokenizerFiles.load(directory: dir)
        XCTAssertTrue(files.tokenizer.addsBOS)
        XCTAssertEqual(files.tokenizer.encode(" t t", addSpecialTokens: true), [257, 256, 256])
        XCTAssertEqual(files.tokenizer.encode(" t", addSpecialTokens: false), [256])
    }

    func testSentencePieceStyleTokenizerJSONGivesWayToTokenizerModel() throws {
        try write("tokenizer.json", ["model": ["type": "BPE", "byte_fallback": true, "vocab": [:], "merges": []]])
        try FileManager.default.copyItem(at: Fixtures.tok512Model, to: dir.appendingPathComponent("tokenizer.model"))
        let files = try TokenizerFiles.load(directory: dir)
        XCTAssertEqual(files.source.lastPathComponent, "tokenizer.model")
        XCTAssertTrue(files.tokenizer is SentencePieceTokenizer)
    }
}
