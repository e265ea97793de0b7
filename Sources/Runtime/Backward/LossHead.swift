import Foundation

/// The lm_head and the mean cross-entropy of a window, forward and backward together, over chunks of
/// scored rows so that the [T, V] logits never exist at once (SmolLM2: 49152 columns).
final class LossHead {
    private let rows = Buffer()     // gathered lm_head inputs of the scored positions [n, P]
    private let dRows = Buffer()    // their gradients [n, P]
    private let logits = Buffer()   // one chunk of logits, then of d loss / d logits [chunk, V]
    private let headTile = Buffer() // a 16-bit lm_head's rows widened, one tile at a time [vt, P]

    /// Returns the mean cross-entropy over the scored positions and writes dHidden = d loss / d hidden
    /// (zero on unscored rows); dHead (when given) accumulates d loss / d lm_head weight.
    /// hidden, dHidden: [T, P]; dHead: [V, P]
    func run(head: Linear, hidden: UnsafePointer<Float>, T: Int, labels: TrainingLabels,
             dHidden: UnsafeMutablePointer<Float>, dHead: UnsafeMutablePointer<Float>?) -> Double {
        let P = head.inFeatures, V = head.outFeatures
        var positions: [Int] = []
        var given: [Int32] = []
        var seed: UInt64 = 0, sampling = false
        switch labels {
        case .given(let targets):
            for t in 0..<T where targets[t] >= 0 { positions.append(t); given.append(targets[t]) }
        case .sampled(let scored, let s):
            for t in 0..<T where scored[t] { positions.append(t) }
            seed = s
            sampling = true
        }
        let n = positions.count
        dHidden.update(repeating: 0, count: T * P)
        guard n > 0 else { return 0 }
        let hs = rows.reserve(n * P), dhs = dRows.reserve(n * P)
        for (i, t) in positions.enumerated() { (hs + i * P).update(from: hidden + t * P, count: P) }
        let chunk = min(n, max(16, (8 << 20) / max(V, 1) / 16 * 16))
        let lg = logits.reserve(chunk * V)
        let scale = 1 / Float(n)
        var lossSum = 0.0
        var rowLoss = [Double](repeating: 0, count: chunk)
        // a 16-bit lm_head (tied: the embedding table) is widened tile by tile, never whole
        let half: (bits: [UInt16], bf16: Bool)? = (head.weight as? Dense16Storage<F16>).map { ($0.bits, false) }
            ?? (head.weight as? Dense16Storage<BF16>).map { ($0.bits, true) }
        let weight = half == nil ? head.denseWeight.data : [0]
        weight.withUnsafeBufferPointer { wb in
            let w = wb.baseAddress!
            var r0 = 0
            while r0 < n {
                let m = min(chunk, n - r0)
                // logits: [m, V] = hs[r0..<r0+m] · Wᵀ (+ b)
                head.forward(hs + r0 * P, lg, T: m)
                rowLoss.withUnsafeMutableBufferPointer { lb in
                    let losses = lb.baseAddress!
                    Parallel.chunks(m, minChunk: max(4, (1 << 16) / max(V, 1))) { r in
                        for i in r {
                            let row = lg + i * V
                            let target: Int
                            if sampling {
                                _ = softmaxInPlace(row, V: V)
                                var rng = SeededRandom(seed: seed ^ (UInt64(positions[r0 + i]) &* 0x9E37_79B9_7F4A_7C15))
                                target = sampleIndex(row, V: V, &rng)
                                losses[i] = -log(Double(max(row[target], .leastNormalMagnitude)))
                            } else {
                                target = Int(given[r0 + i])
                                let picked = Double(row[target])
                                losses[i] = softmaxInPlace(row, V: V) - picked
                            }
                            crossEntropyBackward(row, V: V, target: target, scale: scale)
                        }
                    }
                }
                for i in 0..<m { lossSum += rowLoss[i] }
                // d hs = dlogits · W;  dW += dlogitsᵀ · hs;  db += Σ dlogits
                if let half {
                    dLogitsTimesHalfHead(lg, m: m, half.bits, bf16: half.bf16, V: V, P: P, dhs + r0 * P)
                } else {
                    sgemmParallel(transA: false, transB: false, M: m, N: P, K: V, lg, lda: V, w, ldb: P, dhs + r0 * P, ldc: P)
                }
                if let dHead {
                    sgemmParallel(transA: true, transB: false, M: V, N: P, K: m, lg, lda: V, hs + r0 * P, ldb: P,
                                  beta: 1, dHead, ldc: P)
                }
                r0 += m
            }
        }
        for (i, t) in positions.enumerated() { (dHidden + t * P).update(from: dhs + i * P, count: P) }
        return lossSum / Double(n)
    }

    /// out = dl · W for a 16-bit W, its rows widened tile by tile (as the forward's prefill GEMM).
    /// dl: [m, V]; bits: [V, P] 16-bit; out: [m, P]
    private func dLogitsTimesHalfHead(_ dl: UnsafePointer<Float>, m: Int, _ bits: [UInt16], bf16: Bool, V: Int, P: Int,
                                      _ out: UnsafeMutablePointer<Float>) {
        let vt = min(V, max(16, (1 << 20) / max(P, 1) / 16 * 16))
        let tile = headTile.reserve(vt * P)
        bits.withUnsafeBufferPointer { bp in
            guard let b = bp.baseAddress else { return }
            var v0 = 0
            while v0 < V {
                let n = min(vt, V - v0)
                HalfKernels.convert(b + v0 * P, tile, n * P, bf16: bf16)
                sgemmParallel(transA: false, transB: false, M: m, N: P, K: n, dl + v0, lda: V, tile, ldb: P,
                              beta: v0 == 0 ? 0 : 1, out, ldc: P)
                v0 += n
            }
        }
    }
}

/// Index drawn from the probabilities p (summing to 1).  p: [V]
func sampleIndex(_ p: UnsafePointer<Float>, V: Int, _ rng: inout SeededRandom) -> Int {
    var u = Float(rng.uniform())
    for i in 0..<V {
        u -= p[i]
        if u < 0 { return i }
    }
    var last = V - 1
    while last > 0 && p[last] == 0 { last -= 1 }
    return last
}
