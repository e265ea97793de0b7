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

    /// The chunked 16-bit load (a few thousand elements at a time) equals dequantizing the whole
    /// tensor to float32 and rounding it, for each block type, across chunk boundaries and a
    /// partial last chunk (16,480 elements: two chunks of 8,192 and 96).
    func testChunked16BitLoadEqualsWholeTensorRounding() throws {
        var rng = SystemRandomNumberGenerator()
        let shape = [5, 3296]   // rows of 103 blocks of 32
        let n = shape[0] * shape[1]
        func blocks(_ bytes: Int, scales: Int) -> [UInt8] {
            (0..<(n / 32)).flatMap { _ in
                (0..<scales).flatMap { _ in half(Float.random(in: -2...2, using: &rng)) }
                    + (0..<(bytes - 2 * scales)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
        }
        let floats = (0..<n).map { _ in Float.random(in: -3...3, using: &rng) }
        let tensors: [GGUFMetadataWriter.Tensor] = [
            .init(name: "q4_0", shape: shape, type: .q4_0, bytes: blocks(18, scales: 1)),
            .init(name: "q4_1", shape: shape, type: .q4_1, bytes: blocks(20, scales: 2)),
            .init(name: "q8_0", shape: shape, type: .q8_0, bytes: blocks(34, scales: 1)),
            .init(name: "f32", shape: shape, type: .f32, bytes: floats.withUnsafeBytes { Array($0) }),
        ]
        let path = Fixtures.tempDir() + "/chunks.gguf"
        try GGUFMetadataWriter.write([("general.architecture", .string("llama"))], tensors: tensors, to: path)
        let g = try GGUFFile(path: path)
        for t in tensors {
            let whole = try g.load(t.name).data
            XCTAssertEqual(try g.load16(t.name, as: F16.self), whole.map(F16.round), t.name)
            XCTAssertEqual(try g.load16(t.name, as: BF16.self), whole.map(BF16.round), t.name)
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
