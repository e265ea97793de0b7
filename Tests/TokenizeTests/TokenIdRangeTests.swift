import Foundation
import XCTest
@testable import Tokenize
import TestSupport

/// Token ids read from tokenizer files are checked before they size the vocabulary: an id far past
/// the number of entries is refused with the file and the id named, never a 34 GB allocation
/// (issue 20, defect 3); an id outside Int32 is refused, never truncated to another id.
final class TokenIdRangeTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Loads the directory and returns the `malformed` error's path and reason.
    func refusal(_ url: URL, file: StaticString = #filePath, line: UInt = #line) -> (path: String, reason: String)? {
        do {
            _ = try TokenizerFiles.load(directory: url)
            XCTFail("accepted", file: file, line: line)
        } catch TokenizerError.malformed(let path, let reason) {
            return (path, reason)
        } catch {
            XCTFail("unexpected error: \(error)", file: file, line: line)
        }
        return nil
    }

    func smol(_ edit: @escaping (inout [String: Any], inout [String: Any]) -> Void) throws -> URL {
        try PatchedFiles.tokenizerDirectory("smollm2-tokenizer", into: dir, file: "tokenizer.json") { root in
            var model = root["model"] as? [String: Any] ?? [:]
            edit(&root, &model)
            root["model"] = model
        }
    }

    func testHugeIdInTokenizerJSONVocabIsRefused() throws {
        let url = try smol { _, model in
            var vocab = model["vocab"] as? [String: Any] ?? [:]
            vocab["Ġworld"] = 2_147_483_647
            model["vocab"] = vocab
        }
        let r = try XCTUnwrap(refusal(url))
        XCTAssertEqual(r.path, url.appendingPathComponent("tokenizer.json").path)
        XCTAssertTrue(r.reason.contains("2147483647") && r.reason.contains("Ġworld"), r.reason)
    }

    func testHugeIdInAddedTokensIsRefused() throws {
        let url = try smol { root, _ in
            var added = root["added_tokens"] as? [[String: Any]] ?? []
            added.append(["id": 2_147_483_647, "content": "<|huge|>", "special": true])
            root["added_tokens"] = added
        }
        let r = try XCTUnwrap(refusal(url))
        XCTAssertTrue(r.reason.contains("2147483647") && r.reason.contains("<|huge|>"), r.reason)
    }

    /// A small byte-level tokenizer.json ("a", "b", "ab", "Ġ") with `edit` applied to its root.
    func small(_ edit: (inout [String: Any]) -> Void) throws -> URL {
        var root: [String: Any] = [
            "model": ["type": "BPE", "vocab": ["a": 0, "b": 1, "ab": 2, "Ġ": 3], "merges": ["a b"]] as [String: Any],
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false] as [String: Any],
            "added_tokens": [["id": 4, "content": "<|end|>", "special": true] as [String: Any]],
        ]
        edit(&root)
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: "\(dir)/tokenizer.json"))
        return URL(fileURLWithPath: dir)
    }

    func testSmallTokenizerLoads() throws {
        let t = try TokenizerFiles.load(directory: small { _ in }).tokenizer
        XCTAssertEqual(t.encode("ab", addSpecialTokens: false), [2])
        XCTAssertEqual(t.vocabSize, 5)
    }

    func testIdsOutsideInt32AreRefusedNotTruncated() throws {
        // 2^32 + 2 would become id 2 ("ab") through a truncating conversion.
        for id in [3_000_000_000, 4_294_967_298, -1] {
            let url = try small {
                var model = $0["model"] as? [String: Any] ?? [:]
                model["vocab"] = ["a": 0, "b": 1, "ab": 2, "Ġ": 3, "ba": id]
                $0["model"] = model
            }
            let r = try XCTUnwrap(refusal(url))
            XCTAssertTrue(r.reason.contains("\(id)") && r.reason.contains("ba"), r.reason)
        }
        let url = try small { $0["added_tokens"] = [["id": 4_294_967_300, "content": "<|end|>"] as [String: Any]] }
        XCTAssertTrue(try XCTUnwrap(refusal(url)).reason.contains("4294967300"))
    }

    func testHugeIdInVocabJSONIsRefused() throws {
        let url = try PatchedFiles.tokenizerDirectory("gpt2-tokenizer", into: dir, file: "vocab.json") { $0["hello"] = 2_147_483_647 }
        let r = try XCTUnwrap(refusal(url))
        XCTAssertEqual(r.path, url.appendingPathComponent("vocab.json").path)
        XCTAssertTrue(r.reason.contains("2147483647") && r.reason.contains("hello"), r.reason)
    }

    func testHugeAddedTokenIdInTokenizerConfigNamesThatFile() throws {
        let url = try PatchedFiles.tokenizerDirectory("gpt2-tokenizer", into: dir, file: "tokenizer_config.json") {
            $0["added_tokens_decoder"] = ["2147483647": ["content": "<|huge|>", "special": true] as [String: Any]]
        }
        let r = try XCTUnwrap(refusal(url))
        XCTAssertEqual(r.path, url.appendingPathComponent("tokenizer_config.json").path)
        XCTAssertTrue(r.reason.contains("2147483647"), r.reason)
    }

    func testGapsWithinTheAllowanceStillLoad() throws {
        let id = 50257 + 1000
        let url = try PatchedFiles.tokenizerDirectory("gpt2-tokenizer", into: dir, file: "vocab.json") { $0["<|gap|>"] = id }
        let t = try TokenizerFiles.load(directory: url).tokenizer
        XCTAssertEqual(t.vocabSize, id + 1)
        XCTAssertEqual(t.tokenId(for: "<|gap|>"), Int32(id))
        XCTAssertEqual(t.piece(for: Int32(id - 1)), "")
    }

    func testPostProcessorIdOutsideInt32IsRefused() throws {
        let url = try small {
            $0["post_processor"] = ["type": "RobertaProcessing", "cls": ["a", 4_294_967_297] as [Any], "sep": ["b", 1] as [Any]] as [String: Any]
        }
        let r = try XCTUnwrap(refusal(url))
        XCTAssertTrue(r.reason.contains("4294967297"), r.reason)
    }
}
