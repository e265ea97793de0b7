import Foundation

/// Causal multi-head attention with grouped-query heads over a KV cache.
/// q: [T, ldq] (head h at columns h·hd ..< (h+1)·hd), already rotated;
/// k, v: [n, ldkv] with n = pos0 + T cached positions (the T new ones included), head g at g·hd;
/// out: [T, ldq]. Query row t sits at position pos0 + t and sees positions 0...pos0+t.
/// scratch: one buffer per worker, grown to T·n floats.
public func attentionForward(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                             out: UnsafeMutablePointer<Float>, T: Int, pos0: Int, heads: Int, kvHeads: Int, headDim hd: Int,
                             scale: Float, scratch: [Buffer]) {
    let n = pos0 + T
    let group = heads / kvHeads
    let workers = min(scratch.count, heads)
    for w in 0..<workers { scratch[w].reserve(T * n) }
    Parallel.forEach(workers) { w in
        let s = scratch[w].pointer
        var h = w
        while h < heads {
            let g = h / group
            // s: [T, n] = scale · q_h · k_gᵀ
            sgemm(transA: false, transB: true, M: T, N: n, K: hd, alpha: scale, q + h * hd, lda: ldq,
                  k + g * hd, ldb: ldkv, s, ldc: n)
            for t in 0..<T {
                softmaxCausalRow(s + t * n, valid: pos0 + t + 1, total: n)
            }
            // out_h: [T, hd] = s · v_g
            sgemm(transA: false, transB: false, M: T, N: hd, K: n, s, lda: n, v + g * hd, ldb: ldkv,
                  out + h * hd, ldc: ldq)
            h += workers
        }
    }
}

/// Softmax over the first `valid` entries of a row; entries valid..<total become 0 (the causal mask).
@inline(__always)
public func softmaxCausalRow(_ r: UnsafeMutablePointer<Float>, valid: Int, total: Int) {
    var m = -Float.infinity
    for j in 0..<valid { m = max(m, r[j]) }
    var sum: Float = 0
    for j in 0..<valid {
        let e = expf(r[j] - m)
        r[j] = e
        sum += e
    }
    let inv = 1 / sum
    for j in 0..<valid { r[j] *= inv }
    if valid < total { (r + valid).update(repeating: 0, count: total - valid) }
}
