/// The training pass of an OPT model, one window at positions 0..<T: embeddings (+ project_in) and
/// learned positions, every `OPTBlock.forward` with a `Saved` record, the final LayerNorm
/// (+ project_out) and the loss head; backward runs them in reverse (`OPTBlock.backward`).
final class OPTTape: TrainingTape {
    let model: OPTModel
    private(set) var length = 0
    private var tokens: [Int32] = []
    private let saved: [OPTBlock.Saved]
    private let x = Buffer(), meanL = Buffer(), rstdL = Buffer()    // residual stream (last block output at the end), final-norm stats
    private let normed = Buffer(), hidden = Buffer()                 // final norm output [T, C], lm_head input [T, P]
    private let emb = Buffer()                                       // token embeddings before project_in [T, P]
    private let dx = Buffer(), dHidden = Buffer(), dNormed = Buffer()
    private let scratch = BlockScratch()
    private let lossHead = LossHead()

    init(_ model: OPTModel) {
        self.model = model
        saved = (0..<model.config.numLayers).map { _ in OPTBlock.Saved() }
    }

    func forward(_ tokens: [Int32], observer: LinearObserver?) throws {
        try model.validateWindow(tokens)
        let m = model, c = m.config
        let T = tokens.count, C = c.hiddenSize, F = c.intermediateSize, P = c.wordEmbedProjDim, eps = c.normEps
        length = 0
        self.tokens = tokens
        for s in saved { s.reserve(T: T, c) }
        let x = self.x.reserve(T * C), xn = scratch.xn.reserve(T * C), h = scratch.h.reserve(T * F)
        let threads = scratch.threadBuffers()
        tokens.withUnsafeBufferPointer { m.embedTokens($0, into: x, scratch: emb) }
        for l in 0..<c.numLayers {
            let s = saved[l]
            let buf = BlockBuffers(xn: xn, q: s.q.pointer, att: s.att.pointer, h1: s.z.pointer, h2: s.z.pointer, h: h,
                                   threads: threads)
            let pass = BlockPass(index: l, pos0: 0, k: s.k.pointer, v: s.v.pointer, compactPlans: false, observer: observer)
            m.blocks[l].forward(x, T: T, pass, buf, config: c, saved: s)
        }
        let nd = normed.reserve(T * C)
        if hasFinalNorm(c) {
            layerNormRows(x, nd, m.finalNormW, m.finalNormB, T: T, C: C, eps: eps, mean: meanL.reserve(T), rstd: rstdL.reserve(T))
        } else {
            nd.update(from: x, count: T * C)
        }
        let hid = hidden.reserve(T * P)
        if let pout = m.projectOut { pout.forward(nd, hid, T: T) } else { hid.update(from: nd, count: T * C) }
        length = T
    }

    func backward(labels: TrainingLabels, observer: LinearObserver?, gradients: Gradients?) throws -> Double {
        guard length > 0 else { throw TrainingError.backwardBeforeForward }
        let T = length, m = model, c = m.config
        try m.validateLabels(labels, count: T)
        let C = c.hiddenSize, P = c.wordEmbedProjDim
        let r = "model.decoder."
        func grad(_ name: String) -> UnsafeMutablePointer<Float>? { gradients?.pointer(name) }
        let dx = self.dx.reserve(T * C), dHid = dHidden.reserve(T * P)

        // lm_head + cross-entropy, project_out, final norm
        let dHead = grad("lm_head.weight") ?? grad(r + "embed_tokens.weight")
        let loss = lossHead.run(head: m.lmHead, hidden: hidden.pointer, T: T, labels: labels, dHidden: dHid, dHead: dHead)
        var dn = dHid
        if let pout = m.projectOut {
            dn = dNormed.reserve(T * C)
            pout.backward(x: normed.pointer, dy: dHid, T: T, dx: dn, accumulate: false, dW: grad(r + "project_out.weight"), db: nil)
        }
        if hasFinalNorm(c) {
            optionalPointer(m.finalNormW) { wp in
                layerNormBackward(x.pointer, dn, dx, wp, mean: meanL.pointer, rstd: rstdL.pointer,
                                  dw: grad(r + "final_layer_norm.weight"), db: grad(r + "final_layer_norm.bias"),
                                  T: T, C: C, accumulate: false)
            }
        } else {
            dx.update(from: dn, count: T * C)
        }
        // only parameter gradients consume block 0's input gradient
        for l in stride(from: c.numLayers - 1, through: 0, by: -1) {
            m.blocks[l].backward(dx, T: T, block: l, saved: saved[l], scratch: scratch, config: c, observer: observer,
                                 gradients: gradients, needInput: l > 0 || gradients != nil)
        }
        // dx = d loss / d (embeddings + positions)
        if let dPos = grad(r + "embed_positions.weight") {
            for t in 0..<T { addInPlace(dPos + (t + OPTModel.positionOffset) * C, dx + t * C, C) }
        }
        let dE = grad(r + "embed_tokens.weight")
        tokens.withUnsafeBufferPointer { tb in
            if let pin = m.projectIn {
                let e = emb.reserve(T * P)
                embeddingForward(m.embed, C: P, tb, e)
                let de = dNormed.reserve(T * max(C, P))
                pin.backward(x: e, dy: dx, T: T, dx: de, accumulate: false, dW: grad(r + "project_in.weight"), db: nil)
                if let dE { embeddingBackward(de, C: P, tb, dE) }
            } else if let dE {
                embeddingBackward(dx, C: C, tb, dE)
            }
        }
        return loss
    }
}
