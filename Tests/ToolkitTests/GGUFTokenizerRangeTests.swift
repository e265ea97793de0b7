import XCTest
import Runtime
import Tokenize
@testable import Toolkit
import TestSupport

/// The tokenizer numbers of GGUF metadata (`tokenizer.ggml.*_token_id`, `token_type`) are read
/// checked: a value outside Int32 is an error naming the key, never a trap (issue 20, defect 1).
final class GGUFTokenizerRangeTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A SentencePiece-style (`llama`) or byte-level (`gpt2`) vocabulary of five tokens, one key replaced.
    func tokenizerFile(kind: String, setting key: String? = nil, to value: GGUFValue? = nil) throws -> GGUFFile {
        let tokens = kind == "llama" ? ["<unk>", "<s>", "</s>", "\u{2581}a", "a"] : ["<|endoftext|>", "a", "b", "ab", "Ġ"]
        var m: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string(kind)),
            ("tokenizer.ggml.tokens", .array(tokens.map { GGUFValue.string($0) })),
            ("tokenizer.ggml.scores", .array(([0, 0, 0, -1, -2] as [Double]).map { GGUFValue.float($0) })),
            ("tokenizer.ggml.token_type", .array(([2, 3, 3, 1, 1] as [Int64]).map { GGUFValue.int($0) })),
            ("tokenizer.ggml.merges", .array([.string("a b")])),
            ("tokenizer.ggml.bos_token_id", .uint(1)), ("tokenizer.ggml.eos_token_id", .uint(2)),
            ("tokenizer.ggml.unknown_token_id", .uint(0)),
        ]
        if let key, let value {
            m.removeAll { $0.0 == key }
            m.append((key, value))
        }
        let p = "\(dir)/\(kind)-\(UUID().uuidString).gguf"
        try GGUFMetadataWriter.write(m, to: p)
        return try GGUFFile(path: p)
    }

    func refusedKey(_ g: GGUFFile, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            _ = try ModelLoader.tokenizer(gguf: g)
            XCTFail("accepted", file: file, line: line)
        } catch let ModelError.valueOutOfRange(_, key, _, _) {
            return key
        } catch {
            XCTFail("unexpected error: \(error)", file: file, line: line)
        }
        return nil
    }

    func testValidMetadataBuildsBothKinds() throws {
        XCTAssertEqual(try ModelLoader.tokenizer(gguf: tokenizerFile(kind: "llama")).0.vocabSize, 5)
        XCTAssertEqual(try ModelLoader.tokenizer(gguf: tokenizerFile(kind: "gpt2")).0.eosId, 2)
    }

    func testTokenIdsOutsideInt32NameTheKey() throws {
        for kind in ["llama", "gpt2"] {
            for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"] {
                XCTAssertEqual(refusedKey(try tokenizerFile(kind: kind, setting: key, to: .uint(3_000_000_000))), key)
            }
        }
        let unk = "tokenizer.ggml.unknown_token_id"
        XCTAssertEqual(refusedKey(try tokenizerFile(kind: "llama", setting: unk, to: .uint(1 << 31))), unk)
        XCTAssertEqual(refusedKey(try tokenizerFile(kind: "llama", setting: unk, to: .int(-1))), unk)
    }

    func testTokenTypeElementOutsideInt32NamesTheElement() throws {
        let key = "tokenizer.ggml.token_type"
        for kind in ["llama", "gpt2"] {
            let g = try tokenizerFile(kind: kind, setting: key, to: .array(([2, 1 << 32, 3, 1, 1] as [UInt64]).map { GGUFValue.uint($0) }))
            XCTAssertEqual(refusedKey(g), "\(key)[1]")
        }
    }
}
