/// Training forward and hand-written backward of Llama (RMSNorm, RoPE, grouped-query attention,
/// SiLU-gated MLP), one window at positions 0..<T.

extension LlamaModel: DifferentiableLM {
    public func makeTape() -> TrainingTape { LlamaTape(self) }
}

final class LlamaTape: TrainingTape {
    let model: LlamaModel
    private(set) var length = 0
    private var tokens: [Int32] = []

    /// What the backward pass needs from one block (everything else is recomputed).
    final class Saved {
        let x0 = Buffer(), x1 = Buffer()                   // block input, residual after attention [T, C]
        let rstd1 = Buffer(), rstd2 = Buffer()             // [T]
        let q = Buffer(), k = Buffer(), v = Buffer()       // rotated q [T, qDim], rotated k, v [T, kvDim]
        let att = Buffer(), lse = Buffer()                 // attention output [T, qDim], log-sum-exp [heads, T]
        let g = Buffer(), u = Buffer()                     // gate, up pre-activations [T, F]
    }
    private let saved: [Saved]
    private let xL = Buffer(), rstdL = Buffer(), hidden = Buffer()   // final residual, its rstd, lm_head input
    // scratch of one block
    private let xn = Buffer(), h = Buffer()
    private let dx = Buffer(), dxn = Buffer(), dHidden = Buffer()
    private let dh = Buffer(), dg = Buffer(), du = Buffer()
    private let datt = Buffer(), dq = Buffer(), dk = Buffer(), dv = Buffer(), dkHead = Buffer(), dvHead = Buffer()
    private var scratch: [Buffer] = []
    private let lossHead = LossHead()

    init(_ model: LlamaModel) {
        self.model = model
        saved = (0..<model.config.numLayers).map { _ in Saved() }
    }

    private var scale: Float { 1 / Float(model.config.headDim).squareRoot() }

    func forward(_ tokens: [Int32], observer: LinearObserver?) throws {
        try model.validateWindow(tokens)
        let c = model.config, m = model
        let T = tokens.count, C = c.hiddenSize, F = c.intermediateSize, qDim = c.qDim, kvDim = c.kvDim
        length = 0
        self.tokens = tokens
        while scratch.count < Parallel.threads { scratch.append(Buffer()) }
        for s in saved {
            s.x0.reserve(T * C); s.x1.reserve(T * C); s.rstd1.reserve(T); s.rstd2.reserve(T)
            s.q.reserve(T * qDim); s.k.reserve(T * kvDim); s.v.reserve(T * kvDim)
            s.att.reserve(T * qDim); s.lse.reserve(c.numHeads * T); s.g.reserve(T * F); s.u.reserve(T * F)
        }
        let xn = self.xn.reserve(T * C), h = self.h.reserve(T * F), xL = self.xL.reserve(T * C)
        tokens.withUnsafeBufferPointer { embeddingForward(m.embed, C: C, $0, saved[0].x0.pointer) }
        for l in 0..<c.numLayers {
            let b = m.blocks[l], s = saved[l], p = "model.layers.\(l)."
            let x0 = s.x0.pointer, x1 = s.x1.pointer, q = s.q.pointer, k = s.k.pointer, v = s.v.pointer
            let att = s.att.pointer, g = s.g.pointer, u = s.u.pointer
            // attention
            rmsNormRows(x0, xn, b.inputNorm, T: T, C: C, eps: c.normEps, rstd: s.rstd1.pointer)
            report(observer, [(p + "self_attn.q_proj", b.q, nil), (p + "self_attn.k_proj", b.k, nil),
                              (p + "self_attn.v_proj", b.v, nil)], input: xn, T: T)
            Linear.forwardMany(xn, T: T, b.q, q, b.k, k, b.v, v)
            m.rope.apply(q, ld: qDim, T: T, heads: c.numHeads, pos0: 0)
            m.rope.apply(k, ld: kvDim, T: T, heads: c.numKVHeads, pos0: 0)
            attentionTrainingForward(q: q, ldq: qDim, k: k, v: v, ldkv: kvDim, out: att, lse: s.lse.pointer, T: T,
                                     heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, scale: scale,
                                     scratch: scratch)
            report(observer, [(p + "self_attn.o_proj", b.o, nil)], input: att, T: T)
            x1.update(from: x0, count: T * C)
            b.o.forward(att, x1, T: T, accumulate: true)
            // MLP
            rmsNormRows(x1, xn, b.postNorm, T: T, C: C, eps: c.normEps, rstd: s.rstd2.pointer)
            report(observer, [(p + "mlp.gate_proj", b.gate, nil), (p + "mlp.up_proj", b.up, nil)], input: xn, T: T)
            Linear.forwardMany(xn, T: T, b.gate, g, b.up, u)
            siluGateRows(g, u, into: h, T * F)
            report(observer, [(p + "mlp.down_proj", b.down, nil)], input: h, T: T)
            let next = l + 1 < c.numLayers ? saved[l + 1].x0.pointer : xL
            next.update(from: x1, count: T * C)
            b.down.forward(h, next, T: T, accumulate: true)
        }
        let hid = hidden.reserve(T * C)
        rmsNormRows(xL, hid, m.norm, T: T, C: C, eps: c.normEps, rstd: rstdL.reserve(T))
        length = T
    }

    func backward(labels: TrainingLabels, observer: LinearObserver?, gradients: Gradients?) throws -> Double {
        guard length > 0 else { throw TrainingError.backwardBeforeForward }
        let T = length, m = model, c = m.config
        try m.validateLabels(labels, count: T)
        let C = c.hiddenSize, F = c.intermediateSize, qDim = c.qDim, kvDim = c.kvDim
        func grad(_ name: String) -> UnsafeMutablePointer<Float>? { gradients?.pointer(name) }
        let dx = self.dx.reserve(T * C), dxn = self.dxn.reserve(T * C), xn = self.xn.reserve(T * C)
        let h = self.h.reserve(T * F), dh = self.dh.reserve(T * F), dg = self.dg.reserve(T * F), du = self.du.reserve(T * F)
        let datt = self.datt.reserve(T * qDim), dq = self.dq.reserve(T * qDim)
        let dk = self.dk.reserve(T * kvDim), dv = self.dv.reserve(T * kvDim)
        let dkHead = self.dkHead.reserve(T * qDim), dvHead = self.dvHead.reserve(T * qDim)
        let dHid = dHidden.reserve(T * C)

        // lm_head + cross-entropy, then the final norm
        let dHead = grad("lm_head.weight") ?? grad("model.embed_tokens.weight")
        let loss = lossHead.run(head: m.lmHead, hidden: hidden.pointer, T: T, labels: labels, dHidden: dHid, dHead: dHead)
        m.norm.withUnsafeBufferPointer {
            rmsNormBackward(xL.pointer, dHid, dx, $0.baseAddress!, rstd: rstdL.pointer, dw: grad("model.norm.weight"),
                            T: T, C: C, accumulate: false)
        }
        for l in stride(from: c.numLayers - 1, through: 0, by: -1) {
            let b = m.blocks[l], s = saved[l], p = "model.layers.\(l)."
            let x0 = s.x0.pointer, x1 = s.x1.pointer, g = s.g.pointer, u = s.u.pointer
            // MLP: dx holds d loss / d (block output)
            siluGateRows(g, u, into: h, T * F)
            report(observer, [(p + "mlp.down_proj", b.down, UnsafePointer(dx))], input: h, T: T)
            b.down.backward(x: h, dy: dx, T: T, dx: dh, accumulate: false,
                            dW: grad(p + "mlp.down_proj.weight"), db: grad(p + "mlp.down_proj.bias"))
            siluGateBackward(g, u, dh, dg, du, T * F)
            rmsNormRows(x1, xn, b.postNorm, T: T, C: C, eps: c.normEps)
            report(observer, [(p + "mlp.gate_proj", b.gate, UnsafePointer(dg)), (p + "mlp.up_proj", b.up, UnsafePointer(du))],
                   input: xn, T: T)
            Linear.backwardMany(x: xn, T: T, [
                LinearGradient(b.gate, dy: dg, dW: grad(p + "mlp.gate_proj.weight"), db: grad(p + "mlp.gate_proj.bias")),
                LinearGradient(b.up, dy: du, dW: grad(p + "mlp.up_proj.weight"), db: grad(p + "mlp.up_proj.bias")),
            ], dx: dxn, accumulate: false)
            b.postNorm.withUnsafeBufferPointer {
                rmsNormBackward(x1, dxn, dx, $0.baseAddress!, rstd: s.rstd2.pointer,
                                dw: grad(p + "post_attention_layernorm.weight"), T: T, C: C, accumulate: true)
            }
            // attention: dx holds d loss / d x1
            report(observer, [(p + "self_attn.o_proj", b.o, UnsafePointer(dx))], input: s.att.pointer, T: T)
            b.o.backward(x: s.att.pointer, dy: dx, T: T, dx: datt, accumulate: false,
                         dW: grad(p + "self_attn.o_proj.weight"), db: grad(p + "self_attn.o_proj.bias"))
            attentionTrainingBackward(q: s.q.pointer, ldq: qDim, k: s.k.pointer, v: s.v.pointer, ldkv: kvDim,
                                      lse: s.lse.pointer, dout: datt, dq: dq, dk: dk, dv: dv, dkHead: dkHead, dvHead: dvHead,
                                      T: T, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, scale: scale,
                                      scratch: scratch)
            m.rope.applyBackward(dq, ld: qDim, T: T, heads: c.numHeads, pos0: 0)
            m.rope.applyBackward(dk, ld: kvDim, T: T, heads: c.numKVHeads, pos0: 0)
            rmsNormRows(x0, xn, b.inputNorm, T: T, C: C, eps: c.normEps)
            report(observer, [(p + "self_attn.q_proj", b.q, UnsafePointer(dq)), (p + "self_attn.k_proj", b.k, UnsafePointer(dk)),
                              (p + "self_attn.v_proj", b.v, UnsafePointer(dv))], input: xn, T: T)
            // the embedding is the only consumer of block 0's input gradient
            let needInput = l > 0 || grad("model.embed_tokens.weight") != nil
            Linear.backwardMany(x: xn, T: T, [
                LinearGradient(b.q, dy: dq, dW: grad(p + "self_attn.q_proj.weight"), db: grad(p + "self_attn.q_proj.bias")),
                LinearGradient(b.k, dy: dk, dW: grad(p + "self_attn.k_proj.weight"), db: grad(p + "self_attn.k_proj.bias")),
                LinearGradient(b.v, dy: dv, dW: grad(p + "self_attn.v_proj.weight"), db: grad(p + "self_attn.v_proj.bias")),
            ], dx: needInput || grad(p + "input_layernorm.weight") != nil ? dxn : nil, accumulate: false)
            if needInput || grad(p + "input_layernorm.weight") != nil {
                b.inputNorm.withUnsafeBufferPointer {
                    rmsNormBackward(x0, dxn, dx, $0.baseAddress!, rstd: s.rstd1.pointer,
                                    dw: grad(p + "input_layernorm.weight"), T: T, C: C, accumulate: true)
                }
            }
        }
        if let dE = grad("model.embed_tokens.weight") {
            tokens.withUnsafeBufferPointer { embeddingBackward(dx, C: C, $0, dE) }
        }
        return loss
    }
}
