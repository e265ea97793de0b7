/// One OPT decoder block: attention and a ReLU/GELU MLP, each a residual sub-block with LayerNorm
/// before it (pre-LN) or after the residual sum (post-LN, OPT-350m). Its single forward serves
/// inference, calibration and training (see `BlockPass`); its backward sits right after it.
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

    /// The linear in a slot of `ArchitectureDescriptor.opt` (q, k, v, out, fc1, fc2).
    subscript(slot s: Int) -> Linear {
        get {
            switch s {
            case 0: return q
            case 1: return k
            case 2: return v
            case 3: return out
            case 4: return fc1
            default: return fc2
            }
        }
        set {
            switch s {
            case 0: q = newValue
            case 1: k = newValue
            case 2: v = newValue
            case 3: out = newValue
            case 4: fc1 = newValue
            default: fc2 = newValue
            }
        }
    }

    /// Loads the block whose tensors start with `prefix` (e.g. `model.decoder.layers.3.`).
    init(loading w: WeightSource, prefix p: String, config c: ModelConfig) throws {
        let a = ArchitectureDescriptor.opt, C = c.hiddenSize, F = c.intermediateSize
        func lin(_ s: Int, _ rows: Int, _ cols: Int) throws -> Linear {
            try Linear.load(from: w, name: p + a.linears[s].hf, rows: rows, cols: cols, bias: c.attentionBias)
        }
        func ln(_ name: String) throws -> ([Float]?, [Float]?) {
            guard c.layerNormAffine else { return (nil, nil) }
            return (try w.load(p + name + ".weight", shape: [C]).data, try w.load(p + name + ".bias", shape: [C]).data)
        }
        (attnNormW, attnNormB) = try ln(a.blockNorms[0].hf)
        (ffnNormW, ffnNormB) = try ln(a.blockNorms[1].hf)
        q = try lin(0, C, C)
        k = try lin(1, C, C)
        v = try lin(2, C, C)
        out = try lin(3, C, C)
        fc1 = try lin(4, F, C)
        fc2 = try lin(5, C, F)
        detectPlans(c)
    }

    /// The compact MLP chain and per-head attention plans of the block's current layers.
    mutating func detectPlans(_ c: ModelConfig) {
        mlpChain = MLPChain.detect(first: fc1, second: nil, last: fc2)
        attention = CompactAttention.detect(q: q, k: k, v: v, o: out, heads: c.numHeads, kvHeads: c.numHeads,
                                            headDim: c.headDim, rotary: ArchitectureDescriptor.opt.rotary)
    }

    /// What the backward pass needs from one block. LayerNorm 1 normalizes x0 (pre-LN) or x1
    /// (post-LN); LayerNorm 2 normalizes x1 (pre-LN) or x2 (post-LN).
    final class Saved {
        let x0 = Buffer(), x1 = Buffer(), x2 = Buffer()    // block input; + attention; post-LN: + MLP [T, C]
        let mean1 = Buffer(), rstd1 = Buffer(), mean2 = Buffer(), rstd2 = Buffer()   // [T]
        let q = Buffer(), k = Buffer(), v = Buffer()       // [T, C] (q unscaled)
        let att = Buffer(), lse = Buffer()                 // [T, C], [heads, T]
        let z = Buffer()                                   // fc1 pre-activation [T, F]

        func reserve(T: Int, _ c: ModelConfig) {
            for b in [x0, x1, x2, q, k, v, att] { b.reserve(T * c.hiddenSize) }
            for b in [mean1, rstd1, mean2, rstd2] { b.reserve(T) }
            lse.reserve(c.numHeads * T)
            z.reserve(T * c.intermediateSize)
        }
    }

    /// LayerNorm of this block: the inference kernel, or with `saved` the row-parallel training
    /// kernel keeping mean and rstd.  x, y: [T, C]
    @inline(__always)
    private func norm(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, first: Bool, T: Int,
                      _ c: ModelConfig, training: Bool, mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?) {
        let w = first ? attnNormW : ffnNormW, b = first ? attnNormB : ffnNormB
        if training {
            layerNormRows(x, y, w, b, T: T, C: c.hiddenSize, eps: c.normEps, mean: mean, rstd: rstd)
        } else {
            layerNorm(x, y, w, b, T, c.hiddenSize, c.normEps)
        }
    }

    /// x: [T, C], updated in place to the block output. With `saved`, runs the training kernels
    /// (layerNormRows keeping mean/rstd, attentionTrainingForward keeping lse) and fills the record.
    func forward(_ x: UnsafeMutablePointer<Float>, T: Int, _ pass: BlockPass, _ buf: BlockBuffers,
                 config c: ModelConfig, saved: Saved? = nil) {
        let C = c.hiddenSize, F = c.intermediateSize, p0 = pass.pos0, pre = c.doLayerNormBefore
        let xn = buf.xn, q = buf.q, att = buf.att, z = buf.h1
        let scale = 1 / Float(c.headDim).squareRoot()
        let l = pass.index, training = saved != nil
        // attention
        if let s = saved { s.x0.pointer.update(from: x, count: T * C) }
        if pre { norm(x, xn, first: true, T: T, c, training: training, mean: saved?.mean1.pointer, rstd: saved?.rstd1.pointer) }
        let input = pre ? UnsafePointer(xn) : UnsafePointer(x)
        if pass.compactPlans, let a = attention, a.matches(self.q, self.k, self.v, out) {
            // heads at their kept sizes; the cache rows hold the compact k, v
            a.forward(input, T: T, residual: x, kCache: pass.k, vCache: pass.v, pos0: p0, rope: nil, scale: scale,
                      qBuf: q, att: att)
        } else {
            if let obs = pass.observer {
                report(obs, .opt, block: l, [(0, self.q, nil), (1, self.k, nil), (2, self.v, nil)], input: input, T: T)
            }
            Linear.forwardMany(input, T: T, self.q, q, self.k, pass.k + p0 * C, self.v, pass.v + p0 * C)
            if let s = saved {
                attentionTrainingForward(q: q, ldq: C, k: pass.k, v: pass.v, ldkv: C, out: att, lse: s.lse.pointer, T: T,
                                         heads: c.numHeads, kvHeads: c.numHeads, headDim: c.headDim, scale: scale,
                                         scratch: buf.threads)
            } else {
                attentionForward(q: q, ldq: C, k: pass.k, v: pass.v, ldkv: C, out: att, T: T, pos0: p0,
                                 heads: c.numHeads, kvHeads: c.numHeads, headDim: c.headDim, scale: scale)
            }
            if let obs = pass.observer { report(obs, .opt, block: l, [(3, out, nil)], input: att, T: T) }
            out.forward(att, x, T: T, accumulate: true)
        }
        // MLP: its input is xn (pre-LN) or x normalized in place (post-LN)
        if let s = saved { s.x1.pointer.update(from: x, count: T * C) }
        if pre {
            norm(x, xn, first: false, T: T, c, training: training, mean: saved?.mean2.pointer, rstd: saved?.rstd2.pointer)
        } else {
            norm(saved?.x1.pointer ?? x, x, first: true, T: T, c, training: training,
                 mean: saved?.mean1.pointer, rstd: saved?.rstd1.pointer)
        }
        let mlpIn = pre ? UnsafePointer(xn) : UnsafePointer(x)
        let gelu = c.activation == "gelu"
        if pass.compactPlans, let chain = mlpChain, chain.matches(fc1, nil, fc2) {
            // compacted intermediate: z: [T, n]
            let n = chain.width
            Linear.forwardManyPrefix(mlpIn, T: T, n: n, fc1, z)
            if gelu { geluForward(z, T * n) } else { reluForward(z, T * n) }
            fc2.forward(prefixInput: z, n: n, x, T: T, accumulate: true)
        } else {
            if let obs = pass.observer { report(obs, .opt, block: l, [(4, fc1, nil)], input: mlpIn, T: T) }
            fc1.forward(mlpIn, z, T: T)
            let h: UnsafeMutablePointer<Float>
            if let hb = buf.h {
                activationRows(z, into: hb, T * F, gelu: gelu)
                h = hb
            } else {
                if gelu { geluForward(z, T * F) } else { reluForward(z, T * F) }
                h = z
            }
            if let obs = pass.observer { report(obs, .opt, block: l, [(5, fc2, nil)], input: h, T: T) }
            fc2.forward(h, x, T: T, accumulate: true)
        }
        if !pre {
            if let s = saved { s.x2.pointer.update(from: x, count: T * C) }
            norm(saved?.x2.pointer ?? x, x, first: false, T: T, c, training: training,
                 mean: saved?.mean2.pointer, rstd: saved?.rstd2.pointer)
        }
    }

    /// Backward of the training `forward` of block l. dx: [T, C] holds d loss / d block output on
    /// entry and d loss / d block input on return (when `needInput`). The observer sees every
    /// linear's input and output gradient, in reverse order.
    func backward(_ dx: UnsafeMutablePointer<Float>, T: Int, block l: Int, saved s: Saved, scratch: BlockScratch,
                  config c: ModelConfig, observer: LinearObserver?, gradients: Gradients?, needInput: Bool) {
        let C = c.hiddenSize, F = c.intermediateSize, eps = c.normEps, pre = c.doLayerNormBefore
        let arch = ArchitectureDescriptor.opt, p = arch.blockName(l), gelu = c.activation == "gelu"
        let scale = 1 / Float(c.headDim).squareRoot()
        func grad(_ name: String) -> UnsafeMutablePointer<Float>? { gradients?.pointer(name) }
        func grads(_ slot: Int) -> (UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) {
            let n = arch.linearName(block: l, slot: slot)
            return (grad(n + ".weight"), grad(n + ".bias"))
        }
        let xn = scratch.xn.reserve(T * C), dxn = scratch.dxn.reserve(T * C)
        let h = scratch.h.reserve(T * F), dh = scratch.dh.reserve(T * F)
        let datt = scratch.datt.reserve(T * C), dq = scratch.dq.reserve(T * C)
        let dk = scratch.dk.reserve(T * C), dv = scratch.dv.reserve(T * C)
        let dkHead = scratch.dkHead.reserve(T * C), dvHead = scratch.dvHead.reserve(T * C)
        let threads = scratch.threadBuffers()
        let x0 = s.x0.pointer, x1 = s.x1.pointer, z = s.z.pointer
        let n1 = p + arch.blockNorms[0].hf, n2 = p + arch.blockNorms[1].hf
        let ln1W = grad(n1 + ".weight"), ln1B = grad(n1 + ".bias")
        let ln2W = grad(n2 + ".weight"), ln2B = grad(n2 + ".bias")
        // MLP. dy of fc2 = d loss / d (residual sum after the MLP): dx (pre-LN) or through LayerNorm 2 (post-LN).
        let dyMLP: UnsafeMutablePointer<Float>
        if pre {
            dyMLP = dx
        } else {
            optNormBackward(s.x2.pointer, dx, dxn, ffnNormW, s.mean2.pointer, s.rstd2.pointer, ln2W, ln2B, T, C,
                            accumulate: false)
            dyMLP = dxn
        }
        activationRows(z, into: h, T * F, gelu: gelu)
        if let obs = observer { report(obs, arch, block: l, [(5, fc2, UnsafePointer(dyMLP))], input: h, T: T) }
        let g2 = grads(5), g1 = grads(4)
        fc2.backward(x: h, dy: dyMLP, T: T, dx: dh, accumulate: false, dW: g2.0, db: g2.1)
        if gelu { geluBackward(z, dh, T * F) } else { reluBackward(z, dh, T * F) }
        if pre {
            layerNormRows(x1, xn, ffnNormW, ffnNormB, T: T, C: C, eps: eps, mean: nil, rstd: nil)
        } else {
            layerNormRows(x1, xn, attnNormW, attnNormB, T: T, C: C, eps: eps, mean: nil, rstd: nil)
        }
        if let obs = observer { report(obs, arch, block: l, [(4, fc1, UnsafePointer(dh))], input: xn, T: T) }
        if pre {
            fc1.backward(x: xn, dy: dh, T: T, dx: dxn, accumulate: false, dW: g1.0, db: g1.1)
            optNormBackward(x1, dxn, dx, ffnNormW, s.mean2.pointer, s.rstd2.pointer, ln2W, ln2B, T, C, accumulate: true)
        } else {
            // x2 = LN1(x1) + fc2(·): d LN1(x1) = dxn (already the residual part) + fc1's input gradient
            fc1.backward(x: xn, dy: dh, T: T, dx: dxn, accumulate: true, dW: g1.0, db: g1.1)
            optNormBackward(x1, dxn, dx, attnNormW, s.mean1.pointer, s.rstd1.pointer, ln1W, ln1B, T, C, accumulate: false)
        }
        // attention: dx holds d loss / d x1 (the residual sum after attention)
        if let obs = observer { report(obs, arch, block: l, [(3, out, UnsafePointer(dx))], input: s.att.pointer, T: T) }
        let gOut = grads(3)
        out.backward(x: s.att.pointer, dy: dx, T: T, dx: datt, accumulate: false, dW: gOut.0, db: gOut.1)
        attentionTrainingBackward(q: s.q.pointer, ldq: C, k: s.k.pointer, v: s.v.pointer, ldkv: C, lse: s.lse.pointer,
                                  dout: datt, dq: dq, dk: dk, dv: dv, dkHead: dkHead, dvHead: dvHead, T: T,
                                  heads: c.numHeads, kvHeads: c.numHeads, headDim: c.headDim, scale: scale, scratch: threads)
        if pre { layerNormRows(x0, xn, attnNormW, attnNormB, T: T, C: C, eps: eps, mean: nil, rstd: nil) }
        let inp = pre ? UnsafePointer(xn) : UnsafePointer(x0)
        if let obs = observer {
            report(obs, arch, block: l, [(0, q, UnsafePointer(dq)), (1, k, UnsafePointer(dk)), (2, v, UnsafePointer(dv))],
                   input: inp, T: T)
        }
        let gQ = grads(0), gK = grads(1), gV = grads(2)
        let parts = [
            LinearGradient(q, dy: dq, dW: gQ.0, db: gQ.1),
            LinearGradient(k, dy: dk, dW: gK.0, db: gK.1),
            LinearGradient(v, dy: dv, dW: gV.0, db: gV.1),
        ]
        if pre {
            Linear.backwardMany(x: inp, T: T, parts, dx: needInput ? dxn : nil, accumulate: false)
            if needInput {
                optNormBackward(x0, dxn, dx, attnNormW, s.mean1.pointer, s.rstd1.pointer, ln1W, ln1B, T, C, accumulate: true)
            }
        } else {
            Linear.backwardMany(x: inp, T: T, parts, dx: needInput ? dx : nil, accumulate: true)
        }
    }
}

/// Backward of LayerNorm with optional affine parameters.  x, dy, dx: [T, C]; w: [C]; mean, rstd: [T]; dw, db: [C]
private func optNormBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                             _ w: [Float]?, _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>,
                             _ dw: UnsafeMutablePointer<Float>?, _ db: UnsafeMutablePointer<Float>?, _ T: Int, _ C: Int,
                             accumulate: Bool) {
    optionalPointer(w) { wp in
        layerNormBackward(x, dy, dx, wp, mean: mean, rstd: rstd, dw: dw, db: db, T: T, C: C, accumulate: accumulate)
    }
}
