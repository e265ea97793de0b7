/// A GGUF llama model seen through Hugging Face names: `blk.N.attn_q.weight` becomes
/// `model.layers.N.self_attn.q_proj.weight`, and q/k rows are un-permuted from llama.cpp's
/// RoPE layout back to Hugging Face's rotate-half layout.
public final class GGUFWeights: WeightSource {
    public let gguf: GGUFFile
    public let config: ModelConfig
    private var hfToGGUF: [String: String] = [:]
    public var origin: String { gguf.path }
    public var metadata: [String: String] { [:] }

    public init(_ gguf: GGUFFile, config: ModelConfig) {
        self.gguf = gguf
        self.config = config
        for name in gguf.tensorOrder {
            if let hf = GGUFWeights.hfName(name) { hfToGGUF[hf] = name }
        }
    }

    static func hfName(_ g: String) -> String? {
        switch g {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = g.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let n = Int(parts[1]) else { return nil }
        let map: [String: String] = [
            "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
            "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
            "ffn_down": "mlp.down_proj",
        ]
        let sub = parts[2].split(separator: ".", maxSplits: 1).map(String.init)
        guard sub.count == 2, let hf = map[sub[0]] else { return nil }
        return "model.layers.\(n).\(hf).\(sub[1])"
    }

    public var tensorNames: [String] { hfToGGUF.keys.sorted() }

    public func shape(of name: String) -> [Int]? {
        guard let g = hfToGGUF[name] else { return nil }
        return gguf.tensors[g]?.shape
    }

    public func load(_ name: String) throws -> Tensor {
        guard let g = hfToGGUF[name] else { throw ModelError.missingTensor(file: origin, tensor: name) }
        var t = try gguf.load(g)
        if name.hasSuffix("self_attn.q_proj.weight") || name.hasSuffix("self_attn.q_proj.bias") {
            t = unpermuteRoPE(t, heads: config.numHeads, file: origin, tensor: name)
        } else if name.hasSuffix("self_attn.k_proj.weight") || name.hasSuffix("self_attn.k_proj.bias") {
            t = unpermuteRoPE(t, heads: config.numKVHeads, file: origin, tensor: name)
        }
        return t
    }
}

/// Undoes llama.cpp's conversion permutation of q/k rows: within each head, GGUF row 2j+t
/// holds Hugging Face row t·(d/2)+j (d = head size, t ∈ {0,1}).
/// w: [heads·d, C] -> [heads·d, C]
public func unpermuteRoPE(_ w: Tensor, heads: Int, file: String, tensor: String) -> Tensor {
    let rows = w.rows
    let cols = w.cols
    guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else { return w }
    let d = rows / heads
    let half = d / 2
    var out = [Float](repeating: 0, count: w.count)
    w.data.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for h in 0..<heads {
                for j in 0..<half {
                    for t in 0..<2 {
                        let from = (h * d + 2 * j + t) * cols
                        let to = (h * d + t * half + j) * cols
                        for c in 0..<cols { dst[to + c] = src[from + c] }
                    }
                }
            }
        }
    }
    return Tensor(shape: w.shape, data: out)
}

extension ModelConfig {
    /// Reads the llama hyper-parameters of a GGUF file.
    public static func fromGGUF(_ g: GGUFFile) throws -> ModelConfig {
        let file = g.path
        guard let arch = g.architecture else { throw ModelError.missingConfigKey(file: file, key: "general.architecture") }
        guard arch == "llama" else { throw ModelError.unsupportedArchitecture(file: file, name: arch) }
        func int(_ k: String) throws -> Int {
            guard let v = g.metadata["llama." + k]?.intValue else { throw ModelError.missingConfigKey(file: file, key: "llama." + k) }
            return v
        }
        func optInt(_ k: String) -> Int? { g.metadata["llama." + k]?.intValue }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        guard heads > 0 else { throw ModelError.invalidConfig(file: file, detail: "llama.attention.head_count must be positive") }
        let vocab = optInt("vocab_size") ?? g.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count
            ?? g.tensors["token_embd.weight"]?.shape.first
        guard let vocab else { throw ModelError.missingConfigKey(file: file, key: "llama.vocab_size") }
        if let t = g.metadata["llama.rope.scaling.type"]?.stringValue, t != "none" {
            throw ModelError.invalidConfig(file: file, detail: "rope scaling \"\(t)\" is not supported")
        }
        var eos: [Int] = []
        if let e = g.metadata["tokenizer.ggml.eos_token_id"]?.intValue { eos.append(e) }
        let c = ModelConfig(
            architecture: .llama, vocabSize: vocab, hiddenSize: hidden, numLayers: try int("block_count"),
            numHeads: heads, numKVHeads: optInt("attention.head_count_kv") ?? heads,
            headDim: optInt("attention.key_length") ?? optInt("rope.dimension_count") ?? hidden / heads,
            intermediateSize: try int("feed_forward_length"), maxPositions: optInt("context_length") ?? 2048,
            normEps: Float(g.metadata["llama.attention.layer_norm_rms_epsilon"]?.doubleValue ?? 1e-5),
            ropeTheta: Float(g.metadata["llama.rope.freq_base"]?.doubleValue ?? 10000),
            tieEmbeddings: g.tensors["output.weight"] == nil,
            bosTokenId: g.metadata["tokenizer.ggml.bos_token_id"]?.intValue, eosTokenIds: eos,
            activation: "silu", attentionBias: g.tensors["blk.0.attn_q.bias"] != nil, mlpBias: false)
        try c.validate(file: file)
        return c
    }
}
