import Foundation

/// Causal self-attention of one training window (positions 0..<T, no cache), forward and backward.
/// The forward keeps only the output and each score row's log-sum-exp; the backward recomputes the
/// probabilities head by head, block of query rows by block, so no [heads, T, T] tensor is stored.
/// Query row t sees keys 0...t, or with a sliding `window` W > 0 only t−W < j ≤ t: a block of rows
/// r0..<r1 only touches keys lo..<r1, lo = the first key row r0 sees (the causal upper triangle and
/// what the window has left behind are skipped).

/// Query rows per block (bounds the per-worker scratch to rows·T floats).
let attentionBlockRows = 64

/// Forward.  q: [T, ldq] (head h at columns h·hd, already rotated); k, v: [T, ldkv] (kv head g at g·hd);
/// out: [T, ldq]; lse: [heads, T] = log Σ_j exp(scale·q_t·k_j) per head and row.
/// scratch: one buffer per worker (grown to attentionBlockRows·T floats).
public func attentionTrainingForward(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                     ldkv: Int, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                                     T: Int, heads: Int, kvHeads: Int, headDim hd: Int, scale: Float, scratch: [Buffer],
                                     window: Int = 0) {
    let group = heads / kvHeads
    let B = min(attentionBlockRows, T)
    let workers = attentionWorkers(scratch.count, heads: heads, T: T, headDim: hd)
    for w in 0..<workers { scratch[w].reserve(B * T) }
    Parallel.forEach(workers) { w in
        let s = scratch[w].pointer
        var h = w
        while h < heads {
            let g = h / group
            var r0 = 0
            while r0 < T {
                let r1 = min(T, r0 + B), rows = r1 - r0
                let lo = firstVisible(r0, window: window), n = r1 - lo
                // s: [rows, n] (stride T) = scale · q[r0..<r1, h] · k[lo..<r1, g]ᵀ
                sgemm(transA: false, transB: true, M: rows, N: n, K: hd, alpha: scale, q + r0 * ldq + h * hd, lda: ldq,
                      k + lo * ldkv + g * hd, ldb: ldkv, s, ldc: T)
                for i in 0..<rows {
                    let from = firstVisible(r0 + i, window: window) - lo
                    lse[h * T + r0 + i] = Float(softmaxWindowRowLSE(s + i * T, from: from, to: r0 + i + 1 - lo, total: n))
                }
                // out[r0..<r1, h]: [rows, hd] = p · v[lo..<r1, g]
                sgemm(transA: false, transB: false, M: rows, N: hd, K: n, s, lda: T, v + lo * ldkv + g * hd, ldb: ldkv,
                      out + r0 * ldq + h * hd, ldc: ldq)
                r0 = r1
            }
            h += workers
        }
    }
}

/// Backward.  Inputs as in the forward plus out, lse and dout: [T, ldq]. Writes dq: [T, ldq] and
/// dk, dv: [T, ldkv]. dkHead, dvHead: [T, heads·hd] scratch (per-head key/value gradients, summed
/// over each kv group at the end). scratch: one buffer per worker (grown to 2·attentionBlockRows·T).
/// With P = softmax(S), S = scale·q kᵀ: dP = dout·vᵀ, dv = Pᵀ·dout, dS = P ∘ (dP − rowsum(P ∘ dP)),
/// dq = scale·dS·k, dk = scale·dSᵀ·q.
public func attentionTrainingBackward(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                      ldkv: Int, lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
                                      dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                      dv: UnsafeMutablePointer<Float>, dkHead: UnsafeMutablePointer<Float>,
                                      dvHead: UnsafeMutablePointer<Float>, T: Int, heads: Int, kvHeads: Int,
                                      headDim hd: Int, scale: Float, scratch: [Buffer], window: Int = 0) {
    let group = heads / kvHeads
    let B = min(attentionBlockRows, T)
    let ldh = heads * hd
    let workers = attentionWorkers(scratch.count, heads: heads, T: T, headDim: hd)
    for w in 0..<workers { scratch[w].reserve(2 * B * T) }
    Parallel.forEach(workers) { w in
        let p = scratch[w].pointer, dp = p + B * T
        var h = w
        while h < heads {
            let g = h / group
            let qh = q + h * hd, kg = k + g * hd, vg = v + g * hd
            let dkh = dkHead + h * hd, dvh = dvHead + h * hd
            for t in 0..<T {
                (dkh + t * ldh).update(repeating: 0, count: hd)
                (dvh + t * ldh).update(repeating: 0, count: hd)
            }
            var r0 = 0
            while r0 < T {
                let r1 = min(T, r0 + B), rows = r1 - r0
                let lo = firstVisible(r0, window: window), n = r1 - lo
                let qb = qh + r0 * ldq, dob = dout + r0 * ldq + h * hd
                let kl = kg + lo * ldkv, vl = vg + lo * ldkv
                // p: [rows, n] = exp(scale · q_b · k[lo..<r1]ᵀ − lse), causal and windowed
                sgemm(transA: false, transB: true, M: rows, N: n, K: hd, alpha: scale, qb, lda: ldq, kl, ldb: ldkv, p, ldc: T)
                for i in 0..<rows {
                    let row = p + i * T, from = firstVisible(r0 + i, window: window) - lo, to = r0 + i + 1 - lo
                    if from > 0 { row.update(repeating: 0, count: from) }
                    _ = vectorExpShifted(row + from, to - from, shift: lse[h * T + r0 + i])
                    if to < n { (row + to).update(repeating: 0, count: n - to) }
                }
                // dp: [rows, n] = dout_b · v[lo..<r1]ᵀ
                sgemm(transA: false, transB: true, M: rows, N: n, K: hd, dob, lda: ldq, vl, ldb: ldkv, dp, ldc: T)
                // dv_h[lo..<r1] += pᵀ · dout_b
                sgemm(transA: true, transB: false, M: n, N: hd, K: rows, p, lda: T, dob, ldb: ldq, beta: 1, dvh + lo * ldh, ldc: ldh)
                // dS = p ∘ (dp − Σ_j p·dp), stored over dp (0 outside each row's visible range)
                for i in 0..<rows {
                    let pr = p + i * T, dr = dp + i * T, from = firstVisible(r0 + i, window: window) - lo, to = r0 + i + 1 - lo
                    if from > 0 { dr.update(repeating: 0, count: from) }
                    softmaxBackwardRow(pr + from, dr + from, to - from)
                    if to < n { (dr + to).update(repeating: 0, count: n - to) }
                }
                // dq_b = scale · dS · k[lo..<r1];  dk_h[lo..<r1] += scale · dSᵀ · q_b
                sgemm(transA: false, transB: false, M: rows, N: hd, K: n, alpha: scale, dp, lda: T, kl, ldb: ldkv,
                      dq + r0 * ldq + h * hd, ldc: ldq)
                sgemm(transA: true, transB: false, M: n, N: hd, K: rows, alpha: scale, dp, lda: T, qb, ldb: ldq,
                      beta: 1, dkh + lo * ldh, ldc: ldh)
                r0 = r1
            }
            h += workers
        }
    }
    // dk, dv of kv head g = sums over the query heads of its group.
    Parallel.chunks(T, minChunk: max(32, (1 << 16) / max(ldh, 1))) { r in
        for t in r {
            for g in 0..<kvHeads {
                let dkt = dk + t * ldkv + g * hd, dvt = dv + t * ldkv + g * hd
                let src = t * ldh + g * group * hd
                dkt.update(from: dkHead + src, count: hd)
                dvt.update(from: dvHead + src, count: hd)
                for m in 1..<max(group, 1) {
                    addInPlace(dkt, dkHead + src + m * hd, hd)
                    addInPlace(dvt, dvHead + src + m * hd, hd)
                }
            }
        }
    }
}

/// Workers worth using: one per head at most, and one alone for tiny windows (~T²·hd/2 per head).
@inline(__always)
func attentionWorkers(_ available: Int, heads: Int, T: Int, headDim: Int) -> Int {
    T * T * headDim * heads < 1 << 21 ? 1 : max(1, min(available, heads))
}

/// Softmax over entries from..<to of a row (the others up to `total` become 0); returns the
/// log-sum-exp of those entries.  r: [total]
@inline(__always)
func softmaxWindowRowLSE(_ r: UnsafeMutablePointer<Float>, from: Int, to: Int, total: Int) -> Double {
    if from > 0 { r.update(repeating: 0, count: from) }
    return softmaxCausalRowLSE(r + from, valid: to - from, total: total - from)
}

/// Softmax over the first `valid` entries of a row (the rest up to `total` become 0);
/// returns the log-sum-exp of the valid entries.  r: [total]
@inline(__always)
func softmaxCausalRowLSE(_ r: UnsafeMutablePointer<Float>, valid: Int, total: Int) -> Double {
    let m = vectorMax(r, valid)
    let sum = vectorExpShifted(r, valid, shift: m)
    vectorScale(r, valid, 1 / sum)
    if valid < total { (r + valid).update(repeating: 0, count: total - valid) }
    return Double(m) + log(Double(sum))
}

/// Backward of a softmax row p: d ← p ∘ (d − Σ_j p_j·d_j) (d = dL/dp in, dL/dscores out).  p, d: [n]
@inline(__always)
func softmaxBackwardRow(_ p: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    let dot = vectorDot(p, d, n)
    let dot8 = Float8(repeating: dot)
    var j = 0
    while j + 8 <= n { store8(load8(p + j) * (load8(d + j) - dot8), d + j); j += 8 }
    while j < n { d[j] = p[j] * (d[j] - dot); j += 1 }
}
