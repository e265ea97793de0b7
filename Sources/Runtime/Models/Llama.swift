/// Llama (and SmolLM2, Mistral-style without sliding window): RMSNorm, RoPE (rotate-half),
/// grouped-query attention, SiLU-gated MLP, optional biases, tied or untied lm_head.
public struct LlamaBlock: Sendable {
    public var inputNorm: [Float]
    public var q, k, v, o: Linear
    public var postNorm: [Float]
    public var gate, up, down: Linear
    /// Set when gate/up/down are compacted with a shared intermediate prefix (`MLPChain`);
    /// refreshed by `LlamaModel.setLinear` and ignored once the layers no longer match it.
    public var mlpChain: MLPChain?
    /// Set when q/k/v/o are compacted and some head loses dimensions (`CompactAttention`);
    /// refreshed like `mlpChain`.
    public var attention: CompactAttention?
}

public final class LlamaModel: CausalLM {
    public let config: ModelConfig
    public var embed: [Float]          // [V, C]
    public var blocks: [LlamaBlock]
    public var norm: [Float]           // [C]
    public var lmHead: Linear          // [V, C]; shares `embed` storage when tied
    public let rope: RoPETable

    public init(config c: ModelConfig, weights w: WeightSource) throws {
        config = c
        let C = c.hiddenSize, V = c.vocabSize, F = c.intermediateSize
        embed = try w.load("model.embed_tokens.weight", shape: [V, C]).data
        func lin(_ name: String, _ r: Int, _ cols: Int, bias: Bool) throws -> Linear {
            try Linear.load(from: w, name: name, rows: r, cols: cols, bias: bias)
        }
        var blocks: [LlamaBlock] = []
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            blocks.append(LlamaBlock(
                inputNorm: try w.load(p + "input_layernorm.weight", shape: [C]).data,
                q: try lin(p + "self_attn.q_proj", c.qDim, C, bias: c.attentionBias),
                k: try lin(p + "self_attn.k_proj", c.kvDim, C, bias: c.attentionBias),
                v: try lin(p + "self_attn.v_proj", c.kvDim, C, bias: c.attentionBias),
                o: try lin(p + "self_attn.o_proj", C, c.qDim, bias: c.attentionBias && w.has(p + "self_attn.o_proj.bias")),
                postNorm: try w.load(p + "post_attention_layernorm.weight", shape: [C]).data,
                gate: try lin(p + "mlp.gate_proj", F, C, bias: c.mlpBias),
                up: try lin(p + "mlp.up_proj", F, C, bias: c.mlpBias),
                down: try lin(p + "mlp.down_proj", C, F, bias: c.mlpBias)))
            LlamaModel.detectPlans(&blocks[i], c)
        }
        self.blocks = blocks
        norm = try w.load("model.norm.weight", shape: [C]).data
        lmHead = c.tieEmbeddings ? Linear(dense: Tensor(shape: [V, C], data: embed))
                                 : Linear(dense: try w.load("lm_head.weight", shape: [V, C]))
        rope = RoPETable(headDim: c.headDim, positions: c.maxPositions, theta: c.ropeTheta)
    }

    public var headInput: Int { config.hiddenSize }

    public var attentionLayouts: [HeadLayout?] {
        blocks.map { b in b.attention.flatMap { $0.matches(b.q, b.k, b.v, b.o) ? $0.layout : nil } }
    }

    public func forward(_ tokens: UnsafeBufferPointer<Int32>, cache: KVCache, ws: Workspace) {
        let c = config
        let T = tokens.count, C = c.hiddenSize, F = c.intermediateSize
        let qDim = c.qDim, kvDim = c.kvDim, p0 = cache.count
        let x = ws.x.reserve(T * C), xn = ws.xn.reserve(T * C)
        let q = ws.q.reserve(T * qDim), att = ws.att.reserve(T * qDim)
        let g = ws.h1.reserve(T * F), u = ws.h2.reserve(T * F)
        let scale = 1 / Float(c.headDim).squareRoot()
        embeddingForward(embed, C: C, tokens, x)
        for l in 0..<c.numLayers {
            let b = blocks[l]
            let kc = cache.k[l].pointer, vc = cache.v[l].pointer
            b.inputNorm.withUnsafeBufferPointer { rmsNormForward(x, xn, $0.baseAddress!, T: T, C: C, eps: c.normEps) }
            if let a = b.attention, a.matches(b.q, b.k, b.v, b.o) {
                // heads at their kept sizes; the cache rows hold the compact k, v
                a.forward(xn, T: T, residual: x, kCache: kc, vCache: vc, pos0: p0, rope: rope, scale: scale,
                          qBuf: q, att: att)
            } else {
                Linear.forwardMany(xn, T: T, b.q, q, b.k, kc + p0 * kvDim, b.v, vc + p0 * kvDim)
                rope.apply(q, ld: qDim, T: T, heads: c.numHeads, pos0: p0)
                rope.apply(kc + p0 * kvDim, ld: kvDim, T: T, heads: c.numKVHeads, pos0: p0)
                attentionForward(q: q, ldq: qDim, k: kc, v: vc, ldkv: kvDim, out: att, T: T, pos0: p0,
                                 heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, scale: scale)
                b.o.forward(att, x, T: T, accumulate: true)
            }
            b.postNorm.withUnsafeBufferPointer { rmsNormForward(x, xn, $0.baseAddress!, T: T, C: C, eps: c.normEps) }
            if let chain = b.mlpChain, chain.matches(b.gate, b.up, b.down) {
                // compacted intermediate: g, u: [T, n]
                let n = chain.width
                Linear.forwardManyPrefix(xn, T: T, n: n, b.gate, g, b.up, u)
                siluGateForward(g, u, T * n)
                b.down.forward(prefixInput: g, n: n, x, T: T, accumulate: true)
            } else {
                Linear.forwardMany(xn, T: T, b.gate, g, b.up, u)
                siluGateForward(g, u, T * F)
                b.down.forward(g, x, T: T, accumulate: true)
            }
        }
        cache.count = p0 + T
        let h = ws.hidden.reserve(T * C)
        norm.withUnsafeBufferPointer { rmsNormForward(x, h, $0.baseAddress!, T: T, C: C, eps: c.normEps) }
    }

    public func logits(_ hidden: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        lmHead.forward(hidden, logits, T: rows)
    }

    // MARK: names

    static let linearSuffixes = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                 "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]

    public var blockLinearNames: [String] {
        (0..<config.numLayers).flatMap { i in LlamaModel.linearSuffixes.map { "model.layers.\(i).\($0)" } }
    }

    private func slot(_ name: String) -> (Int, WritableKeyPath<LlamaBlock, Linear>)? {
        let prefix = "model.layers."
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]), i >= 0, i < blocks.count else { return nil }
        let paths: [String: WritableKeyPath<LlamaBlock, Linear>] = [
            "self_attn.q_proj": \.q, "self_attn.k_proj": \.k, "self_attn.v_proj": \.v, "self_attn.o_proj": \.o,
            "mlp.gate_proj": \.gate, "mlp.up_proj": \.up, "mlp.down_proj": \.down,
        ]
        guard let p = paths[String(rest[rest.index(after: dot)...])] else { return nil }
        return (i, p)
    }

    public func linear(_ name: String) -> Linear? {
        guard let (i, p) = slot(name) else { return nil }
        return blocks[i][keyPath: p]
    }

    public func setLinear(_ name: String, _ value: Linear) {
        guard let (i, p) = slot(name) else { preconditionFailure("no linear layer named \(name)") }
        blocks[i][keyPath: p] = value
        LlamaModel.detectPlans(&blocks[i], config)
    }

    /// The compact MLP chain and per-head attention plans of a block's current layers.
    private static func detectPlans(_ b: inout LlamaBlock, _ c: ModelConfig) {
        b.mlpChain = MLPChain.detect(first: b.gate, second: b.up, last: b.down)
        b.attention = CompactAttention.detect(q: b.q, k: b.k, v: b.v, o: b.o, heads: c.numHeads, kvHeads: c.numKVHeads,
                                              headDim: c.headDim, rotary: true)
    }

    public func namedParameters() -> [(name: String, tensor: Tensor)] { namedParameters(skipping: []) }

    /// `namedParameters()` without the named tensors (never materialized: compressed weights).
    public func namedParameters(skipping skip: Set<String>) -> [(name: String, tensor: Tensor)] {
        let c = config
        var out: [(String, Tensor)] = [("model.embed_tokens.weight", Tensor(shape: [c.vocabSize, c.hiddenSize], data: embed))]
        for (i, b) in blocks.enumerated() {
            let p = "model.layers.\(i)."
            out.append((p + "input_layernorm.weight", Tensor(shape: [c.hiddenSize], data: b.inputNorm)))
            out.append((p + "post_attention_layernorm.weight", Tensor(shape: [c.hiddenSize], data: b.postNorm)))
            for s in LlamaModel.linearSuffixes {
                guard let l = linear(p + s) else { continue }
                if !skip.contains(p + s + ".weight") { out.append((p + s + ".weight", l.denseWeight)) }
                if let bias = l.bias { out.append((p + s + ".bias", Tensor(shape: [bias.count], data: bias))) }
            }
        }
        out.append(("model.norm.weight", Tensor(shape: [c.hiddenSize], data: norm)))
        if !c.tieEmbeddings { out.append(("lm_head.weight", lmHead.denseWeight)) }
        return out
    }
}
