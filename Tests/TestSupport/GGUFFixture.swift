import Foundation
import Runtime

/// A Llama fixture (Hugging Face directory) written as a GGUF file the way llama.cpp's converter
/// does: GGUF tensor names, q/k rows permuted into llama.cpp's RoPE layout, norms F32 and the
/// matrices in `type` (F16, BF16 or F32). No tokenizer metadata.
public enum GGUFFixture {
    public static func write(_ fixture: String, type: GGMLType, to path: String) throws {
        let files = try ModelFiles.open(Fixtures.fixture(fixture))
        let c = files.config, a = ArchitectureDescriptor.llama
        precondition(c.architecture == .llama, "GGUFFixture writes Llama fixtures only")
        var meta: [(String, GGUFValue)] = [("general.architecture", .string("llama"))]
        for (k, v) in [("embedding_length", c.hiddenSize), ("attention.head_count", c.numHeads),
                       ("attention.head_count_kv", c.numKVHeads), ("attention.key_length", c.headDim),
                       ("block_count", c.numLayers), ("feed_forward_length", c.intermediateSize),
                       ("context_length", c.maxPositions), ("vocab_size", c.vocabSize)] {
            meta.append(("llama." + k, .uint(UInt64(v))))
        }
        meta.append(("llama.attention.layer_norm_rms_epsilon", .float(Double(c.normEps))))
        meta.append(("llama.rope.freq_base", .float(Double(c.ropeTheta))))
        var tensors: [GGUFMetadataWriter.Tensor] = []
        for name in files.weights.tensorNames {
            guard let g = ggufName(name, a) else { continue }
            let t = try files.weights.load(name)
            var values = t.data
            let linear = name.hasSuffix(".weight") ? a.parseLinear(String(name.dropLast(7))) : nil
            if let (_, s) = linear, a.linears[s].role == .attentionQuery || a.linears[s].role == .attentionKey {
                let heads = a.linears[s].role == .attentionQuery ? c.numHeads : c.numKVHeads
                values = permuteRoPERows(values, rows: t.rows, cols: t.cols, heads: heads)
            }
            let matrix = t.shape.count == 2
            let tt: GGMLType = matrix ? type : .f32
            let bytes: [UInt8]
            switch tt {
            case .f16: bytes = values.map { Float16($0).bitPattern.littleEndian }.withUnsafeBytes { Array($0) }
            case .bf16: bytes = values.map { floatToBFloat16($0).littleEndian }.withUnsafeBytes { Array($0) }
            default: bytes = values.withUnsafeBytes { Array($0) }
            }
            tensors.append(.init(name: g, shape: t.shape, type: tt, bytes: bytes))
        }
        try GGUFMetadataWriter.write(meta, tensors: tensors, to: path)
    }

    /// The GGUF name of a Hugging Face tensor name, nil for one GGUF does not hold.
    static func ggufName(_ hf: String, _ a: ArchitectureDescriptor) -> String? {
        for t in a.globalTensors { if let g = t.gguf, hf.hasPrefix(t.hf + ".") { return g + hf.dropFirst(t.hf.count) } }
        guard hf.hasPrefix(a.blockPrefix) else { return nil }
        let rest = hf.dropFirst(a.blockPrefix.count)
        guard let dot = rest.firstIndex(of: "."), let block = Int(rest[..<dot]) else { return nil }
        let inner = String(rest[rest.index(after: dot)...])
        let pairs = a.linears.map { ($0.hf, $0.gguf) } + a.blockNorms.map { ($0.hf, $0.gguf) }
        for (h, g) in pairs {
            if let g, inner.hasPrefix(h + ".") { return "blk.\(block).\(g)" + inner.dropFirst(h.count) }
        }
        return nil
    }

    /// llama.cpp's permutation of q/k rows (inverse of `unpermuteRoPERows`): within each head,
    /// GGUF row 2j+t holds Hugging Face row t·(d/2)+j.  w: [rows, cols] -> [rows, cols]
    public static func permuteRoPERows(_ w: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
        let d = rows / heads, half = d / 2
        var out = w
        for h in 0..<heads {
            for j in 0..<half {
                for t in 0..<2 {
                    let to = (h * d + 2 * j + t) * cols, from = (h * d + t * half + j) * cols
                    for c in 0..<cols { out[to + c] = w[from + c] }
                }
            }
        }
        return out
    }
}
