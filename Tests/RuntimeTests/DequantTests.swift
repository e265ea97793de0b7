import XCTest
@testable import Runtime
import TestSupport

/// GGUF block formats and 16-bit floats against their explicit formulas.
final class DequantTests: XCTestCase {
    func half(_ x: Float) -> [UInt8] { withUnsafeBytes(of: Float16(x).bitPattern.littleEndian) { Array($0) } }

    func run(_ type: GGMLType, _ bytes: [UInt8], _ n: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: n)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { dequantize(type, src.baseAddress!, $0.baseAddress!, n) } }
        return out
    }

    func testQ4_0() {
        let qs: [UInt8] = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        let got = run(.q4_0, half(0.5) + qs, 32)
        for j in 0..<16 {
            XCTAssertEqual(got[j], Float(j - 8) * 0.5)
            XCTAssertEqual(got[j + 16], Float(15 - j - 8) * 0.5)
        }
    }

    func testQ4_1() {
        let qs: [UInt8] = (0..<16).map { UInt8($0) | UInt8(($0 * 3) % 16) << 4 }
        let got = run(.q4_1, half(0.25) + half(-1.5) + qs, 32)
        for j in 0..<16 {
            XCTAssertEqual(got[j], Float(j) * 0.25 - 1.5)
            XCTAssertEqual(got[j + 16], Float((j * 3) % 16) * 0.25 - 1.5)
        }
    }

    func testQ8_0TwoBlocks() {
        let q1: [UInt8] = (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        let q2: [UInt8] = (0..<32).map { UInt8(bitPattern: Int8(-$0 * 4)) }
        let got = run(.q8_0, half(2) + q1 + half(0.125) + q2, 64)
        for j in 0..<32 {
            XCTAssertEqual(got[j], Float(j - 16) * 2)
            XCTAssertEqual(got[32 + j], Float(-j * 4) * 0.125)
        }
    }

    func testHalfAndBFloat16() {
        let values: [Float] = [0, 1, -2.5, 65504, 6.1035156e-05, 3.140625]
        let f16 = values.flatMap(half)
        XCTAssertEqual(run(.f16, f16, values.count), values)
        let bf: [UInt8] = values.flatMap { v in withUnsafeBytes(of: floatToBFloat16(v).littleEndian) { Array($0) } }
        let back = run(.bf16, bf, values.count)
        for (a, b) in zip(values, back) { XCTAssertEqual(a, b, accuracy: abs(a) / 128) }
        XCTAssertEqual(bfloat16ToFloat(0x3F80), 1)
    }

    /// A safetensors file written as F16 and BF16 loads back as float32.
    func testSafetensorsHalfTypes() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v: [Float] = [1, -0.5, 2, 0.25]
        let f16 = v.flatMap(half)
        let bf = v.flatMap { x in withUnsafeBytes(of: floatToBFloat16(x).littleEndian) { Array($0) } }
        try SafetensorsWriter.write([.init(name: "a", dtype: .f16, shape: [2, 2], bytes: f16),
                                     .init(name: "b", dtype: .bf16, shape: [4], bytes: bf),
                                     .init(name: "c", shape: [4], floats: v)], metadata: ["k": "v"], to: dir + "/t.safetensors")
        let f = try SafetensorsFile(path: dir + "/t.safetensors")
        XCTAssertEqual(try f.load("a").data, v)
        XCTAssertEqual(try f.load("a").shape, [2, 2])
        XCTAssertEqual(try f.load("b").data, v)
        XCTAssertEqual(try f.load("c").data, v)
        XCTAssertEqual(f.metadata["k"], "v")
    }

    /// Sharded checkpoints (model.safetensors.index.json) load like a single file.
    func testShardedDirectory() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let src = try SafetensorsFile(path: Fixtures.fixture("tiny-llama/model.safetensors"))
        let names = src.tensorNames
        var map: [String: String] = [:]
        var shards: [[SafetensorsWriter.Item]] = [[], []]
        for (i, n) in names.enumerated() {
            shards[i % 2].append(.init(name: n, tensor: try src.load(n)))
            map[n] = "model-0000\(i % 2 + 1)-of-00002.safetensors"
        }
        for s in 0..<2 { try SafetensorsWriter.write(shards[s], to: dir + "/model-0000\(s + 1)-of-00002.safetensors") }
        try JSONSerialization.data(withJSONObject: ["weight_map": map]).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        try FileManager.default.copyItem(atPath: Fixtures.fixture("tiny-llama/config.json"), toPath: dir + "/config.json")
        let a = try InferenceSession(model: loadModel(ModelFiles.open(dir))).logitsForAll([1, 5, 9, 200])
        let b = try InferenceSession(model: Fixtures.model("tiny-llama")).logitsForAll([1, 5, 9, 200])
        XCTAssertEqual(a, b)
    }

    /// The shards' metadata (a compressed model's storage tags) is seen through the index, and
    /// shards that disagree on a key are refused.
    func testShardedMetadata() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func shards(_ second: [String: String]) throws -> ShardedSafetensors {
            try SafetensorsWriter.write([.init(name: "a", shape: [2], floats: [1, 2])], metadata: ["k": "v"], to: dir + "/s1.safetensors")
            try SafetensorsWriter.write([.init(name: "b", shape: [2], floats: [3, 4])], metadata: second, to: dir + "/s2.safetensors")
            try JSONSerialization.data(withJSONObject: ["weight_map": ["a": "s1.safetensors", "b": "s2.safetensors"]])
                .write(to: URL(fileURLWithPath: dir + "/index.json"))
            return try ShardedSafetensors(indexPath: dir + "/index.json", directory: dir)
        }
        let s = try shards(["t": "2:4"])
        XCTAssertEqual(s.metadata, ["k": "v", "t": "2:4"])
        XCTAssertThrowsError(try shards(["k": "w"])) { XCTAssertTrue("\($0)".contains("disagree"), "\($0)") }
    }
}
