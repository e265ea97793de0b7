import Foundation
import Runtime

/// A tiny Llama (1 block, hidden 8, vocabulary 64) written from code: the fuzz targets' seeds and
/// fixed companion files (weights beside a fuzzed config.json, a model beside a fuzzed checkpoint),
/// and what the fuzz regression tests replay their crashers against. Values come from a fixed generator.
public enum TinyModel {
    public static let vocab = 64, hidden = 8, heads = 2, kvHeads = 1, headDim = 4, ff = 16, context = 32

    public static var configJSON: [String: Any] {
        ["architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab, "hidden_size": hidden,
         "intermediate_size": ff, "num_hidden_layers": 1, "num_attention_heads": heads, "num_key_value_heads": kvHeads,
         "head_dim": headDim, "max_position_embeddings": context, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
         "hidden_act": "silu", "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2,
         "attention_bias": false, "mlp_bias": false, "torch_dtype": "float32"]
    }

    /// Hugging Face tensor names and shapes (tied head: no lm_head).
    public static var shapes: [(String, [Int])] {
        let p = "model.layers.0."
        return [("model.embed_tokens.weight", [vocab, hidden]), ("model.norm.weight", [hidden]),
                (p + "input_layernorm.weight", [hidden]), (p + "post_attention_layernorm.weight", [hidden]),
                (p + "self_attn.q_proj.weight", [heads * headDim, hidden]), (p + "self_attn.k_proj.weight", [kvHeads * headDim, hidden]),
                (p + "self_attn.v_proj.weight", [kvHeads * headDim, hidden]), (p + "self_attn.o_proj.weight", [hidden, heads * headDim]),
                (p + "mlp.gate_proj.weight", [ff, hidden]), (p + "mlp.up_proj.weight", [ff, hidden]),
                (p + "mlp.down_proj.weight", [hidden, ff])]
    }

    /// Deterministic values in [-0.5, 0.5) (norm weights near 1).
    public static func values(_ n: Int, seed: UInt64, norm: Bool = false) -> [Float] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            let u = Float(s >> 40) / Float(1 << 24) - 0.5
            return norm ? 1 + u / 4 : u
        }
    }

    public static var tensors: [SafetensorsWriter.Item] {
        shapes.enumerated().map { i, e in
            SafetensorsWriter.Item(name: e.0, shape: e.1, floats: values(e.1.reduce(1, *), seed: UInt64(i), norm: e.1.count == 1))
        }
    }

    /// config.json + model.safetensors in `dir`; `bf16` stores the weights as BF16.
    public static func writeDirectory(_ dir: String, bf16: Bool = false) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = try JSONSerialization.data(withJSONObject: configJSON, options: [.sortedKeys, .prettyPrinted])
        try config.write(to: URL(fileURLWithPath: dir + "/config.json"))
        var items = tensors
        if bf16 {
            items = items.map { it in
                let floats = it.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                return SafetensorsWriter.Item(name: it.name, dtype: .bf16, shape: it.shape, integers: floats.map(floatToBFloat16))
            }
        }
        try SafetensorsWriter.write(items, to: dir + "/model.safetensors")
    }
}
