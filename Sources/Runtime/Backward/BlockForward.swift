/// Block-by-block forward passes of one window at positions 0..<T, for layer-wise pruning
/// (SparseGPT, Wanda): the hidden states entering block 0 are computed once, then each block is
/// run on its own, so a block's inputs can come from already-pruned blocks before it.

/// Errors of block-by-block passes (checked before anything runs).
public enum BlockForwardError: Error, CustomStringConvertible, Equatable {
    case noSuchBlock(index: Int, blocks: Int)
    case wrongHiddenSize(expected: Int, got: Int)

    public var description: String {
        switch self {
        case .noSuchBlock(let i, let n): return "block \(i) does not exist (the model has \(n) blocks)"
        case .wrongHiddenSize(let e, let g): return "the hidden states hold \(g) floats, the block expects T·C = \(e)"
        }
    }
}

/// Scratch memory of one block's forward pass, kept across windows and blocks.
public final class BlockScratch {
    let xn = Buffer(), q = Buffer(), k = Buffer(), v = Buffer(), att = Buffer(), g = Buffer(), u = Buffer()

    public init() {}
}

/// A model whose decoder blocks can be run one at a time.
public protocol BlockwiseLM: CausalLM {
    /// Number of decoder blocks.
    var blockCount: Int { get }
    /// Width of the hidden states between blocks (C).
    var blockWidth: Int { get }
    /// The hidden states entering block 0 for `tokens` at positions 0..<T: [T, C].
    func blockInput(_ tokens: [Int32]) throws -> [Float]
    /// Runs block `l` on x: [T, C] in place (causal attention over positions 0..<T); the observer
    /// sees the inputs of the block's linear layers (outputGradient nil), in model order.
    func forwardBlock(_ l: Int, _ x: inout [Float], T: Int, observer: LinearObserver?, scratch: BlockScratch) throws
}

extension BlockwiseLM {
    func checkBlock(_ l: Int, count: Int, T: Int) throws {
        guard l >= 0, l < blockCount else { throw BlockForwardError.noSuchBlock(index: l, blocks: blockCount) }
        guard count == T * blockWidth, T > 0 else { throw BlockForwardError.wrongHiddenSize(expected: T * blockWidth, got: count) }
        guard T <= config.maxPositions else { throw TrainingError.windowTooLong(length: T, maxPositions: config.maxPositions) }
    }
}

extension LlamaModel: BlockwiseLM {
    public var blockCount: Int { blocks.count }
    public var blockWidth: Int { config.hiddenSize }

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
        let c = config, b = blocks[l], p = "model.layers.\(l)."
        let C = c.hiddenSize, F = c.intermediateSize, qDim = c.qDim, kvDim = c.kvDim
        let xn = s.xn.reserve(T * C), q = s.q.reserve(T * qDim), k = s.k.reserve(T * kvDim), v = s.v.reserve(T * kvDim)
        let att = s.att.reserve(T * qDim), g = s.g.reserve(T * F), u = s.u.reserve(T * F)
        let scale = 1 / Float(c.headDim).squareRoot()
        x.withUnsafeMutableBufferPointer { xb in
            guard let x = xb.baseAddress else { return }
            b.inputNorm.withUnsafeBufferPointer { rmsNormForward(x, xn, $0.baseAddress!, T: T, C: C, eps: c.normEps) }
            report(observer, [(p + "self_attn.q_proj", b.q, nil), (p + "self_attn.k_proj", b.k, nil),
                              (p + "self_attn.v_proj", b.v, nil)], input: xn, T: T)
            Linear.forwardMany(xn, T: T, b.q, q, b.k, k, b.v, v)
            rope.apply(q, ld: qDim, T: T, heads: c.numHeads, pos0: 0)
            rope.apply(k, ld: kvDim, T: T, heads: c.numKVHeads, pos0: 0)
            attentionForward(q: q, ldq: qDim, k: k, v: v, ldkv: kvDim, out: att, T: T, pos0: 0,
                             heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, scale: scale)
            report(observer, [(p + "self_attn.o_proj", b.o, nil)], input: att, T: T)
            b.o.forward(att, x, T: T, accumulate: true)
            b.postNorm.withUnsafeBufferPointer { rmsNormForward(x, xn, $0.baseAddress!, T: T, C: C, eps: c.normEps) }
            report(observer, [(p + "mlp.gate_proj", b.gate, nil), (p + "mlp.up_proj", b.up, nil)], input: xn, T: T)
            Linear.forwardMany(xn, T: T, b.gate, g, b.up, u)
            siluGateForward(g, u, T * F)
            report(observer, [(p + "mlp.down_proj", b.down, nil)], input: g, T: T)
            b.down.forward(g, x, T: T, accumulate: true)
        }
    }
}

extension OPTModel: BlockwiseLM {
    public var blockCount: Int { blocks.count }
    public var blockWidth: Int { config.hiddenSize }

    public func blockInput(_ tokens: [Int32]) throws -> [Float] {
        try validateWindow(tokens)
        let c = config, T = tokens.count, C = c.hiddenSize, P = c.wordEmbedProjDim
        var x = [Float](repeating: 0, count: T * C)
        x.withUnsafeMutableBufferPointer { xb in
            guard let x = xb.baseAddress else { return }
            tokens.withUnsafeBufferPointer { tb in
                if let pin = projectIn {
                    var e = [Float](repeating: 0, count: T * P)
                    e.withUnsafeMutableBufferPointer { eb in
                        embeddingForward(embed, C: P, tb, eb.baseAddress!)
                        pin.forward(eb.baseAddress!, x, T: T)
                    }
                } else {
                    embeddingForward(embed, C: C, tb, x)
                }
            }
            positions.withUnsafeBufferPointer { pp in
                for t in 0..<T { addInPlace(x + t * C, pp.baseAddress! + (t + OPTModel.positionOffset) * C, C) }
            }
        }
        return x
    }

    public func forwardBlock(_ l: Int, _ x: inout [Float], T: Int, observer: LinearObserver?, scratch s: BlockScratch) throws {
        try checkBlock(l, count: x.count, T: T)
        let c = config, b = blocks[l], p = "model.decoder.layers.\(l)."
        let C = c.hiddenSize, F = c.intermediateSize, eps = c.normEps, pre = c.doLayerNormBefore
        let xn = s.xn.reserve(T * C), q = s.q.reserve(T * C), k = s.k.reserve(T * C), v = s.v.reserve(T * C)
        let att = s.att.reserve(T * C), h = s.g.reserve(T * F)
        let scale = 1 / Float(c.headDim).squareRoot()
        x.withUnsafeMutableBufferPointer { xb in
            guard let x = xb.baseAddress else { return }
            if pre { layerNorm(x, xn, b.attnNormW, b.attnNormB, T, C, eps) }
            let inp = pre ? UnsafePointer(xn) : UnsafePointer(x)
            report(observer, [(p + "self_attn.q_proj", b.q, nil), (p + "self_attn.k_proj", b.k, nil),
                              (p + "self_attn.v_proj", b.v, nil)], input: inp, T: T)
            Linear.forwardMany(inp, T: T, b.q, q, b.k, k, b.v, v)
            attentionForward(q: q, ldq: C, k: k, v: v, ldkv: C, out: att, T: T, pos0: 0,
                             heads: c.numHeads, kvHeads: c.numHeads, headDim: c.headDim, scale: scale)
            report(observer, [(p + "self_attn.out_proj", b.out, nil)], input: att, T: T)
            b.out.forward(att, x, T: T, accumulate: true)
            if pre {
                layerNorm(x, xn, b.ffnNormW, b.ffnNormB, T, C, eps)
            } else {
                layerNorm(x, x, b.attnNormW, b.attnNormB, T, C, eps)
            }
            let inp2 = pre ? UnsafePointer(xn) : UnsafePointer(x)
            report(observer, [(p + "fc1", b.fc1, nil)], input: inp2, T: T)
            b.fc1.forward(inp2, h, T: T)
            if c.activation == "gelu" { geluForward(h, T * F) } else { reluForward(h, T * F) }
            report(observer, [(p + "fc2", b.fc2, nil)], input: h, T: T)
            b.fc2.forward(h, x, T: T, accumulate: true)
            if !pre { layerNorm(x, x, b.ffnNormW, b.ffnNormB, T, C, eps) }
        }
    }
}
