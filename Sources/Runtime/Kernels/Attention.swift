import CBLAS
import Foundation

/// Causal multi-head attention with grouped-query heads over a KV cache.
/// q: [T, ldq] (head h at columns h·hd ..< (h+1)·hd), already rotated;
/// k, v: [n, ldkv] with n = pos0 + T cached positions (the T new ones included), head g at g·hd;
/// out: [T, ldq]. Query row t sits at position p = pos0 + t and sees positions 0...p, or with a
/// sliding `window` W > 0 (Mistral) only p−W < j ≤ p (rows before p−W+1 are never read).
public func attentionForward(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                             out: UnsafeMutablePointer<Float>, T: Int, pos0: Int, heads: Int, kvHeads: Int, headDim hd: Int,
                             scale: Float, window: Int = 0) {
    attentionHeads(q: q, ldq: ldq, k: k, ldk: ldkv, v: v, ldv: ldkv, out: out, ldo: ldq, T: T, pos0: pos0,
                   heads: heads, kvHeads: kvHeads, geometry: UniformHeads(headDim: hd), scale: scale, window: window)
}

/// The same attention over compacted heads, each with its own kept sizes (see `HeadLayout`):
/// q: [T, qWidth]; k: [n, ldk ≥ kWidth]; v: [n, ldv ≥ vWidth]; out: [T, outWidth].
/// `scale` stays 1/√headDim of the original heads: dropped dimensions contributed exact zeros.
public func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
                             out: UnsafeMutablePointer<Float>, T: Int, pos0: Int, layout: HeadLayout, scale: Float,
                             window: Int = 0) {
    attentionHeads(q: q, ldq: layout.qWidth, k: k, ldk: ldk, v: v, ldv: ldv, out: out, ldo: layout.outWidth, T: T, pos0: pos0,
                   heads: layout.heads, kvHeads: layout.kvHeads, geometry: layout, scale: scale, window: window)
}

/// Query rows per unit of work: a block of rows t0..<t1 only sees positions 0..<pos0+t1, so
/// blocking skips most of the causally masked upper triangle of the scores in prefill.
let attentionRowBlock = 64

/// First position that position p sees: 0, or p − W + 1 with a sliding window W > 0.
@inline(__always)
func firstVisible(_ p: Int, window: Int) -> Int { window > 0 ? max(0, p - window + 1) : 0 }

/// Units of work (query-row block, head) go to whichever worker is free, heaviest blocks first
/// (heads may differ in size); scores live in each thread's `ThreadScratch` slot 3.
/// Per head h of kv group g and rows t0..<t1 (positions lo..<m visible to some row of the block,
/// m = pos0 + t1, lo = first position row t0 sees):
/// s: [t1−t0, m−lo] = scale · q_h · k_g[lo..<m]ᵀ (zeros when the group keeps no q·k dimension:
/// uniform weights), softmax over each row's visible range, out_h: [t1−t0, dv] = s · v_g[lo..<m]
/// (skipped when the group keeps no value dimension).
@inline(__always)
func attentionHeads<G: AttentionGeometry>(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
                                          v: UnsafePointer<Float>, ldv: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                                          T: Int, pos0: Int, heads: Int, kvHeads: Int, geometry: G, scale: Float,
                                          window: Int = 0) {
    let group = heads / kvHeads
    let B = attentionRowBlock
    let blocks = (T + B - 1) / B
    let level = SparseKernels.level
    Parallel.forEach(blocks * heads) { u in
        let block = blocks - 1 - u / heads, h = u % heads, g = h / group
        let dqk = geometry.qkDims(g), dv = geometry.vDims(g)
        if dv > 0 {
            let t0 = block * B, t1 = min(T, t0 + B), rows = t1 - t0, m = pos0 + t1
            let lo = firstVisible(pos0 + t0, window: window), n = m - lo
            let s = ThreadScratch.floats(rows * n, slot: 3)
            if dqk > 0 {
                sgemm(transA: false, transB: true, M: rows, N: n, K: dqk, alpha: scale, q + t0 * ldq + geometry.qColumn(h),
                      lda: ldq, k + lo * ldk + geometry.kColumn(g), ldb: ldk, s, ldc: n)
            }
            for i in 0..<rows {
                let p = pos0 + t0 + i
                let from = firstVisible(p, window: window) - lo, to = p + 1 - lo
                if dqk > 0 {
                    softmaxWindowRow(s + i * n, from: from, to: to, total: n, level: level)
                } else {
                    // all scores 0: uniform weights over the visible positions
                    let r = s + i * n
                    r.update(repeating: 0, count: n)
                    (r + from).update(repeating: 1 / Float(to - from), count: to - from)
                }
            }
            sgemm(transA: false, transB: false, M: rows, N: dv, K: n, s, lda: n, v + lo * ldv + geometry.vColumn(g), ldb: ldv,
                  out + t0 * ldo + geometry.outColumn(h), ldc: ldo)
        }
    }
}

/// Softmax over the first `valid` entries of a row; entries valid..<total become 0 (the causal mask).
/// The exponentials run in the SIMD kernels of vector_kernels.h at `level`.  r: [total]
@inline(__always)
public func softmaxCausalRow(_ r: UnsafeMutablePointer<Float>, valid: Int, total: Int, level: Int32 = SparseKernels.level) {
    surgeon_softmax(level, r, valid)
    if valid < total { (r + valid).update(repeating: 0, count: total - valid) }
}

/// Softmax over entries from..<to of a row; the others up to `total` become 0 (causal mask and
/// sliding window).  r: [total]
@inline(__always)
func softmaxWindowRow(_ r: UnsafeMutablePointer<Float>, from: Int, to: Int, total: Int, level: Int32) {
    if from > 0 { r.update(repeating: 0, count: from) }
    softmaxCausalRow(r + from, valid: to - from, total: total - from, level: level)
}
