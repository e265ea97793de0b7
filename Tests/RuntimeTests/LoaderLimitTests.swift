import Foundation
import XCTest
@testable import Runtime
import TestSupport

/// Every integer read from a model file is range-checked against what it sizes or names before it
/// sizes anything; a value out of range is an error naming the key (issue 20, defects 1 and 2).
final class LoaderLimitTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Opens (and, if that succeeds, loads) the model and returns the key of the `valueOutOfRange` it throws.
    func refusedKey(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            _ = try loadModel(ModelFiles.open(path))
            XCTFail("\(path) was accepted", file: file, line: line)
        } catch let ModelError.valueOutOfRange(_, key, _, allowed) {
            XCTAssertFalse(allowed.isEmpty, file: file, line: line)
            return key
        } catch {
            XCTFail("unexpected error: \(error)", file: file, line: line)
        }
        return nil
    }

    func llama(_ edit: (inout [String: Any]) -> Void) throws -> String {
        try PatchedFiles.modelDirectory("tiny-llama", into: dir, editing: edit)
    }

    // MARK: defect 1: integers outside Int32

    func testConfigTokenIdsOutsideTheVocabularyNameTheKey() throws {
        for (key, value) in [("eos_token_id", 3_000_000_000 as Any), ("bos_token_id", 3_000_000_000 as Any),
                             ("eos_token_id", [2, 3_000_000_000] as Any), ("eos_token_id", -5 as Any),
                             ("eos_token_id", 512 as Any)] {
            let d = try llama { $0[key] = value }
            XCTAssertEqual(refusedKey(d), key, "\(key) = \(value)")
            try FileManager.default.removeItem(atPath: dir)
            dir = Fixtures.tempDir()
        }
    }

    func testNonIntegerEOSListEntryIsRefusedNotDropped() throws {
        let d = try llama { $0["eos_token_id"] = [2, "x"] as [Any] }
        XCTAssertThrowsError(try ModelFiles.open(d)) {
            guard case ModelError.invalidConfig(_, let detail) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(detail.contains("eos_token_id"), detail)
        }
    }

    func testDimensionsBeyondInt32NameTheKey() throws {
        for key in ["vocab_size", "hidden_size", "intermediate_size", "num_attention_heads", "head_dim"] {
            let d = try llama { $0[key] = 4_294_967_296 }
            XCTAssertEqual(refusedKey(d), key, key)
            try FileManager.default.removeItem(atPath: dir)
            dir = Fixtures.tempDir()
        }
    }

    func testWeightSizesThatWouldOverflowAreRefusedBeforeLoading() throws {
        // Each value fits Int32, their products do not fit a weight matrix.
        let d = try llama { $0["vocab_size"] = 2_000_000_000; $0["hidden_size"] = 2_000_000_000; $0["head_dim"] = 16 }
        XCTAssertEqual(refusedKey(d), "vocab_size × hidden_size")
    }

    func testMoreLayersThanTheFileHoldsIsRefusedBeforeAllocating() throws {
        let d = try llama { $0["num_hidden_layers"] = 2_147_483_647 }
        XCTAssertEqual(refusedKey(d), "num_hidden_layers")
    }

    func testGGUFEOSPatchedPastInt32NamesTheGGUFKey() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: Fixtures.smolGGUF), "models/fetch.sh not run")
        let p = try PatchedFiles.gguf(Fixtures.smolGGUF, into: dir, key: "tokenizer.ggml.eos_token_id", u32: 3_000_000_000)
        XCTAssertEqual(refusedKey(p), "tokenizer.ggml.eos_token_id")
    }

    func testGGUFNumbersBeyondIntAreRefusedNotDefaulted() throws {
        // A u64 value no Int holds: refused by its key, not taken as absent (context_length would default to 2048).
        for key in ["llama.context_length", "llama.embedding_length", "tokenizer.ggml.bos_token_id"] {
            let p = "\(dir)/\(key).gguf"
            try GGUFMetadataWriter.write(tinyLlamaMetadata(setting: key, to: .uint(UInt64.max)), to: p)
            XCTAssertEqual(refusedKey(p), key)
        }
        let p = "\(dir)/layers.gguf"
        try GGUFMetadataWriter.write(tinyLlamaMetadata(setting: "llama.block_count", to: .uint(1 << 40)), to: p)
        XCTAssertEqual(refusedKey(p), "llama.block_count")
        let p2 = "\(dir)/align.gguf"
        try GGUFMetadataWriter.write(tinyLlamaMetadata(setting: "general.alignment", to: .string("x")), to: p2)
        XCTAssertEqual(refusedKey(p2), "general.alignment")
    }

    /// llama.* metadata of a small model without tensors, one key set to `value`.
    func tinyLlamaMetadata(setting key: String, to value: GGUFValue) -> [(String, GGUFValue)] {
        var m: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")), ("llama.block_count", .uint(2)),
            ("llama.context_length", .uint(128)), ("llama.embedding_length", .uint(64)),
            ("llama.feed_forward_length", .uint(128)), ("llama.attention.head_count", .uint(4)),
            ("llama.vocab_size", .uint(512)), ("tokenizer.ggml.bos_token_id", .uint(1)),
        ]
        m.removeAll { $0.0 == key }
        m.append((key, value))
        return m
    }

    func testGGUFArrayCountBeyondTheBytesLeftIsTruncation() throws {
        // An array of 40 u64 values (320 bytes) with 64 bytes left: refused by its count, before
        // room for the values is reserved and they are read.
        var b: [UInt8] = Array("GGUF".utf8)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        put(UInt32(3)); put(UInt64(0)); put(UInt64(1))
        put(UInt64(1)); b.append(UInt8(ascii: "a")); put(UInt32(9)); put(UInt32(10)); put(UInt64(40))
        b += [UInt8](repeating: 0, count: 64)
        let p = "\(dir)/array.gguf"
        try Data(b).write(to: URL(fileURLWithPath: p))
        XCTAssertThrowsError(try GGUFFile(path: p)) {
            guard case ModelError.truncated(_, let detail) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(detail.contains("an array of 40 values"), detail)
        }
    }

    func testInt64IndexOutsideInt32IsAnErrorNotTruncated() throws {
        let p = "\(dir)/ints.safetensors"
        try SafetensorsWriter.write([.init(name: "idx", dtype: .i64, shape: [2], integers: [Int64(3), Int64(1) << 32 + 5])], to: p)
        XCTAssertThrowsError(try SafetensorsFile(path: p).loadInts("idx")) {
            XCTAssertEqual($0 as? ModelError, .integerTensorOutOfRange(file: p, tensor: "idx", value: Int64(1) << 32 + 5))
        }
    }

    // MARK: defect 2: a huge declared context

    func testHugeContextIsRefusedByItsKey() throws {
        let d = try llama { $0["max_position_embeddings"] = 2_147_483_647 }
        XCTAssertEqual(refusedKey(d), "max_position_embeddings")
        let o = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: o) }
        let opt = try PatchedFiles.modelDirectory("tiny-opt", into: o) { $0["max_position_embeddings"] = 2_147_483_647 }
        XCTAssertEqual(refusedKey(opt), "max_position_embeddings")
    }

    func testGGUFContextPatchedTo2147483647IsRefused() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: Fixtures.smolGGUF), "models/fetch.sh not run")
        let p = try PatchedFiles.gguf(Fixtures.smolGGUF, into: dir, key: "llama.context_length", u32: 2_147_483_647)
        XCTAssertEqual(refusedKey(p), "llama.context_length")
    }

    func testOPTPositionsAreBoundedByTheTensorInTheFile() throws {
        // Within the stated limit, but the file's embed_positions holds 130 rows (128 + the offset of 2).
        let o = try PatchedFiles.modelDirectory("tiny-opt", into: dir) { $0["max_position_embeddings"] = 1 << 20 }
        XCTAssertEqual(refusedKey(o), "max_position_embeddings")
    }

    func testLongContextBuildsOnlyTheRoPERowsItUses() throws {
        let d = try llama { $0["max_position_embeddings"] = ModelConfig.maxContextLength }
        let model = try XCTUnwrap(loadModel(ModelFiles.open(d)) as? LlamaModel)
        XCTAssertEqual(model.contextLength, 1 << 20)
        XCTAssertEqual(model.rope.computedPositions, RoPETable.eagerPositions)
        // The model still runs, and a session sized by what it uses allocates nothing by the context.
        let s = InferenceSession(model: model, capacity: 16)
        XCTAssertEqual(try s.feed([1, 5, 9]).count, 512)
    }

    func testRoPERowsGrownOnUseEqualTheFormula() {
        let d = 8, theta: Float = 10000
        let rope = RoPETable(headDim: d, positions: 1 << 20, theta: theta)
        XCTAssertEqual(rope.computedPositions, RoPETable.eagerPositions)
        let pos0 = 100_000, T = 3
        var x = (0..<(T * d)).map { Float($0 % 7) - 3 }
        let input = x
        x.withUnsafeMutableBufferPointer { rope.apply($0.baseAddress!, ld: d, T: T, heads: 1, pos0: pos0) }
        XCTAssertGreaterThanOrEqual(rope.computedPositions, pos0 + T)
        XCTAssertLessThan(rope.computedPositions, 1 << 20)
        for t in 0..<T {
            for i in 0..<(d / 2) {
                let invFreq = 1.0 / pow(Double(theta), Double(2 * i) / Double(d))
                let a = Double(pos0 + t) * invFreq
                let c = Float(cos(a)), s = Float(sin(a))
                let u = input[t * d + i], v = input[t * d + i + d / 2]
                XCTAssertEqual(x[t * d + i], u * c - v * s, accuracy: 1e-6)
                XCTAssertEqual(x[t * d + i + d / 2], v * c + u * s, accuracy: 1e-6)
            }
        }
    }
}
