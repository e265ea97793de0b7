/// OPT: learned positions (offset 2), LayerNorm before (or after) each sub-block, ReLU or GELU MLP,
/// biases, optional project_in/out when word_embed_proj_dim != hidden_size, tied lm_head.
extension ArchitectureDescriptor {
    public static let opt = ArchitectureDescriptor(
        kind: .opt,
        modelTypes: ["opt"],
        ggufArchitectures: [],
        blockPrefix: "model.decoder.layers.",
        linears: [
            LinearSlot(hf: "self_attn.q_proj", gguf: nil, role: .attentionQuery),
            LinearSlot(hf: "self_attn.k_proj", gguf: nil, role: .attentionKey),
            LinearSlot(hf: "self_attn.v_proj", gguf: nil, role: .attentionValue),
            LinearSlot(hf: "self_attn.out_proj", gguf: nil, role: .attentionOutput),
            LinearSlot(hf: "fc1", gguf: nil, role: .mlpIn),
            LinearSlot(hf: "fc2", gguf: nil, role: .mlpOut),
        ],
        inputGroups: [[0, 1, 2], [3], [4], [5]],
        blockNorms: [TensorName(hf: "self_attn_layer_norm", gguf: nil), TensorName(hf: "final_layer_norm", gguf: nil)],
        globalTensors: [TensorName(hf: "model.decoder.embed_tokens", gguf: nil),
                        TensorName(hf: "model.decoder.embed_positions", gguf: nil),
                        TensorName(hf: "model.decoder.project_in", gguf: nil),
                        TensorName(hf: "model.decoder.project_out", gguf: nil),
                        TensorName(hf: "model.decoder.final_layer_norm", gguf: nil),
                        TensorName(hf: "lm_head", gguf: nil)],
        rotary: false, groupedQueryAttention: false, tiedHeadDefault: true,
        configKeys: ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "ffn_dim",
                     "max_position_embeddings", "tie_word_embeddings", "bos_token_id", "eos_token_id",
                     "word_embed_proj_dim", "activation_function", "enable_bias", "do_layer_norm_before",
                     "_remove_final_layer_norm", "layer_norm_elementwise_affine"])
}

enum OPTConfigKeys {
    /// An OPT config.json.
    static func read(_ j: JSONFields, eos: [Int]) throws -> ModelConfig {
        let file = j.file
        let hidden = try j.int("hidden_size")
        let heads = try j.int("num_attention_heads")
        guard heads > 0 else { throw ModelError.invalidConfig(file: file, detail: "num_attention_heads must be positive") }
        var c = ModelConfig(
            architecture: .opt, vocabSize: try j.int("vocab_size"), hiddenSize: hidden,
            numLayers: try j.int("num_hidden_layers"), numHeads: heads, numKVHeads: heads,
            headDim: hidden / heads, intermediateSize: try j.int("ffn_dim"),
            maxPositions: try j.int("max_position_embeddings"), normEps: 1e-5, ropeTheta: 0,
            tieEmbeddings: j.bool("tie_word_embeddings") ?? ArchitectureDescriptor.opt.tiedHeadDefault,
            bosTokenId: try j.optInt("bos_token_id"),
            eosTokenIds: eos, wordEmbedProjDim: try j.optInt("word_embed_proj_dim"),
            activation: j.string("activation_function") ?? "relu",
            attentionBias: j.bool("enable_bias") ?? true, mlpBias: j.bool("enable_bias") ?? true)
        c.doLayerNormBefore = j.bool("do_layer_norm_before") ?? true
        c.removeFinalLayerNorm = j.bool("_remove_final_layer_norm") ?? false
        c.layerNormAffine = j.bool("layer_norm_elementwise_affine") ?? true
        try c.validate(file: file)
        return c
    }

    /// The OPT keys of a config.json describing `c` (beside the common ones).
    static func write(_ c: ModelConfig, into d: inout [String: Any]) {
        d["model_type"] = "opt"
        d["architectures"] = ["OPTForCausalLM"]
        d["ffn_dim"] = c.intermediateSize
        d["word_embed_proj_dim"] = c.wordEmbedProjDim
        d["do_layer_norm_before"] = c.doLayerNormBefore
        d["_remove_final_layer_norm"] = c.removeFinalLayerNorm
        d["layer_norm_elementwise_affine"] = c.layerNormAffine
        d["activation_function"] = c.activation
        d["enable_bias"] = c.attentionBias
    }
}
