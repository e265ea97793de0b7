import XCTest
@testable import Runtime
import TestSupport

final class ModelWriterTests: XCTestCase {
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
