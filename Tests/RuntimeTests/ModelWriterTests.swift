import XCTest
@testable import Runtime
import TestSupport

final class ModelWriterTests: XCTestCase {
    /// The writer's items made eagerly, the way it made them before it streamed: every parameter
    /// as stored (block linears in their storage's tensors, the rest dense float32).
    func storedParameterItems(_ model: CausalLM) -> [SafetensorsWriter.Item] {
        let compressed = model.blockLinearNames.compactMap { n in model.linear(n).flatMap { $0.storageKind == .dense ? nil : (n, $0) } }
        var items = model.namedParameters(skipping: Set(compressed.map { $0.0 + ".weight" }))
            .map { SafetensorsWriter.Item(name: $0.name, tensor: $0.tensor) }
        for (name, l) in compressed { items += l.storageItems(name: name) }
        return items
    }

    func testRoundTripReloadsIdentically() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["tiny-opt", "tiny-llama", "stories260K"] {
            let files = try ModelFiles.open(Fixtures.fixture(name))
            let model = try loadModel(files)
            let out = dir + "/" + name
            try writeAtomically(out, overwrite: false) { tmp in try ModelWriter.write(model: model, source: files, to: tmp) }
            let again = try loadModel(ModelFiles.open(out))
            let ids: [Int32] = [1, 7, 300, 42, 5]
            XCTAssertEqual(try InferenceSession(model: again).logitsForAll(ids), try InferenceSession(model: model).logitsForAll(ids), name)
            if name == "stories260K" { XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/tokenizer.model")) }
        }
    }

    /// The streaming writer (each block linear's bytes made when written) writes the very file the
    /// eager one does: dense f32, dense rounded to bf16, and compressed 16-bit storages; an item whose
    /// bytes differ from its declared size is an error naming it.
    func testLazyItemsWriteTheSameFileAsEagerOnes() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try ModelFiles.open(Fixtures.fixture("tiny-llama"))
        let dense = try loadModel(files)
        let sparse = try loadModel(files)
        _ = SparseModelTests.mask(sparse, .twoFour, seed: 3)
        try compressStorages(model: sparse, structuredMasks: nil, policy: StoragePolicy(dtype: .f16))
        for (label, model, dtype) in [("dense f32", dense, WeightDType.f32), ("dense bf16", dense, .bf16), ("2:4 f16", sparse, .f16)] {
            let meta = ["format": "pt"]
            try SafetensorsWriter.write(storedParameterItems(model).map { $0.rounded(to: dtype) }, metadata: meta, to: dir + "/eager")
            try SafetensorsWriter.write(lazy: storedParameterLazyItems(model, dtype: dtype), metadata: meta, to: dir + "/lazy")
            let eager = try Data(contentsOf: URL(fileURLWithPath: dir + "/eager")), lazy = try Data(contentsOf: URL(fileURLWithPath: dir + "/lazy"))
            XCTAssertGreaterThan(eager.count, 1000, label)
            XCTAssertEqual(eager, lazy, label)
        }
        let bad = SafetensorsWriter.LazyItem(name: "w", dtype: .f32, shape: [2], byteCount: 8) { [0, 0, 0, 0] }
        XCTAssertThrowsError(try SafetensorsWriter.write(lazy: [bad], to: dir + "/bad")) {
            XCTAssertTrue("\($0)".contains("tensor w made 4 bytes, 8 declared"), "\($0)")
        }
    }

    func testAtomicWriteLeavesNothingOnFailure() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        struct Boom: Error {}
        XCTAssertThrowsError(try writeAtomically(dir + "/out", overwrite: false) { tmp in
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: tmp + "/half", contents: Data([1]))
            throw Boom()
        })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
        // an existing output is kept unless overwrite is asked for
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        XCTAssertThrowsError(try writeAtomically(dir + "/out", overwrite: false) { _ in })
        try writeAtomically(dir + "/out", overwrite: true) { tmp in
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: tmp + "/new", contents: Data([2]))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/out"), ["new"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out"])
    }

    func testGGUFMetadataRoundTrip() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let meta: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("tokenizer.ggml.tokens", .array([.string("a"), .string("b c"), .string("<|im_end|>")])),
            ("tokenizer.ggml.scores", .array([.float(0.5), .float(-1)])),
            ("tokenizer.ggml.bos_token_id", .uint(1)),
            ("tokenizer.ggml.add_bos_token", .bool(false)),
            ("x.neg", .int(-3)),
        ]
        try GGUFMetadataWriter.write(meta, to: dir + "/t.gguf")
        let g = try GGUFFile(path: dir + "/t.gguf")
        for (k, v) in meta { XCTAssertEqual(g.metadata[k], v, k) }
        XCTAssertTrue(g.tensors.isEmpty)
    }
}
