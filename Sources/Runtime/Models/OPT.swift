/// OPT: learned positions (offset 2), LayerNorm before (or after) each sub-block, ReLU MLP,
/// biases, optional project_in/out when word_embed_proj_dim != hidden_size, tied lm_head.
public struct OPTBlock: Sendable {
    public var attnNormW: [Float]?, attnNormB: [Float]?
    public var q, k, v, out: Linear
    public var ffnNormW: [Float]?, ffnNormB: [Float]?
    public var fc1, fc2: Linear
    /// Set when fc1/fc2 are compacted with a shared intermediate prefix (`MLPChain`);
    /// refreshed by `OPTModel.setLinear` and ignored once the layers no longer match it.
    public var mlpChain: MLPChain?
    /// Set when q/k/v/out are compacted and some head loses dimensions (`CompactAttention`);
    /// refreshed like `mlpChain`.
    public var attention: CompactAttention?
}

public final class OPTModel: CausalLM {
    public static let positionOffset = 2
    public let config: ModelConfig
    public var embed: [Float]              // [V, P] (P = word_embed_proj_dim)
    public var positions: [Float]          // [maxPos + 2, C]
    public var projectIn: Linear?          // [C, P]
    public var projectOut: Linear?         // [P, C]
    public var blocks: [OPTBlock]
    public var finalNormW: [Float]?, finalNormB: [Float]?
    public var lmHead: Linear              // [V, P], shares `embed` when tied

    public init(config c: ModelConfig, weights w: WeightSource) throws {
        config = c
        let C = c.hiddenSize, V = c.vocabSize, F = c.intermediateSize, P = c.wordEmbedProjDim
        // Some OPT checkpoints name tensors `decoder.*` without the `model.` prefix.
        let root = w.has("model.decoder.embed_tokens.weight") || !w.has("decoder.embed_tokens.weight") ? "model.decoder." : "decoder."
        embed = try w.load(root + "embed_tokens.weight", shape: [V, P]).data
        positions = try w.load(root + "embed_positions.weight", shape: [c.maxPositions + OPTModel.positionOffset, C]).data
        if P != C {
            projectIn = Linear(dense: try w.load(root + "project_in.weight", shape: [C, P]))
            projectOut = Linear(dense: try w.load(root + "project_out.weight", shape: [P, C]))
        }
        func lin(_ name: String, _ r: Int, _ cols: Int) throws -> Linear {
            try Linear.load(from: w, name: name, rows: r, cols: cols, bias: c.attentionBias)
        }
        func ln(_ name: String) throws -> ([Float]?, [Float]?) {
            guard c.layerNormAffine else { return (nil, nil) }
            return (try w.load(name + ".weight", shape: [C]).data, try w.load(name + ".bias", shape: [C]).data)
        }
        var blocks: [OPTBlock] = []
        for i in 0..<c.numLayers {
            let p = root + "layers.\(i)."
            let a = try ln(p + "self_attn_layer_norm"), f = try ln(p + "final_layer_norm")
            blocks.append(OPTBlock(
                attnNormW: a.0, attnNormB: a.1,
                q: try lin(p + "self_attn.q_proj", C, C), k: try lin(p + "self_attn.k_proj", C, C),
                v: try lin(p + "self_attn.v_proj", C, C), out: try lin(p + "self_attn.out_proj", C, C),
                ffnNormW: f.0, ffnNormB: f.1,
                fc1: try lin(p + "fc1", F, C), fc2: try lin(p + "fc2", C, F)))
            OPTModel.detectPlans(&blocks[i], c)
        }
        self.blocks = blocks
        if hasFinalNorm(c) {
            (finalNormW, finalNormB) = try ln(root + "final_layer_norm")
        }
        lmHead = c.tieEmbeddings || !w.has("lm_head.weight")
            ? Linear(dense: Tensor(shape: [V, P], data: embed))
            : Linear(dense: try w.load("lm_head.weight", shape: [V, P]))
    }

    public var headInput: Int { config.wordEmbedProjDim }

    public func forward(_ tokens: UnsafeBufferPointer<Int32>, cache: KVCache, ws: Workspace) {
        let c = config
        let T = tokens.count, C = c.hiddenSize, F = c.intermediateSize, P = c.wordEmbedProjDim, p0 = cache.count
        let x = ws.x.reserve(T * C), xn = ws.xn.reserve(T * C)
        let q = ws.q.reserve(T * C), att = ws.att.reserve(T * C), h = ws.h1.reserve(T * F)
        let tmp = ws.tmp.reserve(T * max(C, P))
        let scale = 1 / Float(c.headDim).squareRoot()
        let eps = c.normEps
        if let projectIn {
            embeddingForward(embed, C: P, tokens, tmp)
            projectIn.forward(tmp, x, T: T)
        } else {
            embeddingForward(embed, C: C, tokens, x)
        }
        positions.withUnsafeBufferPointer { pp in
            for t in 0..<T { addInPlace(x + t * C, pp.baseAddress! + (p0 + t + OPTModel.positionOffset) * C, C) }
        }
        let pre = c.doLayerNormBefore
        for l in 0..<c.numLayers {
            let b = blocks[l]
            let kc = cache.k[l].pointer, vc = cache.v[l].pointer
            if pre { layerNorm(x, xn, b.attnNormW, b.attnNormB, T, C, eps) }
            let input = pre ? UnsafePointer(xn) : UnsafePointer(x)
            if let a = b.attention, a.matches(b.q, b.k, b.v, b.out) {
                // heads at their kept sizes; the cache rows hold the compact k, v
                a.forward(input, T: T, residual: x, kCache: kc, vCache: vc, pos0: p0, rope: nil, scale: scale,
                          qBuf: q, att: att)
            } else {
                Linear.forwardMany(input, T: T, b.q, q, b.k, kc + p0 * C, b.v, vc + p0 * C)
                attentionForward(q: q, ldq: C, k: kc, v: vc, ldkv: C, out: att, T: T, pos0: p0,
                                 heads: c.numHeads, kvHeads: c.numHeads, headDim: c.headDim, scale: scale)
                b.out.forward(att, x, T: T, accumulate: true)
            }
            if !pre { layerNorm(x, x, b.attnNormW, b.attnNormB, T, C, eps) }
            if pre { layerNorm(x, xn, b.ffnNormW, b.ffnNormB, T, C, eps) }
            if let chain = b.mlpChain, chain.matches(b.fc1, nil, b.fc2) {
                // compacted intermediate: h: [T, n]
                let n = chain.width
                Linear.forwardManyPrefix(pre ? UnsafePointer(xn) : UnsafePointer(x), T: T, n: n, b.fc1, h)
                if c.activation == "gelu" { geluForward(h, T * n) } else { reluForward(h, T * n) }
                b.fc2.forward(prefixInput: h, n: n, x, T: T, accumulate: true)
            } else {
                b.fc1.forward(pre ? UnsafePointer(xn) : UnsafePointer(x), h, T: T)
                if c.activation == "gelu" { geluForward(h, T * F) } else { reluForward(h, T * F) }
                b.fc2.forward(h, x, T: T, accumulate: true)
            }
            if !pre { layerNorm(x, x, b.ffnNormW, b.ffnNormB, T, C, eps) }
        }
        cache.count = p0 + T
        let out = ws.hidden.reserve(T * P)
        let normed: UnsafeMutablePointer<Float> = projectOut == nil ? out : xn
        if hasFinalNorm(c) {
            layerNorm(x, normed, finalNormW, finalNormB, T, C, eps)
        } else {
            normed.update(from: x, count: T * C)
        }
        projectOut?.forward(normed, out, T: T)
    }

    public func logits(_ hidden: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        lmHead.forward(hidden, logits, T: rows)
    }

    // MARK: names

    static let linearSuffixes = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "fc1", "fc2"]

    public var blockLinearNames: [String] {
        (0..<config.numLayers).flatMap { i in OPTModel.linearSuffixes.map { "model.decoder.layers.\(i).\($0)" } }
    }

    private func slot(_ name: String) -> (Int, WritableKeyPath<OPTBlock, Linear>)? {
        let prefix = "model.decoder.layers."
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]), i >= 0, i < blocks.count else { return nil }
        let paths: [String: WritableKeyPath<OPTBlock, Linear>] = [
            "self_attn.q_proj": \.q, "self_attn.k_proj": \.k, "self_attn.v_proj": \.v, "self_attn.out_proj": \.out,
            "fc1": \.fc1, "fc2": \.fc2,
        ]
        guard let p = paths[String(rest[rest.index(after: dot)...])] else { return nil }
        return (i, p)
    }

    public var attentionLayouts: [HeadLayout?] {
        blocks.map { b in b.attention.flatMap { $0.matches(b.q, b.k, b.v, b.out) ? $0.layout : nil } }
    }

    public func linear(_ name: String) -> Linear? {
        guard let (i, p) = slot(name) else { return nil }
        return blocks[i][keyPath: p]
    }

    public func setLinear(_ name: String, _ value: Linear) {
        guard let (i, p) = slot(name) else { preconditionFailure("no linear layer named \(name)") }
        blocks[i][keyPath: p] = value
        OPTModel.detectPlans(&blocks[i], config)
    }

    /// The compact MLP chain and per-head attention plans of a block's current layers.
    private static func detectPlans(_ b: inout OPTBlock, _ c: ModelConfig) {
        b.mlpChain = MLPChain.detect(first: b.fc1, second: nil, last: b.fc2)
        b.attention = CompactAttention.detect(q: b.q, k: b.k, v: b.v, o: b.out, heads: c.numHeads, kvHeads: c.numHeads,
                                              headDim: c.headDim, rotary: false)
    }

    public func namedParameters() -> [(name: String, tensor: Tensor)] { namedParameters(skipping: []) }

    /// `namedParameters()` without the named tensors (never materialized: compressed weights).
    public func namedParameters(skipping skip: Set<String>) -> [(name: String, tensor: Tensor)] {
        let c = config
        let C = c.hiddenSize
        let r = "model.decoder."
        var out: [(String, Tensor)] = [
            (r + "embed_tokens.weight", Tensor(shape: [c.vocabSize, c.wordEmbedProjDim], data: embed)),
            (r + "embed_positions.weight", Tensor(shape: [positions.count / C, C], data: positions)),
        ]
        if let projectIn { out.append((r + "project_in.weight", projectIn.denseWeight)) }
        if let projectOut { out.append((r + "project_out.weight", projectOut.denseWeight)) }
        func vec(_ n: String, _ v: [Float]?) { if let v { out.append((n, Tensor(shape: [v.count], data: v))) } }
        for (i, b) in blocks.enumerated() {
            let p = r + "layers.\(i)."
            vec(p + "self_attn_layer_norm.weight", b.attnNormW)
            vec(p + "self_attn_layer_norm.bias", b.attnNormB)
            vec(p + "final_layer_norm.weight", b.ffnNormW)
            vec(p + "final_layer_norm.bias", b.ffnNormB)
            for s in OPTModel.linearSuffixes {
                guard let l = linear(p + s) else { continue }
                if !skip.contains(p + s + ".weight") { out.append((p + s + ".weight", l.denseWeight)) }
                vec(p + s + ".bias", l.bias)
            }
        }
        vec(r + "final_layer_norm.weight", finalNormW)
        vec(r + "final_layer_norm.bias", finalNormB)
        if !c.tieEmbeddings { out.append(("lm_head.weight", lmHead.denseWeight)) }
        return out
    }
}

func hasFinalNorm(_ c: ModelConfig) -> Bool { c.doLayerNormBefore && !c.removeFinalLayerNorm }

@inline(__always)
func layerNorm(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ w: [Float]?, _ b: [Float]?,
               _ T: Int, _ C: Int, _ eps: Float) {
    withOptionalPointer(w) { wp in
        withOptionalPointer(b) { bp in
            layerNormForward(x, y, wp, bp, T: T, C: C, eps: eps)
        }
    }
}

@inline(__always)
func withOptionalPointer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let a else { return body(nil) }
    return a.withUnsafeBufferPointer { body($0.baseAddress) }
}
