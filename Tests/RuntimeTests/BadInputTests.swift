import XCTest
@testable import Runtime
import TestSupport

/// Corrupt and unsupported model files give typed errors naming the file (and tensor), never a crash.
final class BadInputTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = Fixtures.tempDir() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let p = dir + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    /// A copy of tiny-llama's directory with the given safetensors bytes / config edits.
    func modelDir(weights: [UInt8]? = nil, config edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let src = Fixtures.fixture("tiny-llama")
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src + "/config.json"))) as! [String: Any]
        edit(&cfg)
        try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let w = try weights ?? [UInt8](Data(contentsOf: URL(fileURLWithPath: src + "/model.safetensors")))
        _ = write("model.safetensors", w)
        return dir
    }

    func expectError(_ expected: (ModelError) -> Bool, _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("no error thrown", file: file, line: line)
        } catch let e as ModelError {
            XCTAssertTrue(expected(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertFalse(e.description.isEmpty)
        } catch {
            XCTFail("untyped error \(error)", file: file, line: line)
        }
    }

    func safetensors(header: String, data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        var n = UInt64(h.count).littleEndian
        return withUnsafeBytes(of: &n) { Array($0) } + h + data
    }

    func testTruncatedSafetensors() throws {
        let full = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.fixture("tiny-llama/model.safetensors"))))
        let d = try modelDir(weights: Array(full.prefix(full.count - 100)))
        expectError({ if case .offsetOutOfRange(_, let t) = $0 { return !t.isEmpty }; return false }) {
            _ = try loadModel(ModelFiles.open(d))
        }
        let p = write("tiny.safetensors", [1, 2, 3])
        expectError({ if case .truncated = $0 { return true }; return false }) { _ = try SafetensorsFile(path: p) }
        let p2 = write("hdr.safetensors", safetensors(header: "{\"a\": {", data: []))
        expectError({ if case .badHeader = $0 { return true }; return false }) { _ = try SafetensorsFile(path: p2) }
    }

    func testOffsetsPastEndOfFile() {
        let p = write("x.safetensors", safetensors(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [0, 0, 0, 0]))
        expectError({ $0 == .offsetOutOfRange(file: p, tensor: "w") }) { _ = try SafetensorsFile(path: p) }
    }

    func testUnknownDType() {
        let p = write("x.safetensors", safetensors(header: #"{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        expectError({ $0 == .unknownDType(file: p, tensor: "w", dtype: "F8_E4M3") }) { _ = try SafetensorsFile(path: p) }
    }

    func testShapeOverflow() {
        let p = write("x.safetensors", safetensors(header: #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        expectError({ $0 == .shapeOverflow(file: p, tensor: "w") }) { _ = try SafetensorsFile(path: p) }
    }

    func testBadGGUFMagic() {
        let p = write("m.gguf", Array("GGML".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 16))
        expectError({ if case .badMagic = $0 { return true }; return false }) { _ = try ModelFiles.open(p) }
        let p2 = write("v.gguf", Array("GGUF".utf8) + [9, 0, 0, 0] + [UInt8](repeating: 0, count: 16))
        expectError({ $0 == .unsupportedVersion(file: p2, version: 9) }) { _ = try ModelFiles.open(p2) }
        let p3 = write("t.gguf", Array("GGUF".utf8) + [3, 0, 0, 0, 1, 0])
        expectError({ if case .truncated = $0 { return true }; return false }) { _ = try ModelFiles.open(p3) }
    }

    func testGGUFTruncatedTensorData() throws {
        // a valid GGUF header whose one tensor lies past the end of the file
        var b: [UInt8] = Array("GGUF".utf8) + le(UInt32(3)) + le(UInt64(1)) + le(UInt64(1))
        b += str("general.architecture") + le(UInt32(8)) + str("llama")
        b += str("token_embd.weight") + le(UInt32(2)) + le(UInt64(32)) + le(UInt64(4)) + le(UInt32(0)) + le(UInt64(0))
        while b.count % 32 != 0 { b.append(0) }
        b += [UInt8](repeating: 0, count: 64)   // 512 bytes needed
        let p = write("trunc.gguf", b)
        expectError({ $0 == .offsetOutOfRange(file: p, tensor: "token_embd.weight") }) { _ = try GGUFFile(path: p) }
    }

    func testGGUFUnsupportedArchitecture() throws {
        var b: [UInt8] = Array("GGUF".utf8) + le(UInt32(3)) + le(UInt64(0)) + le(UInt64(1))
        b += str("general.architecture") + le(UInt32(8)) + str("mamba")
        let p = write("arch.gguf", b)
        expectError({ $0 == .unsupportedArchitecture(file: p, name: "mamba") }) { _ = try ModelFiles.open(p) }
    }

    func testMissingConfigKey() throws {
        let d = try modelDir { $0.removeValue(forKey: "hidden_size") }
        expectError({ $0 == .missingConfigKey(file: d + "/config.json", key: "hidden_size") }) { _ = try ModelFiles.open(d) }
    }

    func testUnknownArchitecture() throws {
        let d = try modelDir { $0["model_type"] = "bert" }
        expectError({ $0 == .unsupportedArchitecture(file: d + "/config.json", name: "bert") }) { _ = try ModelFiles.open(d) }
    }

    func testShapeMismatch() throws {
        let d = try modelDir { $0["intermediate_size"] = 100 }
        expectError({ $0 == .shapeMismatch(file: d + "/model.safetensors", tensor: "model.layers.0.mlp.gate_proj.weight",
                                           expected: [100, 64], found: [192, 64]) }) {
            _ = try loadModel(ModelFiles.open(d))
        }
    }

    func testMissingTensor() throws {
        // A config counting more blocks than the file holds is refused by its key when the model is opened.
        let d = try modelDir { $0["num_hidden_layers"] = 3 }
        expectError({ if case .valueOutOfRange(d + "/config.json", "num_hidden_layers", "3", _) = $0 { return true }; return false }) {
            _ = try loadModel(ModelFiles.open(d))
        }
    }

    func testNaNWeightsRefused() throws {
        let p = write("nan.safetensors", safetensors(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0xC0, 0x7F]))
        let f = try SafetensorsFile(path: p)
        expectError({ $0 == .nonFinite(file: p, tensor: "w") }) { _ = try f.load("w", shape: [1]) }
    }

    func testPickleRefused() throws {
        let p = write("pytorch_model.bin", [0x80, 0x02, 0x7D, 0x71, 0x00])
        expectError({ $0 == .pickleRefused(file: p) }) { _ = try ModelFiles.open(p) }
        try FileManager.default.removeItem(atPath: dir + "/pytorch_model.bin")
        // a directory with only a pickle checkpoint
        let sub = dir + "/hf"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: sub + "/config.json", contents: Data("{}".utf8))
        _ = FileManager.default.createFile(atPath: sub + "/pytorch_model.bin", contents: Data([0x80, 0x02]))
        expectError({ $0 == .pickleRefused(file: sub + "/pytorch_model.bin") }) { _ = try ModelFiles.open(sub) }
        XCTAssertTrue(ModelError.pickleRefused(file: "x").description.contains("safetensors"))
    }

    func testMissingFile() {
        expectError({ $0 == .fileNotFound(path: "/nonexistent/model") }) { _ = try ModelFiles.open("/nonexistent/model") }
    }

    func testPromptLongerThanContext() throws {
        let model = try Fixtures.model("tiny-llama")
        let s = InferenceSession(model: model, capacity: 8)
        XCTAssertThrowsError(try s.feed([Int32](repeating: 1, count: 9))) {
            XCTAssertEqual($0 as? InferenceError, .contextOverflow(needed: 9, capacity: 8))
        }
        XCTAssertThrowsError(try s.feed([1, 512])) { XCTAssertEqual($0 as? InferenceError, .invalidToken(id: 512, vocabSize: 512)) }
        XCTAssertEqual(s.position, 0, "a refused prompt leaves the cache untouched")
    }

    private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    private func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
}
