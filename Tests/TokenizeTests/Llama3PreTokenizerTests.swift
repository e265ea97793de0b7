import Foundation
import XCTest
@testable import Tokenize

/// Llama-3's and Qwen2's pre-tokenizer patterns against the splits of the regexes themselves (the
/// expected words were produced by Python's `regex` module, which implements \p{L}, \p{N} and the
/// lookahead as Hugging Face tokenizers' Oniguruma does), and their tokenizer.json loading.
final class Llama3PreTokenizerTests: XCTestCase {
    /// (text, Llama-3 words, Qwen2 words)
    static let cases: [(String, [String], [String])] = [
        ("Hello's  world 12345 ñ\n\n x",
         ["Hello", "'s", " ", " world", " ", "123", "45", " ñ", "\n\n", " x"],
         ["Hello", "'s", " ", " world", " ", "1", "2", "3", "4", "5", " ñ", "\n\n", " x"]),
        ("I'M HERE'S 'twas", ["I", "'M", " HERE", "'S", " '", "twas"], ["I", "'M", " HERE", "'S", " '", "twas"]),
        ("x=  (a+b)!!\n\n\n  \tdone",
         ["x", "=", " ", " (", "a", "+b", ")!!\n\n\n", "  ", "\tdone"],
         ["x", "=", " ", " (", "a", "+b", ")!!\n\n\n", "  ", "\tdone"]),
        ("tabs\tand\u{a0}nbsp 3.14159",
         ["tabs", "\tand", "\u{a0}nbsp", " ", "3", ".", "141", "59"],
         ["tabs", "\tand", "\u{a0}nbsp", " ", "3", ".", "1", "4", "1", "5", "9"]),
        ("  leading and trailing  ", [" ", " leading", " and", " trailing", "  "], [" ", " leading", " and", " trailing", "  "]),
        ("line1\r\nline2\n", ["line", "1", "\r\n", "line", "2", "\n"], ["line", "1", "\r\n", "line", "2", "\n"]),
        ("日本語テキスト123", ["日本語テキスト", "123"], ["日本語テキスト", "1", "2", "3"]),
        ("'' ''s 'Ll", ["''", " ''", "s", " '", "Ll"], ["''", " ''", "s", " '", "Ll"]),
        ("\t\tword", ["\t", "\tword"], ["\t", "\tword"]),
        ("a\n \n b", ["a", "\n \n", " b"], ["a", "\n \n", " b"]),
        ("…?!”quote”\n", ["…?!”", "quote", "”\n"], ["…?!”", "quote", "”\n"]),
    ]

    func testSplitsMatchTheRegexes() {
        for (text, llama3, qwen2) in Self.cases {
            XCTAssertEqual(PreTokenizer.llama3.words(in: text), llama3, text.debugDescription)
            XCTAssertEqual(PreTokenizer.qwen2.words(in: text), qwen2, text.debugDescription)
        }
        XCTAssertEqual(PreTokenizer.llama3.words(in: ""), [])
    }

    /// A tokenizer.json with the byte-level alphabet, a few merges, `pre_tokenizer` as Llama-3 and
    /// Qwen2 files write it, and `normalizer`.
    func tokenizerJSON(pattern: String, normalizer: Any = NSNull(), byteLevel: [String: Any]? = nil,
                       behavior: String = "Isolated") throws -> URL {
        var vocab: [String: Int] = [:]
        for b in 0...255 { vocab[ByteLevelAlphabet.string(forByte: UInt8(b))] = b }
        let merges = [["Ġ", "w"], ["Ġw", "o"], ["1", "2"], ["12", "3"]]
        for m in merges { vocab[m[0] + m[1]] = vocab.count }
        let root: [String: Any] = [
            "version": "1.0", "normalizer": normalizer,
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": pattern], "behavior": behavior, "invert": false],
                byteLevel ?? ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            ]],
            "added_tokens": [["id": vocab.count, "content": "<|endoftext|>", "special": true]],
            "model": ["type": "BPE", "vocab": vocab, "merges": merges],
        ]
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("tok-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: root).write(to: url)
        return url
    }

    func testTokenizerJSONLoadsBothPatterns() throws {
        let l3 = try ByteLevelBPETokenizer(tokenizerJSON: tokenizerJSON(pattern: PreTokenizer.llama3Pattern))
        XCTAssertEqual(l3.preTokenizer, .llama3)
        XCTAssertFalse(l3.normalizesNFC)
        let qw = try ByteLevelBPETokenizer(tokenizerJSON: tokenizerJSON(pattern: PreTokenizer.qwen2Pattern,
                                                                         normalizer: ["type": "NFC"]))
        XCTAssertEqual(qw.preTokenizer, .qwen2)
        XCTAssertTrue(qw.normalizesNFC)
        // "123" is one word for Llama-3 (merged to one token), three for Qwen2
        let t123 = try XCTUnwrap(l3.tokenId(for: "123"))
        XCTAssertEqual(l3.encode("123 wo", addSpecialTokens: false), [t123, try XCTUnwrap(l3.tokenId(for: "Ġwo"))])
        XCTAssertEqual(qw.encode("123", addSpecialTokens: false).count, 3)
        let text = "Hello's  world 12345 ñ\n\n x<|endoftext|>"
        XCTAssertEqual(l3.decode(l3.encode(text, addSpecialTokens: false)), text)
        XCTAssertEqual(qw.decode(qw.encode(text, addSpecialTokens: false)), text)
        // NFC: a decomposed é encodes as the composed one under Qwen2's normalizer, not without it
        let composed = "caf\u{e9}", decomposed = "cafe\u{301}"
        XCTAssertEqual(qw.encode(decomposed, addSpecialTokens: false), qw.encode(composed, addSpecialTokens: false))
        XCTAssertNotEqual(l3.encode(decomposed, addSpecialTokens: false), l3.encode(composed, addSpecialTokens: false))
    }

    /// What Tokenize does not implement is refused, naming it.
    func testUnimplementedNormalizersAndPreTokenizersAreRefused() throws {
        func reason(_ url: URL) -> String {
            do {
                _ = try ByteLevelBPETokenizer(tokenizerJSON: url)
                return "accepted"
            } catch TokenizerError.unsupported(_, let r) {
                return r
            } catch {
                return "other: \(error)"
            }
        }
        XCTAssertTrue(reason(try tokenizerJSON(pattern: PreTokenizer.qwen2Pattern, normalizer: ["type": "NFKC"])).contains("NFKC"))
        XCTAssertTrue(reason(try tokenizerJSON(pattern: PreTokenizer.llama3Pattern, normalizer: ["type": "Lowercase"])).contains("Lowercase"))
        let other = #"\p{L}+|\p{N}+"#
        XCTAssertTrue(reason(try tokenizerJSON(pattern: other)).contains(other))
        XCTAssertTrue(reason(try tokenizerJSON(pattern: PreTokenizer.llama3Pattern, behavior: "Removed")).contains("Removed"))
        XCTAssertTrue(reason(try tokenizerJSON(pattern: PreTokenizer.llama3Pattern,
                                               byteLevel: ["type": "Metaspace", "replacement": "▁"])).contains("Metaspace"))
    }
}
