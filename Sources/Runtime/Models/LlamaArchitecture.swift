import Foundation

/// Llama (and SmolLM2, Llama-3.x with scaled RoPE): RMSNorm, RoPE (rotate-half), grouped-query
/// attention, SiLU-gated MLP, optional biases, tied or untied lm_head. Qwen2 and Mistral are the
/// same block with their own descriptors (`Qwen2Architecture.swift`, `MistralArchitecture.swift`).
extension ArchitectureDescriptor {
    public static let llama = llamaShaped(
        kind: .llama, modelTypes: ["llama", "smollm", "smollm2"], ggufArchitectures: ["llama"],
        extraKeys: ["rope_scaling", "sliding_window", "attention_bias", "mlp_bias"])

    /// The descriptor of a Llama-shaped architecture: the Llama slots, groups and names.
    static func llamaShaped(kind: Architecture, modelTypes: [String], ggufArchitectures: [String], extraKeys: [String],
                            ggufPermutesRotary: Bool = true) -> ArchitectureDescriptor {
        ArchitectureDescriptor(
            kind: kind, modelTypes: modelTypes, ggufArchitectures: ggufArchitectures,
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
                         "rope_parameters", "tie_word_embeddings", "bos_token_id", "eos_token_id", "hidden_act"] + extraKeys,
            ggufPermutesRotary: ggufPermutesRotary)
    }
}

/// The config.json reader and writer of the Llama-shaped architectures (llama, qwen2, mistral).
/// Each refuses what the block does not implement, naming the key: a RoPE type other than
/// default / llama3 (`RoPEConfig.swift`), a Llama `sliding_window` shorter than the context (Hugging
/// Face's Llama has none), Qwen2's `use_sliding_window` (per-layer windows).
enum LlamaConfigKeys {
    static func read(_ j: JSONFields, eos: [Int], as kind: Architecture) throws -> ModelConfig {
        let file = j.file
        let hidden = try j.int("hidden_size")
        let heads = try j.int("num_attention_heads")
        guard heads > 0 else { throw ModelError.invalidConfig(file: file, detail: "num_attention_heads must be positive") }
        let rope = try RoPEConfig.read(j)
        let maxPositions = try j.optInt("max_position_embeddings") ?? 2048
        let window: Int?
        switch kind {
        case .mistral: window = try MistralConfigKeys.window(j, maxPositions: maxPositions)
        case .qwen2: window = try Qwen2ConfigKeys.window(j, maxPositions: maxPositions)
        default:
            if let w = try j.optInt("sliding_window"), w < maxPositions {
                throw ModelError.unsupportedConfigKey(
                    file: file, key: "sliding_window",
                    detail: "a Llama config with a window of \(w) positions (< max_position_embeddings \(maxPositions)) is not implemented; a Mistral model says model_type \"mistral\"")
            }
            window = nil
        }
        var c = ModelConfig(
            architecture: kind, vocabSize: try j.int("vocab_size"), hiddenSize: hidden,
            numLayers: try j.int("num_hidden_layers"), numHeads: heads,
            numKVHeads: try j.optInt("num_key_value_heads") ?? heads,
            headDim: try j.optInt("head_dim") ?? (hidden / heads), intermediateSize: try j.int("intermediate_size"),
            maxPositions: maxPositions,
            normEps: Float(j.double("rms_norm_eps") ?? 1e-6), ropeTheta: Float(rope.theta),
            tieEmbeddings: j.bool("tie_word_embeddings") ?? kind.descriptor.tiedHeadDefault,
            bosTokenId: try j.optInt("bos_token_id"),
            eosTokenIds: eos, activation: j.string("hidden_act") ?? "silu",
            // Qwen2: q/k/v always carry biases (o_proj none: loaded only when the file has it)
            attentionBias: kind == .qwen2 ? true : (j.bool("attention_bias") ?? false),
            mlpBias: kind == .qwen2 ? false : (j.bool("mlp_bias") ?? false))
        c.slidingWindow = window
        c.ropeScaling = rope.scaling
        try c.validate(file: file)
        return c
    }

    /// The keys of a config.json describing `c` (beside the common ones).
    static func write(_ c: ModelConfig, into d: inout [String: Any]) {
        switch c.architecture {
        case .qwen2:
            d["model_type"] = "qwen2"
            d["architectures"] = ["Qwen2ForCausalLM"]
            d["use_sliding_window"] = false
        case .mistral:
            d["model_type"] = "mistral"
            d["architectures"] = ["MistralForCausalLM"]
            d["sliding_window"] = c.slidingWindow.map { $0 as Any } ?? NSNull()
        default:
            d["model_type"] = "llama"
            d["architectures"] = ["LlamaForCausalLM"]
            d["attention_bias"] = c.attentionBias
            d["mlp_bias"] = c.mlpBias
        }
        d["num_key_value_heads"] = c.numKVHeads
        d["head_dim"] = c.headDim
        d["intermediate_size"] = c.intermediateSize
        d["rms_norm_eps"] = Double(c.normEps)
        d["rope_theta"] = Double(c.ropeTheta)
        if let s = c.ropeScaling { d["rope_scaling"] = RoPEConfig.json(s) }
        d["hidden_act"] = c.activation
    }

    /// The GGUF metadata key of each Hugging Face key that `ModelConfig.validate` names
    /// (`prefix`: the file's `general.architecture`, `llama` or `qwen2`).
    static func ggufKeys(prefix p: String) -> [String: String] {
        [
            "vocab_size": "\(p).vocab_size", "hidden_size": "\(p).embedding_length",
            "word_embed_proj_dim": "\(p).embedding_length", "num_hidden_layers": "\(p).block_count",
            "num_attention_heads": "\(p).attention.head_count", "num_key_value_heads": "\(p).attention.head_count_kv",
            "head_dim": "\(p).attention.key_length", "intermediate_size": "\(p).feed_forward_length",
            "max_position_embeddings": "\(p).context_length", "rope_theta": "\(p).rope.freq_base",
            "bos_token_id": "tokenizer.ggml.bos_token_id", "eos_token_id": "tokenizer.ggml.eos_token_id",
        ]
    }

    /// The hyper-parameters of a GGUF file with `general.architecture` `prefix` (`llama.*` or
    /// `qwen2.*` metadata). Every number is read checked (`GGUFFile.integer`): a value present but
    /// not an integer is refused by its key, never replaced by a default; ranges are checked by
    /// `validate` under the GGUF key names. RoPE scaling: `rope_freqs.weight` (llama.cpp's Llama-3
    /// frequency divisors) is applied; `<prefix>.rope.scaling.type` other than none is refused.
    static func read(gguf g: GGUFFile, prefix: String, as kind: Architecture) throws -> ModelConfig {
        let file = g.path
        func optInt(_ k: String) throws -> Int? { try g.integer(prefix + "." + k) }
        func int(_ k: String) throws -> Int {
            guard let v = try optInt(k) else { throw ModelError.missingConfigKey(file: file, key: prefix + "." + k) }
            return v
        }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        guard heads > 0 else { throw ModelError.invalidConfig(file: file, detail: "\(prefix).attention.head_count must be positive") }
        let vocab = try optInt("vocab_size") ?? g.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count
            ?? g.tensors["token_embd.weight"]?.shape.first
        guard let vocab else { throw ModelError.missingConfigKey(file: file, key: prefix + ".vocab_size") }
        let eos = try g.integer("tokenizer.ggml.eos_token_id").map { [$0] } ?? []
        var c = ModelConfig(
            architecture: kind, vocabSize: vocab, hiddenSize: hidden, numLayers: try int("block_count"),
            numHeads: heads, numKVHeads: try optInt("attention.head_count_kv") ?? heads,
            headDim: try optInt("attention.key_length") ?? optInt("rope.dimension_count") ?? hidden / heads,
            intermediateSize: try int("feed_forward_length"), maxPositions: try optInt("context_length") ?? 2048,
            normEps: Float(g.metadata[prefix + ".attention.layer_norm_rms_epsilon"]?.doubleValue ?? 1e-5),
            ropeTheta: Float(g.metadata[prefix + ".rope.freq_base"]?.doubleValue ?? 10000),
            tieEmbeddings: g.tensors["output.weight"] == nil,
            bosTokenId: try g.integer("tokenizer.ggml.bos_token_id"), eosTokenIds: eos,
            activation: "silu", attentionBias: g.tensors["blk.0.attn_q.bias"] != nil, mlpBias: false)
        c.ropeScaling = try RoPEConfig.read(gguf: g, prefix: prefix, headDim: c.headDim)
        try c.validate(file: file, keys: ggufKeys(prefix: prefix))
        return c
    }
}
