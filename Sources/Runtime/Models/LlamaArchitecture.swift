import Foundation

/// Llama (and SmolLM2, Mistral without a sliding window): RMSNorm, RoPE (rotate-half),
/// grouped-query attention, SiLU-gated MLP, optional biases, tied or untied lm_head.
extension ArchitectureDescriptor {
    public static let llama = ArchitectureDescriptor(
        kind: .llama,
        modelTypes: ["llama", "mistral", "smollm", "smollm2"],
        ggufArchitectures: ["llama"],
        blockPrefix: "model.layers.",
        linears: [
            LinearSlot(hf: "self_attn.q_proj", gguf: "attn_q", role: .attentionQuery),
            LinearSlot(hf: "self_attn.k_proj", gguf: "attn_k", role: .attentionKey),
            LinearSlot(hf: "self_attn.v_proj", gguf: "attn_v", role: .attentionValue),
            LinearSlot(hf: "self_attn.o_proj", gguf: "attn_output", role: .attentionOutput),
            LinearSlot(hf: "mlp.gate_proj", gguf: "ffn_gate", role: .mlpIn),
            LinearSlot(hf: "mlp.up_proj", gguf: "ffn_up", role: .mlpIn),
            LinearSlot(hf: "mlp.down_proj", gguf: "ffn_down", role: .mlpOut),
        ],
        inputGroups: [[0, 1, 2], [3], [4, 5], [6]],
        blockNorms: [TensorName(hf: "input_layernorm", gguf: "attn_norm"),
                     TensorName(hf: "post_attention_layernorm", gguf: "ffn_norm")],
        globalTensors: [TensorName(hf: "model.embed_tokens", gguf: "token_embd"),
                        TensorName(hf: "model.norm", gguf: "output_norm"),
                        TensorName(hf: "lm_head", gguf: "output")],
        rotary: true, groupedQueryAttention: true, tiedHeadDefault: false,
        configKeys: ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                     "head_dim", "intermediate_size", "max_position_embeddings", "rms_norm_eps", "rope_theta",
                     "rope_parameters", "rope_scaling", "sliding_window", "tie_word_embeddings", "bos_token_id",
                     "eos_token_id", "hidden_act", "attention_bias", "mlp_bias"])
}

enum LlamaConfigKeys {
    /// A Llama config.json. Refuses what the block does not implement: `rope_scaling`, a
    /// `rope_parameters.rope_type` other than default, a `sliding_window` shorter than the context.
    static func read(_ j: JSONFields, eos: [Int]) throws -> ModelConfig {
        let file = j.file, json = j.json
        let hidden = try j.int("hidden_size")
        let heads = try j.int("num_attention_heads")
        guard heads > 0 else { throw ModelError.invalidConfig(file: file, detail: "num_attention_heads must be positive") }
        var theta: Double = 10000
        if let rp = json["rope_parameters"] as? [String: Any] {
            if let t = rp["rope_theta"] as? Double { theta = t }
            if let rt = rp["rope_type"] as? String, rt != "default" {
                throw ModelError.invalidConfig(file: file, detail: "rope_type \"\(rt)\" is not supported (default RoPE is)")
            }
        } else if let t = json["rope_theta"] as? Double {
            theta = t
        }
        if let rs = json["rope_scaling"], !(rs is NSNull) {
            throw ModelError.unsupportedConfigKey(file: file, key: "rope_scaling", detail: "scaled RoPE is not implemented")
        }
        let maxPositions = try j.optInt("max_position_embeddings") ?? 2048
        if let window = try j.optInt("sliding_window"), window < maxPositions {
            throw ModelError.unsupportedConfigKey(
                file: file, key: "sliding_window",
                detail: "attention over a window of \(window) positions (< max_position_embeddings \(maxPositions)) is not implemented")
        }
        let c = ModelConfig(
            architecture: .llama, vocabSize: try j.int("vocab_size"), hiddenSize: hidden,
            numLayers: try j.int("num_hidden_layers"), numHeads: heads,
            numKVHeads: try j.optInt("num_key_value_heads") ?? heads,
            headDim: try j.optInt("head_dim") ?? (hidden / heads), intermediateSize: try j.int("intermediate_size"),
            maxPositions: maxPositions,
            normEps: Float(j.double("rms_norm_eps") ?? 1e-6), ropeTheta: Float(theta),
            tieEmbeddings: j.bool("tie_word_embeddings") ?? ArchitectureDescriptor.llama.tiedHeadDefault,
            bosTokenId: try j.optInt("bos_token_id"),
            eosTokenIds: eos, activation: j.string("hidden_act") ?? "silu",
            attentionBias: j.bool("attention_bias") ?? false, mlpBias: j.bool("mlp_bias") ?? false)
        try c.validate(file: file)
        return c
    }

    /// The Llama keys of a config.json describing `c` (beside the common ones).
    static func write(_ c: ModelConfig, into d: inout [String: Any]) {
        d["model_type"] = "llama"
        d["architectures"] = ["LlamaForCausalLM"]
        d["num_key_value_heads"] = c.numKVHeads
        d["head_dim"] = c.headDim
        d["intermediate_size"] = c.intermediateSize
        d["rms_norm_eps"] = Double(c.normEps)
        d["rope_theta"] = Double(c.ropeTheta)
        d["hidden_act"] = c.activation
        d["attention_bias"] = c.attentionBias
        d["mlp_bias"] = c.mlpBias
    }

    /// The GGUF metadata key of each Hugging Face key that `ModelConfig.validate` names.
    static let ggufKeys: [String: String] = [
        "vocab_size": "llama.vocab_size", "hidden_size": "llama.embedding_length",
        "word_embed_proj_dim": "llama.embedding_length", "num_hidden_layers": "llama.block_count",
        "num_attention_heads": "llama.attention.head_count", "num_key_value_heads": "llama.attention.head_count_kv",
        "head_dim": "llama.attention.key_length", "intermediate_size": "llama.feed_forward_length",
        "max_position_embeddings": "llama.context_length", "rope_theta": "llama.rope.freq_base",
        "bos_token_id": "tokenizer.ggml.bos_token_id", "eos_token_id": "tokenizer.ggml.eos_token_id",
    ]

    /// The llama hyper-parameters of a GGUF file (`llama.*` metadata). Every number is read
    /// checked (`GGUFFile.integer`): a value present but not an integer is refused by its key,
    /// never replaced by a default; ranges are checked by `validate` under the GGUF key names.
    static func read(gguf g: GGUFFile) throws -> ModelConfig {
        let file = g.path
        func optInt(_ k: String) throws -> Int? { try g.integer("llama." + k) }
        func int(_ k: String) throws -> Int {
            guard let v = try optInt(k) else { throw ModelError.missingConfigKey(file: file, key: "llama." + k) }
            return v
        }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        guard heads > 0 else { throw ModelError.invalidConfig(file: file, detail: "llama.attention.head_count must be positive") }
        let vocab = try optInt("vocab_size") ?? g.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count
            ?? g.tensors["token_embd.weight"]?.shape.first
        guard let vocab else { throw ModelError.missingConfigKey(file: file, key: "llama.vocab_size") }
        if let t = g.metadata["llama.rope.scaling.type"]?.stringValue, t != "none" {
            throw ModelError.invalidConfig(file: file, detail: "rope scaling \"\(t)\" is not supported")
        }
        let eos = try g.integer("tokenizer.ggml.eos_token_id").map { [$0] } ?? []
        let c = ModelConfig(
            architecture: .llama, vocabSize: vocab, hiddenSize: hidden, numLayers: try int("block_count"),
            numHeads: heads, numKVHeads: try optInt("attention.head_count_kv") ?? heads,
            headDim: try optInt("attention.key_length") ?? optInt("rope.dimension_count") ?? hidden / heads,
            intermediateSize: try int("feed_forward_length"), maxPositions: try optInt("context_length") ?? 2048,
            normEps: Float(g.metadata["llama.attention.layer_norm_rms_epsilon"]?.doubleValue ?? 1e-5),
            ropeTheta: Float(g.metadata["llama.rope.freq_base"]?.doubleValue ?? 10000),
            tieEmbeddings: g.tensors["output.weight"] == nil,
            bosTokenId: try g.integer("tokenizer.ggml.bos_token_id"), eosTokenIds: eos,
            activation: "silu", attentionBias: g.tensors["blk.0.attn_q.bias"] != nil, mlpBias: false)
        try c.validate(file: file, keys: ggufKeys)
        return c
    }
}
