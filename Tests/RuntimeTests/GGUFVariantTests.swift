import Foundation
import XCTest
@testable import Runtime
import TestSupport

/// Qwen2 and Llama-3 (scaled RoPE) from GGUF files written as llama.cpp's converter writes them:
/// F32 tensors under llama.cpp names (q/k rows permuted for `llama`, not for `qwen2`; Qwen2's
/// `attn_q.bias` ...), `<arch>.*` metadata, and for Llama-3 the `rope_freqs.weight` divisors
/// computed by the converter's formula. The loaded models reproduce the Hugging Face logits.
final class GGUFVariantTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// llama.cpp's permutation of q/k rows (convert_hf_to_gguf `permute`): HF row h·d + t·d/2 + j
    /// becomes GGUF row h·d + 2j + t.  w: [heads·d, C]
    static func permute(_ w: Tensor, heads: Int) -> Tensor {
        let d = w.rows / heads, half = d / 2, C = w.cols
        var out = w.data
        for h in 0..<heads { for j in 0..<half { for t in 0..<2 {
            let from = (h * d + t * half + j) * C, to = (h * d + 2 * j + t) * C
            for c in 0..<C { out[to + c] = w.data[from + c] }
        } } }
        return Tensor(shape: w.shape, data: out)
    }

    /// Llama-3 rope factors as convert_hf_to_gguf computes them (float32 frequencies).
    static func llama3RopeFactors(theta: Double, headDim: Int, factor: Double, low: Double, high: Double, original: Double) -> [Float] {
        (0..<headDim / 2).map { i in
            let freq = Double(Float(1 / pow(theta, Double(2 * i) / Double(headDim))))
            let wavelen = 2 * Double.pi / freq
            if wavelen < original / high { return 1 }
            if wavelen > original / low { return Float(factor) }
            let smooth = (original / wavelen - low) / (high - low)
            return Float(1 / ((1 - smooth) / factor + smooth))
        }
    }

    /// Writes `fixture` as a GGUF file of architecture `arch` and returns its path.
    func writeGGUF(_ fixture: String, arch: String, dir: String, extra: [(String, GGUFValue)] = [],
                   extraTensors: [(String, Tensor)] = []) throws -> String {
        let files = try ModelFiles.open(Fixtures.fixture(fixture))
        let c = files.config, d = c.architecture.descriptor
        let st = try SafetensorsFile(path: Fixtures.fixture(fixture + "/model.safetensors"))
        var tensors: [(String, Tensor)] = []
        for name in st.tensorNames {
            var t = try st.load(name)
            let base = String(name[..<name.lastIndex(of: ".")!]), suffix = String(name[name.lastIndex(of: ".")!...])
            let gguf: String
            if let g = d.globalTensors.first(where: { $0.hf == base })?.gguf {
                gguf = g + suffix
            } else {
                let rest = name.dropFirst(d.blockPrefix.count)
                let b = rest[..<rest.firstIndex(of: ".")!]
                let inner = String(rest[rest.index(after: rest.firstIndex(of: ".")!)...].dropLast(suffix.count))
                let slot = d.linears.first { $0.hf == inner }
                let g = try XCTUnwrap(slot?.gguf ?? d.blockNorms.first { $0.hf == inner }?.gguf, name)
                gguf = "blk.\(b).\(g)\(suffix)"
                if arch == "llama", suffix == ".weight", slot?.role == .attentionQuery { t = Self.permute(t, heads: c.numHeads) }
                if arch == "llama", suffix == ".weight", slot?.role == .attentionKey { t = Self.permute(t, heads: c.numKVHeads) }
            }
            tensors.append((gguf, t))
        }
        tensors += extraTensors
        let p = arch
        let meta: [(String, GGUFValue)] = [
            ("general.architecture", .string(arch)), ("general.alignment", .uint(32)),
            ("\(p).block_count", .uint(UInt64(c.numLayers))), ("\(p).context_length", .uint(UInt64(c.maxPositions))),
            ("\(p).embedding_length", .uint(UInt64(c.hiddenSize))), ("\(p).feed_forward_length", .uint(UInt64(c.intermediateSize))),
            ("\(p).attention.head_count", .uint(UInt64(c.numHeads))), ("\(p).attention.head_count_kv", .uint(UInt64(c.numKVHeads))),
            ("\(p).rope.freq_base", .float(Double(c.ropeTheta))), ("\(p).attention.layer_norm_rms_epsilon", .float(Double(c.normEps))),
            ("\(p).rope.dimension_count", .uint(UInt64(c.headDim))),
        ] + extra
        // metadata through the project's writer, then the tensor table and F32 data appended
        let path = dir + "/\(fixture).gguf"
        try GGUFMetadataWriter.write(meta, to: path)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        withUnsafeBytes(of: UInt64(tensors.count).littleEndian) { for (i, b) in $0.enumerated() { bytes[8 + i] = b } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        var offset: UInt64 = 0
        for (name, t) in tensors {
            u64(UInt64(name.utf8.count)); bytes.append(contentsOf: name.utf8)
            u32(UInt32(t.shape.count))
            for dim in t.shape.reversed() { u64(UInt64(dim)) }
            u32(0)  // F32
            u64(offset)
            offset += UInt64((4 * t.count + 31) / 32 * 32)
        }
        while bytes.count % 32 != 0 { bytes.append(0) }
        for (_, t) in tensors {
            t.data.withUnsafeBytes { bytes.append(contentsOf: $0) }
            while bytes.count % 32 != 0 { bytes.append(0) }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func checkLogits(_ path: String, fixture: String) throws -> CausalLM {
        let model = try loadModel(ModelFiles.open(path))
        let ref = try Fixtures.reference(fixture)
        let ids = try ref.loadInts("input_ids")
        let T = ids.shape[1], V = model.config.vocabSize
        let logits = try InferenceSession(model: model).logitsForAll(Array(ids.data[0..<T]))
        XCTAssertLessThanOrEqual(maxAbsDiff(logits, Array(try ref.load("logits").data[0..<T * V])), 1e-4, path)
        return model
    }

    func testQwen2GGUF() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try checkLogits(try writeGGUF("tiny-qwen2", arch: "qwen2", dir: dir), fixture: "tiny-qwen2")
        XCTAssertEqual(model.config.architecture, .qwen2)
        XCTAssertTrue(model.config.attentionBias)
        XCTAssertNotNil(model.linear("model.layers.1.self_attn.v_proj")?.bias)
        XCTAssertEqual(model.config.ropeTheta, 1e6)
    }

    func testLlama3GGUFWithRopeFreqs() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let factors = Self.llama3RopeFactors(theta: 5e5, headDim: 16, factor: 8, low: 1, high: 4, original: 64)
        let path = try writeGGUF("tiny-llama3", arch: "llama", dir: dir,
                                 extraTensors: [("rope_freqs.weight", Tensor(shape: [8], data: factors))])
        let model = try checkLogits(path, fixture: "tiny-llama3")
        XCTAssertEqual(model.config.ropeScaling, .divisors(factors))
        XCTAssertTrue(model.config.tieEmbeddings)
        // without the divisors the logits are plain RoPE's, far from the reference
        try FileManager.default.createDirectory(atPath: dir + "/plain", withIntermediateDirectories: true)
        let plain = try loadModel(ModelFiles.open(try writeGGUF("tiny-llama3", arch: "llama", dir: dir + "/plain")))
        XCTAssertNil(plain.config.ropeScaling)
        let ids = Array(try Fixtures.reference("tiny-llama3").loadInts("input_ids").data.prefix(48))
        let a = try InferenceSession(model: plain).logitsForAll(ids), b = try InferenceSession(model: model).logitsForAll(ids)
        XCTAssertGreaterThan(maxAbsDiff(a, b), 0.1)
    }

    /// Scaling metadata: linear is applied, yarn refused naming the key; divisors of the wrong size refused.
    func testRopeScalingMetadata() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let linear = try writeGGUF("tiny-llama", arch: "llama", dir: dir,
                                   extra: [("llama.rope.scaling.type", .string("linear")), ("llama.rope.scaling.factor", .float(4))])
        XCTAssertEqual(try ModelFiles.open(linear).config.ropeScaling, .linear(factor: 4))
        try FileManager.default.createDirectory(atPath: dir + "/y", withIntermediateDirectories: true)
        let yarn = try writeGGUF("tiny-llama", arch: "llama", dir: dir + "/y",
                                 extra: [("llama.rope.scaling.type", .string("yarn")), ("llama.rope.scaling.factor", .float(4))])
        XCTAssertThrowsError(try ModelFiles.open(yarn)) { error in
            guard case ModelError.unsupportedConfigKey(_, let key, let detail) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "llama.rope.scaling.type")
            XCTAssertTrue(detail.contains("yarn"), detail)
        }
        try FileManager.default.createDirectory(atPath: dir + "/f", withIntermediateDirectories: true)
        let wrong = try writeGGUF("tiny-llama", arch: "llama", dir: dir + "/f",
                                  extraTensors: [("rope_freqs.weight", Tensor(shape: [3], data: [1, 2, 3]))])
        XCTAssertThrowsError(try ModelFiles.open(wrong)) { error in
            guard case ModelError.valueOutOfRange(_, let key, _, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "rope_freqs.weight")
        }
    }
}
