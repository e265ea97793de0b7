/// A Llama-shaped model (descriptors `.llama`, `.qwen2`, `.mistral`; block: `LlamaBlock`):
/// embedding, blocks, final RMSNorm, tied or untied lm_head.
public final class LlamaModel: CausalLM {
    public let config: ModelConfig
    public var embed: EmbeddingTable   // [V, C], in the weights' type (--dtype)
    public var blocks: [LlamaBlock]
    public var norm: [Float]           // [C]
    public var lmHead: Linear          // [V, C]; shares `embed` storage when tied
    public let rope: RoPETable

    public init(config c: ModelConfig, weights w: WeightSource) throws {
        config = c
        let C = c.hiddenSize, V = c.vocabSize
        embed = try EmbeddingTable(loading: w, name: "model.embed_tokens.weight", rows: V, cols: C)
        blocks = try (0..<c.numLayers).map { try LlamaBlock(loading: w, block: $0, config: c) }
        norm = try w.load("model.norm.weight", shape: [C]).data
        lmHead = c.tieEmbeddings ? Linear(weight: embed.storage)
                                 : try Linear.load(from: w, name: "lm_head", rows: V, cols: C, bias: false)
        rope = RoPETable(headDim: c.headDim, positions: c.maxPositions, theta: c.ropeTheta, scaling: c.ropeScaling)
    }

    public var headInput: Int { config.hiddenSize }

    public var attentionLayouts: [HeadLayout?] {
        blocks.map { b in b.attention.flatMap { $0.matches(b.q, b.k, b.v, b.o) ? $0.layout : nil } }
    }

    public func forward(_ tokens: UnsafeBufferPointer<Int32>, cache: KVCache, ws: Workspace) {
        let c = config
        let T = tokens.count, C = c.hiddenSize, F = c.intermediateSize
        // a windowed cache drops the rows behind the window when full (compact layers hold narrower rows)
        cache.makeRoom(for: T) { l in
            let b = blocks[l]
            if let a = b.attention, a.matches(b.q, b.k, b.v, b.o) { return (a.layout.kWidth, a.layout.vWidth) }
            return (c.kvDim, c.kvDim)
        }
        let p0 = cache.count - cache.base
        let x = ws.x.reserve(T * C)
        let buf = BlockBuffers(xn: ws.xn.reserve(T * C), q: ws.q.reserve(T * c.qDim), att: ws.att.reserve(T * c.qDim),
                               h1: ws.h1.reserve(T * F), h2: ws.h2.reserve(T * F), h: nil, threads: [])
        embeddingForward(embed, C: C, tokens, x)
        for l in 0..<c.numLayers {
            let pass = BlockPass(index: l, pos0: p0, k: cache.k[l].pointer, v: cache.v[l].pointer, compactPlans: true,
                                 observer: nil, positionOffset: cache.base)
            blocks[l].forward(x, T: T, pass, buf, config: c, rope: rope)
        }
        cache.count += T
        let h = ws.hidden.reserve(T * C)
        norm.withUnsafeBufferPointer { rmsNormForward(x, h, $0.baseAddress!, T: T, C: C, eps: c.normEps) }
    }

    public func logits(_ hidden: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        lmHead.forward(hidden, logits, T: rows)
    }

    // MARK: block by block (calibration) and training

    public var architecture: ArchitectureDescriptor { config.architecture.descriptor }
    public var blockCount: Int { blocks.count }

    public func blockInput(_ tokens: [Int32]) throws -> [Float] {
        try validateWindow(tokens)
        let C = config.hiddenSize
        var x = [Float](repeating: 0, count: tokens.count * C)
        x.withUnsafeMutableBufferPointer { xp in
            tokens.withUnsafeBufferPointer { embeddingForward(embed, C: C, $0, xp.baseAddress!) }
        }
        return x
    }

    public func forwardBlock(_ l: Int, _ x: inout [Float], T: Int, observer: LinearObserver?, scratch s: BlockScratch) throws {
        try checkBlock(l, count: x.count, T: T)
        let c = config, C = c.hiddenSize, F = c.intermediateSize
        let buf = BlockBuffers(xn: s.xn.reserve(T * C), q: s.q.reserve(T * c.qDim), att: s.att.reserve(T * c.qDim),
                               h1: s.g.reserve(T * F), h2: s.u.reserve(T * F), h: nil, threads: [])
        let pass = BlockPass(index: l, pos0: 0, k: s.k.reserve(T * c.kvDim), v: s.v.reserve(T * c.kvDim),
                             compactPlans: false, observer: observer)
        x.withUnsafeMutableBufferPointer { xb in
            guard let xp = xb.baseAddress else { return }
            blocks[l].forward(xp, T: T, pass, buf, config: c, rope: rope)
        }
    }

    public func makeTrainingTape() -> TrainingTape { LlamaTape(self) }

    // MARK: names

    public var blockLinearNames: [String] { architecture.blockLinearNames(blocks: blocks.count) }

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
        var out: [(String, Tensor)] = [("model.embed_tokens.weight", Tensor(shape: [c.vocabSize, c.hiddenSize], data: embed.values))]
        let a = architecture
        for (i, b) in blocks.enumerated() {
            let p = a.blockName(i)
            out.append((p + a.blockNorms[0].hf + ".weight", Tensor(shape: [c.hiddenSize], data: b.inputNorm)))
            out.append((p + a.blockNorms[1].hf + ".weight", Tensor(shape: [c.hiddenSize], data: b.postNorm)))
            for s in a.linears.indices {
                let n = a.linearName(block: i, slot: s), l = b[slot: s]
                if !skip.contains(n + ".weight") { out.append((n + ".weight", l.denseWeight)) }
                if let bias = l.bias { out.append((n + ".bias", Tensor(shape: [bias.count], data: bias))) }
            }
        }
        out.append(("model.norm.weight", Tensor(shape: [c.hiddenSize], data: norm)))
        if !c.tieEmbeddings { out.append(("lm_head.weight", lmHead.denseWeight)) }
        return out
    }
}
