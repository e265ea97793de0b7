/// An OPT model (descriptor: `ArchitectureDescriptor.opt`; block: `OPTBlock`): token embedding
/// (+ project_in), learned positions, blocks, final LayerNorm (+ project_out), tied lm_head.
public final class OPTModel: CausalLM {
    public static let positionOffset = 2
    public let config: ModelConfig
    public var embed: EmbeddingTable       // [V, P] (P = word_embed_proj_dim), in the weights' type
    public var positions: [Float]          // [maxPos + 2, C]
    public var projectIn: Linear?          // [C, P]
    public var projectOut: Linear?         // [P, C]
    public var blocks: [OPTBlock]
    public var finalNormW: [Float]?, finalNormB: [Float]?
    public var lmHead: Linear              // [V, P], shares `embed` when tied

    public init(config c: ModelConfig, weights w: WeightSource) throws {
        config = c
        let C = c.hiddenSize, V = c.vocabSize, P = c.wordEmbedProjDim
        // Some OPT checkpoints name tensors `decoder.*` without the `model.` prefix.
        let root = w.has("model.decoder.embed_tokens.weight") || !w.has("decoder.embed_tokens.weight") ? "model.decoder." : "decoder."
        embed = try EmbeddingTable(loading: w, name: root + "embed_tokens.weight", rows: V, cols: P)
        positions = try w.load(root + "embed_positions.weight", shape: [c.maxPositions + OPTModel.positionOffset, C]).data
        if P != C {
            projectIn = Linear(dense: try w.load(root + "project_in.weight", shape: [C, P]))
            projectOut = Linear(dense: try w.load(root + "project_out.weight", shape: [P, C]))
        }
        func ln(_ name: String) throws -> ([Float]?, [Float]?) {
            guard c.layerNormAffine else { return (nil, nil) }
            return (try w.load(name + ".weight", shape: [C]).data, try w.load(name + ".bias", shape: [C]).data)
        }
        blocks = try (0..<c.numLayers).map { try OPTBlock(loading: w, prefix: root + "layers.\($0).", config: c) }
        if hasFinalNorm(c) {
            (finalNormW, finalNormB) = try ln(root + "final_layer_norm")
        }
        lmHead = c.tieEmbeddings || !w.has("lm_head.weight")
            ? Linear(weight: embed.storage)
            : try Linear.load(from: w, name: "lm_head", rows: V, cols: P, bias: false)
    }

    public var headInput: Int { config.wordEmbedProjDim }

    public func forward(_ tokens: UnsafeBufferPointer<Int32>, cache: KVCache, ws: Workspace) {
        let c = config
        let T = tokens.count, C = c.hiddenSize, F = c.intermediateSize, P = c.wordEmbedProjDim, p0 = cache.count
        let x = ws.x.reserve(T * C), xn = ws.xn.reserve(T * C)
        let buf = BlockBuffers(xn: xn, q: ws.q.reserve(T * C), att: ws.att.reserve(T * C), h1: ws.h1.reserve(T * F),
                               h2: ws.h1.pointer, h: nil, threads: [])
        let tmp = ws.tmp.reserve(T * max(C, P))
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
        for l in 0..<c.numLayers {
            let pass = BlockPass(index: l, pos0: p0, k: cache.k[l].pointer, v: cache.v[l].pointer, compactPlans: true,
                                 observer: nil)
            blocks[l].forward(x, T: T, pass, buf, config: c)
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

    // MARK: block by block (calibration) and training

    public var architecture: ArchitectureDescriptor { .opt }
    public var blockCount: Int { blocks.count }

    /// Token embeddings (+ project_in) + learned positions of positions 0..<T.  x: [T, C]
    func embedTokens(_ tokens: UnsafeBufferPointer<Int32>, into x: UnsafeMutablePointer<Float>, scratch e: Buffer) {
        let T = tokens.count, C = config.hiddenSize, P = config.wordEmbedProjDim
        if let pin = projectIn {
            let ep = e.reserve(T * P)
            embeddingForward(embed, C: P, tokens, ep)
            pin.forward(ep, x, T: T)
        } else {
            embeddingForward(embed, C: C, tokens, x)
        }
        positions.withUnsafeBufferPointer { pp in
            for t in 0..<T { addInPlace(x + t * C, pp.baseAddress! + (t + OPTModel.positionOffset) * C, C) }
        }
    }

    public func blockInput(_ tokens: [Int32]) throws -> [Float] {
        try validateWindow(tokens)
        var x = [Float](repeating: 0, count: tokens.count * config.hiddenSize)
        let e = Buffer()
        x.withUnsafeMutableBufferPointer { xb in
            tokens.withUnsafeBufferPointer { embedTokens($0, into: xb.baseAddress!, scratch: e) }
        }
        return x
    }

    public func forwardBlock(_ l: Int, _ x: inout [Float], T: Int, observer: LinearObserver?, scratch s: BlockScratch) throws {
        try checkBlock(l, count: x.count, T: T)
        let c = config, C = c.hiddenSize, F = c.intermediateSize
        let buf = BlockBuffers(xn: s.xn.reserve(T * C), q: s.q.reserve(T * C), att: s.att.reserve(T * C),
                               h1: s.g.reserve(T * F), h2: s.g.pointer, h: nil, threads: [])
        let pass = BlockPass(index: l, pos0: 0, k: s.k.reserve(T * C), v: s.v.reserve(T * C), compactPlans: false,
                             observer: observer)
        x.withUnsafeMutableBufferPointer { xb in
            guard let xp = xb.baseAddress else { return }
            blocks[l].forward(xp, T: T, pass, buf, config: c)
        }
    }

    public func makeTrainingTape() -> TrainingTape { OPTTape(self) }

    // MARK: names

    public var blockLinearNames: [String] { architecture.blockLinearNames(blocks: blocks.count) }

    public var attentionLayouts: [HeadLayout?] {
        blocks.map { b in b.attention.flatMap { $0.matches(b.q, b.k, b.v, b.out) ? $0.layout : nil } }
    }

    public func linear(_ name: String) -> Linear? {
        guard let (i, s) = architecture.parseLinear(name), i < blocks.count else { return nil }
        return blocks[i][slot: s]
    }

    public func setLinear(_ name: String, _ value: Linear) {
        guard let (i, s) = architecture.parseLinear(name), i < blocks.count else {
            preconditionFailure("no linear layer named \(name)")
        }
        blocks[i][slot: s] = value
        blocks[i].detectPlans(config)
    }

    public func namedParameters() -> [(name: String, tensor: Tensor)] { namedParameters(skipping: []) }

    /// `namedParameters()` without the named tensors (never materialized: compressed weights).
    public func namedParameters(skipping skip: Set<String>) -> [(name: String, tensor: Tensor)] {
        let c = config
        let C = c.hiddenSize
        let r = "model.decoder."
        var out: [(String, Tensor)] = [
            (r + "embed_tokens.weight", Tensor(shape: [c.vocabSize, c.wordEmbedProjDim], data: embed.values)),
            (r + "embed_positions.weight", Tensor(shape: [positions.count / C, C], data: positions)),
        ]
        if let projectIn { out.append((r + "project_in.weight", projectIn.denseWeight)) }
        if let projectOut { out.append((r + "project_out.weight", projectOut.denseWeight)) }
        func vec(_ n: String, _ v: [Float]?) { if let v { out.append((n, Tensor(shape: [v.count], data: v))) } }
        let a = architecture
        for (i, b) in blocks.enumerated() {
            let p = a.blockName(i), n1 = p + a.blockNorms[0].hf, n2 = p + a.blockNorms[1].hf
            vec(n1 + ".weight", b.attnNormW)
            vec(n1 + ".bias", b.attnNormB)
            vec(n2 + ".weight", b.ffnNormW)
            vec(n2 + ".bias", b.ffnNormB)
            for s in a.linears.indices {
                let n = a.linearName(block: i, slot: s), l = b[slot: s]
                if !skip.contains(n + ".weight") { out.append((n + ".weight", l.denseWeight)) }
                vec(n + ".bias", l.bias)
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
