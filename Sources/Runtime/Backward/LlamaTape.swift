/// The training pass of a Llama model, one window at positions 0..<T: the embedding, every
/// `LlamaBlock.forward` with a `Saved` record, the final norm and the loss head; backward runs
/// them in reverse (`LlamaBlock.backward`).
final class LlamaTape: TrainingTape {
    let model: LlamaModel
    private(set) var length = 0
    private var tokens: [Int32] = []
    private let saved: [LlamaBlock.Saved]
    private let x = Buffer(), rstdL = Buffer(), hidden = Buffer()   // residual stream (xL at the end), its rstd, lm_head input
    private let dx = Buffer(), dHidden = Buffer()
    private let scratch = BlockScratch()
    private let lossHead = LossHead()

    init(_ model: LlamaModel) {
        self.model = model
        saved = (0..<model.config.numLayers).map { _ in LlamaBlock.Saved() }
    }

    func forward(_ tokens: [Int32], observer: LinearObserver?) throws {
        try model.validateWindow(tokens)
        let c = model.config, m = model
        let T = tokens.count, C = c.hiddenSize, F = c.intermediateSize
        length = 0
        self.tokens = tokens
        for s in saved { s.reserve(T: T, c) }
        let x = self.x.reserve(T * C), xn = scratch.xn.reserve(T * C), h = scratch.h.reserve(T * F)
        let threads = scratch.threadBuffers()
        tokens.withUnsafeBufferPointer { embeddingForward(m.embed, C: C, $0, x) }
        for l in 0..<c.numLayers {
            let s = saved[l]
            let buf = BlockBuffers(xn: xn, q: s.q.pointer, att: s.att.pointer, h1: s.g.pointer, h2: s.u.pointer, h: h,
                                   threads: threads)
            let pass = BlockPass(index: l, pos0: 0, k: s.k.pointer, v: s.v.pointer, compactPlans: false, observer: observer)
            m.blocks[l].forward(x, T: T, pass, buf, config: c, rope: m.rope, saved: s)
        }
        let hid = hidden.reserve(T * C)
        rmsNormRows(x, hid, m.norm, T: T, C: C, eps: c.normEps, rstd: rstdL.reserve(T))
        length = T
    }

    func backward(labels: TrainingLabels, observer: LinearObserver?, gradients: Gradients?) throws -> Double {
        guard length > 0 else { throw TrainingError.backwardBeforeForward }
        let T = length, m = model, c = m.config
        try m.validateLabels(labels, count: T)
        let C = c.hiddenSize
        func grad(_ name: String) -> UnsafeMutablePointer<Float>? { gradients?.pointer(name) }
        let dx = self.dx.reserve(T * C), dHid = dHidden.reserve(T * C)
        // lm_head + cross-entropy, then the final norm
        let dHead = grad("lm_head.weight") ?? grad("model.embed_tokens.weight")
        let loss = lossHead.run(head: m.lmHead, hidden: hidden.pointer, T: T, labels: labels, dHidden: dHid, dHead: dHead)
        m.norm.withUnsafeBufferPointer {
            rmsNormBackward(x.pointer, dHid, dx, $0.baseAddress!, rstd: rstdL.pointer, dw: grad("model.norm.weight"),
                            T: T, C: C, accumulate: false)
        }
        // the embedding is the only consumer of block 0's input gradient
        let dE = grad("model.embed_tokens.weight")
        for l in stride(from: c.numLayers - 1, through: 0, by: -1) {
            m.blocks[l].backward(dx, T: T, block: l, saved: saved[l], scratch: scratch, config: c, rope: m.rope,
                                 observer: observer, gradients: gradients, needInput: l > 0 || dE != nil)
        }
        if let dE {
            tokens.withUnsafeBufferPointer { embeddingBackward(dx, C: C, $0, dE) }
        }
        return loss
    }
}
