/// Training forward and hand-written backward of OPT (learned positions with offset 2, LayerNorm
/// before or after each sub-block, ReLU or GELU MLP, biases, optional project_in/out), one window
/// at positions 0..<T.

extension OPTModel: DifferentiableLM {
    public func makeTape() -> TrainingTape { OPTTape(self) }
}

final class OPTTape: TrainingTape {
    let model: OPTModel
    private(set) var length = 0
    private var tokens: [Int32] = []

    /// What the backward pass needs from one block. LayerNorm 1 normalizes x0 (pre-LN) or x1
    /// (post-LN); LayerNorm 2 normalizes x1 (pre-LN) or x2 (post-LN).
    final class Saved {
        let x0 = Buffer(), x1 = Buffer(), x2 = Buffer()    // block input; + attention; post-LN: + MLP [T, C]
        let mean1 = Buffer(), rstd1 = Buffer(), mean2 = Buffer(), rstd2 = Buffer()   // [T]
        let q = Buffer(), k = Buffer(), v = Buffer()       // [T, C] (q unscaled)
        let att = Buffer(), lse = Buffer()                 // [T, C], [heads, T]
        let z = Buffer()                                   // fc1 pre-activation [T, F]
    }
    private let saved: [Saved]
    private let xL = Buffer(), meanL = Buffer(), rstdL = Buffer()   // last block output and its final-norm stats
    private let normed = Buffer(), hidden = Buffer()                 // final norm output [T, C], lm_head input [T, P]
    private let emb = Buffer()                                       // token embeddings before project_in [T, P]
    // scratch of one block
    private let xn = Buffer(), h = Buffer(), dx = Buffer(), dxn = Buffer(), dh = Buffer()
    private let dHidden = Buffer(), dNormed = Buffer()
    private let datt = Buffer(), dq = Buffer(), dk = Buffer(), dv = Buffer(), dkHead = Buffer(), dvHead = Buffer()
    private var scratch: [Buffer] = []
    private let lossHead = LossHead()

    init(_ model: OPTModel) {
        self.model = model
        saved = (0..<model.config.numLayers).map { _ in Saved() }
    }

    private var scale: Float { 1 / Float(model.config.headDim).squareRoot() }
    private var pre: Bool { model.config.doLayerNormBefore }

    private func activate(_ z: UnsafePointer<Float>, into h: UnsafeMutablePointer<Float>, _ n: Int) {
        activationRows(z, into: h, n, gelu: model.config.activation == "gelu")
    }

    func forward(_ tokens: [Int32], observer: LinearObserver?) throws {
        try model.validateWindow(tokens)
        let m = model, c = m.config
        let T = tokens.count, C = c.hiddenSize, F = c.intermediateSize, P = c.wordEmbedProjDim, eps = c.normEps
        length = 0
        self.tokens = tokens
        while scratch.count < Parallel.threads { scratch.append(Buffer()) }
        for s in saved {
            for b in [s.x0, s.x1, s.x2, s.q, s.k, s.v, s.att] { b.reserve(T * C) }
            for b in [s.mean1, s.rstd1, s.mean2, s.rstd2] { b.reserve(T) }
            s.lse.reserve(c.numHeads * T)
            s.z.reserve(T * F)
        }
        let xn = self.xn.reserve(T * C), h = self.h.reserve(T * F), xL = self.xL.reserve(T * C)
        // embeddings (+ project_in) + learned positions
        let x0 = saved[0].x0.pointer
        tokens.withUnsafeBufferPointer { tb in
            if let pin = m.projectIn {
                let e = emb.reserve(T * P)
                embeddingForward(m.embed, C: P, tb, e)
                pin.forward(e, x0, T: T)
            } else {
                embeddingForward(m.embed, C: C, tb, x0)
            }
        }
        m.positions.withUnsafeBufferPointer { pp in
            for t in 0..<T { addInPlace(x0 + t * C, pp.baseAddress! + (t + OPTModel.positionOffset) * C, C) }
        }
        for l in 0..<c.numLayers {
            let b = m.blocks[l], s = saved[l], p = "model.decoder.layers.\(l)."
            let x0 = s.x0.pointer, x1 = s.x1.pointer, q = s.q.pointer, k = s.k.pointer, v = s.v.pointer, att = s.att.pointer
            // attention
            if pre { optNorm(x0, xn, b.attnNormW, b.attnNormB, T, C, eps, s.mean1.pointer, s.rstd1.pointer) }
            let inp = pre ? UnsafePointer(xn) : UnsafePointer(x0)
            report(observer, [(p + "self_attn.q_proj", b.q, nil), (p + "self_attn.k_proj", b.k, nil),
                              (p + "self_attn.v_proj", b.v, nil)], input: inp, T: T)
            Linear.forwardMany(inp, T: T, b.q, q, b.k, k, b.v, v)
            attentionTrainingForward(q: q, ldq: C, k: k, v: v, ldkv: C, out: att, lse: s.lse.pointer, T: T,
                                     heads: c.numHeads, kvHeads: c.numHeads, headDim: c.headDim, scale: scale, scratch: scratch)
            report(observer, [(p + "self_attn.out_proj", b.out, nil)], input: att, T: T)
            x1.update(from: x0, count: T * C)
            b.out.forward(att, x1, T: T, accumulate: true)
            // MLP (its input lands in xn either way)
            if pre {
                optNorm(x1, xn, b.ffnNormW, b.ffnNormB, T, C, eps, s.mean2.pointer, s.rstd2.pointer)
            } else {
                optNorm(x1, xn, b.attnNormW, b.attnNormB, T, C, eps, s.mean1.pointer, s.rstd1.pointer)
            }
            report(observer, [(p + "fc1", b.fc1, nil)], input: xn, T: T)
            b.fc1.forward(xn, s.z.pointer, T: T)
            activate(s.z.pointer, into: h, T * F)
            report(observer, [(p + "fc2", b.fc2, nil)], input: h, T: T)
            let next = l + 1 < c.numLayers ? saved[l + 1].x0.pointer : xL
            if pre {
                next.update(from: x1, count: T * C)
                b.fc2.forward(h, next, T: T, accumulate: true)
            } else {
                let x2 = s.x2.pointer
                x2.update(from: xn, count: T * C)
                b.fc2.forward(h, x2, T: T, accumulate: true)
                optNorm(x2, next, b.ffnNormW, b.ffnNormB, T, C, eps, s.mean2.pointer, s.rstd2.pointer)
            }
        }
        let nd = normed.reserve(T * C)
        if c.doLayerNormBefore && !c.removeFinalLayerNorm {
            optNorm(xL, nd, m.finalNormW, m.finalNormB, T, C, eps, meanL.reserve(T), rstdL.reserve(T))
        } else {
            nd.update(from: xL, count: T * C)
        }
        let hid = hidden.reserve(T * P)
        if let pout = m.projectOut { pout.forward(nd, hid, T: T) } else { hid.update(from: nd, count: T * C) }
        length = T
    }

    func backward(labels: TrainingLabels, observer: LinearObserver?, gradients: Gradients?) throws -> Double {
        guard length > 0 else { throw TrainingError.backwardBeforeForward }
        let T = length, m = model, c = m.config
        try m.validateLabels(labels, count: T)
        let C = c.hiddenSize, F = c.intermediateSize, P = c.wordEmbedProjDim, eps = c.normEps
        let r = "model.decoder."
        func grad(_ name: String) -> UnsafeMutablePointer<Float>? { gradients?.pointer(name) }
        let dx = self.dx.reserve(T * C), dxn = self.dxn.reserve(T * C), xn = self.xn.reserve(T * C)
        let h = self.h.reserve(T * F), dh = self.dh.reserve(T * F)
        let datt = self.datt.reserve(T * C), dq = self.dq.reserve(T * C), dk = self.dk.reserve(T * C), dv = self.dv.reserve(T * C)
        let dkHead = self.dkHead.reserve(T * C), dvHead = self.dvHead.reserve(T * C)
        let dHid = dHidden.reserve(T * P)

        // lm_head + cross-entropy, project_out, final norm
        let dHead = grad("lm_head.weight") ?? grad(r + "embed_tokens.weight")
        let loss = lossHead.run(head: m.lmHead, hidden: hidden.pointer, T: T, labels: labels, dHidden: dHid, dHead: dHead)
        var dn = dHid
        if let pout = m.projectOut {
            dn = dNormed.reserve(T * C)
            pout.backward(x: normed.pointer, dy: dHid, T: T, dx: dn, accumulate: false, dW: grad(r + "project_out.weight"), db: nil)
        }
        if c.doLayerNormBefore && !c.removeFinalLayerNorm {
            optNormBackward(xL.pointer, dn, dx, m.finalNormW, meanL.pointer, rstdL.pointer,
                            grad(r + "final_layer_norm.weight"), grad(r + "final_layer_norm.bias"), T, C, accumulate: false)
        } else {
            dx.update(from: dn, count: T * C)
        }
        for l in stride(from: c.numLayers - 1, through: 0, by: -1) {
            let b = m.blocks[l], s = saved[l], p = r + "layers.\(l)."
            let x0 = s.x0.pointer, x1 = s.x1.pointer, z = s.z.pointer
            let ln1W = grad(p + "self_attn_layer_norm.weight"), ln1B = grad(p + "self_attn_layer_norm.bias")
            let ln2W = grad(p + "final_layer_norm.weight"), ln2B = grad(p + "final_layer_norm.bias")
            // MLP. dy of fc2 = d loss / d (residual sum after the MLP): dx (pre-LN) or through LayerNorm 2 (post-LN).
            let dyMLP: UnsafeMutablePointer<Float>
            if pre {
                dyMLP = dx
            } else {
                optNormBackward(s.x2.pointer, dx, dxn, b.ffnNormW, s.mean2.pointer, s.rstd2.pointer, ln2W, ln2B, T, C,
                                accumulate: false)
                dyMLP = dxn
            }
            activate(z, into: h, T * F)
            report(observer, [(p + "fc2", b.fc2, UnsafePointer(dyMLP))], input: h, T: T)
            b.fc2.backward(x: h, dy: dyMLP, T: T, dx: dh, accumulate: false, dW: grad(p + "fc2.weight"), db: grad(p + "fc2.bias"))
            if c.activation == "gelu" { geluBackward(z, dh, T * F) } else { reluBackward(z, dh, T * F) }
            if pre {
                optNorm(x1, xn, b.ffnNormW, b.ffnNormB, T, C, eps, nil, nil)
            } else {
                optNorm(x1, xn, b.attnNormW, b.attnNormB, T, C, eps, nil, nil)
            }
            report(observer, [(p + "fc1", b.fc1, UnsafePointer(dh))], input: xn, T: T)
            if pre {
                b.fc1.backward(x: xn, dy: dh, T: T, dx: dxn, accumulate: false, dW: grad(p + "fc1.weight"), db: grad(p + "fc1.bias"))
                optNormBackward(x1, dxn, dx, b.ffnNormW, s.mean2.pointer, s.rstd2.pointer, ln2W, ln2B, T, C, accumulate: true)
            } else {
                // x2 = LN1(x1) + fc2(·): d LN1(x1) = dxn (already the residual part) + fc1's input gradient
                b.fc1.backward(x: xn, dy: dh, T: T, dx: dxn, accumulate: true, dW: grad(p + "fc1.weight"), db: grad(p + "fc1.bias"))
                optNormBackward(x1, dxn, dx, b.attnNormW, s.mean1.pointer, s.rstd1.pointer, ln1W, ln1B, T, C, accumulate: false)
            }
            // attention: dx holds d loss / d x1 (the residual sum after attention)
            report(observer, [(p + "self_attn.out_proj", b.out, UnsafePointer(dx))], input: s.att.pointer, T: T)
            b.out.backward(x: s.att.pointer, dy: dx, T: T, dx: datt, accumulate: false,
                           dW: grad(p + "self_attn.out_proj.weight"), db: grad(p + "self_attn.out_proj.bias"))
            attentionTrainingBackward(q: s.q.pointer, ldq: C, k: s.k.pointer, v: s.v.pointer, ldkv: C, lse: s.lse.pointer,
                                      dout: datt, dq: dq, dk: dk, dv: dv, dkHead: dkHead, dvHead: dvHead, T: T,
                                      heads: c.numHeads, kvHeads: c.numHeads, headDim: c.headDim, scale: scale, scratch: scratch)
            if pre { optNorm(x0, xn, b.attnNormW, b.attnNormB, T, C, eps, nil, nil) }
            let inp = pre ? UnsafePointer(xn) : UnsafePointer(x0)
            report(observer, [(p + "self_attn.q_proj", b.q, UnsafePointer(dq)), (p + "self_attn.k_proj", b.k, UnsafePointer(dk)),
                              (p + "self_attn.v_proj", b.v, UnsafePointer(dv))], input: inp, T: T)
            let parts = [
                LinearGradient(b.q, dy: dq, dW: grad(p + "self_attn.q_proj.weight"), db: grad(p + "self_attn.q_proj.bias")),
                LinearGradient(b.k, dy: dk, dW: grad(p + "self_attn.k_proj.weight"), db: grad(p + "self_attn.k_proj.bias")),
                LinearGradient(b.v, dy: dv, dW: grad(p + "self_attn.v_proj.weight"), db: grad(p + "self_attn.v_proj.bias")),
            ]
            // only parameter gradients consume block 0's input gradient
            let needInput = l > 0 || gradients != nil
            if pre {
                Linear.backwardMany(x: inp, T: T, parts, dx: needInput ? dxn : nil, accumulate: false)
                if needInput {
                    optNormBackward(x0, dxn, dx, b.attnNormW, s.mean1.pointer, s.rstd1.pointer, ln1W, ln1B, T, C, accumulate: true)
                }
            } else {
                Linear.backwardMany(x: inp, T: T, parts, dx: needInput ? dx : nil, accumulate: true)
            }
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

/// LayerNorm with optional affine parameters (OPT's `layer_norm_elementwise_affine`), rows in parallel.
/// x, y: [T, C]; w, b: [C]; mean, rstd: [T]
private func optNorm(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ w: [Float]?, _ b: [Float]?,
                     _ T: Int, _ C: Int, _ eps: Float, _ mean: UnsafeMutablePointer<Float>?, _ rstd: UnsafeMutablePointer<Float>?) {
    layerNormRows(x, y, w, b, T: T, C: C, eps: eps, mean: mean, rstd: rstd)
}

/// Backward of `optNorm`.  x, dy, dx: [T, C]; w: [C]; mean, rstd: [T]; dw, db: [C]
private func optNormBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                             _ w: [Float]?, _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
                             _ dw: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?, _ T: Int, _ C: Int,
                             accumulate: Bool) {
    optionalPointer(w) { wp in
        layerNormBackward(x, dy, dx, wp, mean: mean, rstd: rstd, dw: dw, db: db, T: T, C: C, accumulate: accumulate)
    }
}
