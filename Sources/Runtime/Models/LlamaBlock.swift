/// One Llama-shaped decoder block (Llama, Qwen2, Mistral): x += o(attention(rope(q, k), v)) over
/// RMSNorm(x), then x += down(silu(gate) · up) over RMSNorm(x). q/k/v biases, the sliding window
/// and the RoPE scaling come from the config. Its single forward serves inference, calibration
/// and training (see `BlockPass`); its backward sits right after it.
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

    /// The linear in a slot of the Llama-shaped descriptors (q, k, v, o, gate, up, down).
    subscript(slot s: Int) -> Linear {
        get {
            switch s {
            case 0: return q
            case 1: return k
            case 2: return v
            case 3: return o
            case 4: return gate
            case 5: return up
            default: return down
            }
        }
        set {
            switch s {
            case 0: q = newValue
            case 1: k = newValue
            case 2: v = newValue
            case 3: o = newValue
            case 4: gate = newValue
            case 5: up = newValue
            default: down = newValue
            }
        }
    }

    /// Loads block i under the descriptor's names.
    init(loading w: WeightSource, block i: Int, config c: ModelConfig) throws {
        let a = c.architecture.descriptor, C = c.hiddenSize, F = c.intermediateSize, p = a.blockName(i)
        func lin(_ s: Int, _ rows: Int, _ cols: Int, bias: Bool) throws -> Linear {
            try Linear.load(from: w, name: a.linearName(block: i, slot: s), rows: rows, cols: cols, bias: bias)
        }
        inputNorm = try w.load(p + a.blockNorms[0].hf + ".weight", shape: [C]).data
        q = try lin(0, c.qDim, C, bias: c.attentionBias)
        k = try lin(1, c.kvDim, C, bias: c.attentionBias)
        v = try lin(2, c.kvDim, C, bias: c.attentionBias)
        o = try lin(3, C, c.qDim, bias: c.attentionBias && w.has(a.linearName(block: i, slot: 3) + ".bias"))
        postNorm = try w.load(p + a.blockNorms[1].hf + ".weight", shape: [C]).data
        gate = try lin(4, F, C, bias: c.mlpBias)
        up = try lin(5, F, C, bias: c.mlpBias)
        down = try lin(6, C, F, bias: c.mlpBias)
        detectPlans(c)
    }

    /// The compact MLP chain and per-head attention plans of the block's current layers.
    mutating func detectPlans(_ c: ModelConfig) {
        mlpChain = MLPChain.detect(first: gate, second: up, last: down)
        attention = CompactAttention.detect(q: q, k: k, v: v, o: o, heads: c.numHeads, kvHeads: c.numKVHeads,
                                            headDim: c.headDim, rotary: c.architecture.descriptor.rotary)
    }

    /// What the backward pass needs from one block (everything else is recomputed).
    final class Saved {
        let x0 = Buffer(), x1 = Buffer()                   // block input, residual after attention [T, C]
        let rstd1 = Buffer(), rstd2 = Buffer()             // [T]
        let q = Buffer(), k = Buffer(), v = Buffer()       // rotated q [T, qDim], rotated k, v [T, kvDim]
        let att = Buffer(), lse = Buffer()                 // attention output [T, qDim], log-sum-exp [heads, T]
        let g = Buffer(), u = Buffer()                     // gate, up pre-activations [T, F]

        func reserve(T: Int, _ c: ModelConfig) {
            x0.reserve(T * c.hiddenSize); x1.reserve(T * c.hiddenSize); rstd1.reserve(T); rstd2.reserve(T)
            q.reserve(T * c.qDim); k.reserve(T * c.kvDim); v.reserve(T * c.kvDim)
            att.reserve(T * c.qDim); lse.reserve(c.numHeads * T); g.reserve(T * c.intermediateSize)
            u.reserve(T * c.intermediateSize)
        }
    }

    /// x: [T, C], updated in place to the block output. With `saved`, runs the training kernels
    /// (rmsNormRows keeping rstd, attentionTrainingForward keeping lse) and fills the record.
    func forward(_ x: UnsafeMutablePointer<Float>, T: Int, _ pass: BlockPass, _ buf: BlockBuffers,
                 config c: ModelConfig, rope: RoPETable, saved: Saved? = nil) {
        let C = c.hiddenSize, F = c.intermediateSize, qDim = c.qDim, kvDim = c.kvDim, p0 = pass.pos0
        let xn = buf.xn, q = buf.q, att = buf.att, g = buf.h1, u = buf.h2
        let scale = 1 / Float(c.headDim).squareRoot(), window = c.slidingWindow ?? 0
        let l = pass.index, arch = c.architecture.descriptor
        // attention
        if let s = saved {
            s.x0.pointer.update(from: x, count: T * C)
            rmsNormRows(x, xn, inputNorm, T: T, C: C, eps: c.normEps, rstd: s.rstd1.pointer)
        } else {
            inputNorm.withUnsafeBufferPointer { rmsNormForward(x, xn, $0.baseAddress!, T: T, C: C, eps: c.normEps) }
        }
        if pass.compactPlans, let a = attention, a.matches(self.q, self.k, self.v, o) {
            // heads at their kept sizes; the cache rows hold the compact k, v
            a.forward(xn, T: T, residual: x, kCache: pass.k, vCache: pass.v, pos0: p0, rope: rope, scale: scale,
                      qBuf: q, att: att, window: window, positionOffset: pass.positionOffset)
        } else {
            if let obs = pass.observer {
                report(obs, arch, block: l, [(0, self.q, nil), (1, self.k, nil), (2, self.v, nil)], input: xn, T: T)
            }
            let kRows = pass.k + p0 * kvDim, vRows = pass.v + p0 * kvDim
            Linear.forwardMany(xn, T: T, self.q, q, self.k, kRows, self.v, vRows)
            rope.apply(q, ld: qDim, T: T, heads: c.numHeads, pos0: p0 + pass.positionOffset)
            rope.apply(kRows, ld: kvDim, T: T, heads: c.numKVHeads, pos0: p0 + pass.positionOffset)
            if let s = saved {
                attentionTrainingForward(q: q, ldq: qDim, k: pass.k, v: pass.v, ldkv: kvDim, out: att, lse: s.lse.pointer,
                                         T: T, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, scale: scale,
                                         scratch: buf.threads, window: window)
            } else {
                attentionForward(q: q, ldq: qDim, k: pass.k, v: pass.v, ldkv: kvDim, out: att, T: T, pos0: p0,
                                 heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, scale: scale, window: window)
            }
            if let obs = pass.observer { report(obs, arch, block: l, [(3, o, nil)], input: att, T: T) }
            o.forward(att, x, T: T, accumulate: true)
        }
        // MLP
        if let s = saved {
            s.x1.pointer.update(from: x, count: T * C)
            rmsNormRows(x, xn, postNorm, T: T, C: C, eps: c.normEps, rstd: s.rstd2.pointer)
        } else {
            postNorm.withUnsafeBufferPointer { rmsNormForward(x, xn, $0.baseAddress!, T: T, C: C, eps: c.normEps) }
        }
        if pass.compactPlans, let chain = mlpChain, chain.matches(gate, up, down) {
            // compacted intermediate: g, u: [T, n]
            let n = chain.width
            Linear.forwardManyPrefix(xn, T: T, n: n, gate, g, up, u)
            siluGateForward(g, u, T * n)
            down.forward(prefixInput: g, n: n, x, T: T, accumulate: true)
        } else {
            if let obs = pass.observer {
                report(obs, arch, block: l, [(4, gate, nil), (5, up, nil)], input: xn, T: T)
            }
            Linear.forwardMany(xn, T: T, gate, g, up, u)
            let h: UnsafeMutablePointer<Float>
            if let hb = buf.h {
                siluGateRows(g, u, into: hb, T * F)
                h = hb
            } else {
                siluGateForward(g, u, T * F)
                h = g
            }
            if let obs = pass.observer { report(obs, arch, block: l, [(6, down, nil)], input: h, T: T) }
            down.forward(h, x, T: T, accumulate: true)
        }
    }

    /// Backward of the training `forward` of block l. dx: [T, C] holds d loss / d block output on
    /// entry and d loss / d block input on return (when `needInput` or the input norm's gradient is
    /// wanted). The observer sees every linear's input and output gradient, in reverse order.
    func backward(_ dx: UnsafeMutablePointer<Float>, T: Int, block l: Int, saved s: Saved, scratch: BlockScratch,
                  config c: ModelConfig, rope: RoPETable, observer: LinearObserver?, gradients: Gradients?,
                  needInput: Bool) {
        let C = c.hiddenSize, F = c.intermediateSize, qDim = c.qDim, kvDim = c.kvDim
        let arch = c.architecture.descriptor, p = arch.blockName(l)
        let scale = 1 / Float(c.headDim).squareRoot()
        func grad(_ name: String) -> UnsafeMutablePointer<Float>? { gradients?.pointer(name) }
        func grads(_ slot: Int) -> (UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) {
            let n = arch.linearName(block: l, slot: slot)
            return (grad(n + ".weight"), grad(n + ".bias"))
        }
        let xn = scratch.xn.reserve(T * C), dxn = scratch.dxn.reserve(T * C)
        let h = scratch.h.reserve(T * F), dh = scratch.dh.reserve(T * F)
        let dg = scratch.dg.reserve(T * F), du = scratch.du.reserve(T * F)
        let datt = scratch.datt.reserve(T * qDim), dq = scratch.dq.reserve(T * qDim)
        let dk = scratch.dk.reserve(T * kvDim), dv = scratch.dv.reserve(T * kvDim)
        let dkHead = scratch.dkHead.reserve(T * qDim), dvHead = scratch.dvHead.reserve(T * qDim)
        let threads = scratch.threadBuffers()
        let x0 = s.x0.pointer, x1 = s.x1.pointer, g = s.g.pointer, u = s.u.pointer
        // MLP: dx holds d loss / d (block output)
        siluGateRows(g, u, into: h, T * F)
        if let obs = observer { report(obs, arch, block: l, [(6, down, UnsafePointer(dx))], input: h, T: T) }
        let gDown = grads(6)
        down.backward(x: h, dy: dx, T: T, dx: dh, accumulate: false, dW: gDown.0, db: gDown.1)
        siluGateBackward(g, u, dh, dg, du, T * F)
        rmsNormRows(x1, xn, postNorm, T: T, C: C, eps: c.normEps)
        if let obs = observer {
            report(obs, arch, block: l, [(4, gate, UnsafePointer(dg)), (5, up, UnsafePointer(du))], input: xn, T: T)
        }
        let gGate = grads(4), gUp = grads(5)
        Linear.backwardMany(x: xn, T: T, [
            LinearGradient(gate, dy: dg, dW: gGate.0, db: gGate.1),
            LinearGradient(up, dy: du, dW: gUp.0, db: gUp.1),
        ], dx: dxn, accumulate: false)
        postNorm.withUnsafeBufferPointer {
            rmsNormBackward(x1, dxn, dx, $0.baseAddress!, rstd: s.rstd2.pointer,
                            dw: grad(p + arch.blockNorms[1].hf + ".weight"), T: T, C: C, accumulate: true)
        }
        // attention: dx holds d loss / d x1
        if let obs = observer { report(obs, arch, block: l, [(3, o, UnsafePointer(dx))], input: s.att.pointer, T: T) }
        let gO = grads(3)
        o.backward(x: s.att.pointer, dy: dx, T: T, dx: datt, accumulate: false, dW: gO.0, db: gO.1)
        attentionTrainingBackward(q: s.q.pointer, ldq: qDim, k: s.k.pointer, v: s.v.pointer, ldkv: kvDim,
                                  lse: s.lse.pointer, dout: datt, dq: dq, dk: dk, dv: dv, dkHead: dkHead, dvHead: dvHead,
                                  T: T, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim, scale: scale,
                                  scratch: threads, window: c.slidingWindow ?? 0)
        rope.applyBackward(dq, ld: qDim, T: T, heads: c.numHeads, pos0: 0)
        rope.applyBackward(dk, ld: kvDim, T: T, heads: c.numKVHeads, pos0: 0)
        rmsNormRows(x0, xn, inputNorm, T: T, C: C, eps: c.normEps)
        if let obs = observer {
            report(obs, arch, block: l, [(0, q, UnsafePointer(dq)), (1, k, UnsafePointer(dk)), (2, v, UnsafePointer(dv))],
                   input: xn, T: T)
        }
        let dNorm = grad(p + arch.blockNorms[0].hf + ".weight")
        let wantInput = needInput || dNorm != nil
        let gQ = grads(0), gK = grads(1), gV = grads(2)
        Linear.backwardMany(x: xn, T: T, [
            LinearGradient(q, dy: dq, dW: gQ.0, db: gQ.1),
            LinearGradient(k, dy: dk, dW: gK.0, db: gK.1),
            LinearGradient(v, dy: dv, dW: gV.0, db: gV.1),
        ], dx: wantInput ? dxn : nil, accumulate: false)
        if wantInput {
            inputNorm.withUnsafeBufferPointer {
                rmsNormBackward(x0, dxn, dx, $0.baseAddress!, rstd: s.rstd1.pointer, dw: dNorm, T: T, C: C, accumulate: true)
            }
        }
    }
}
