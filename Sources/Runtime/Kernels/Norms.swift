import Foundation

/// LayerNorm and RMSNorm over the last dimension.

/// y[t] = (x[t] − mean) / sqrt(var + eps) · w + b; saves mean and rstd per row if asked.
/// x, y: [T, C]; w, b: [C] (nil: no affine); mean, rstd: [T]
public func layerNormForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>?,
                             _ b: UnsafePointer<Float>?, T: Int, C: Int, eps: Float,
                             mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil) {
    for t in 0..<T {
        let xt = x + t * C
        let yt = y + t * C
        var s: Float = 0
        for c in 0..<C { s += xt[c] }
        let m = s / Float(C)
        var v: Float = 0
        for c in 0..<C { let d = xt[c] - m; v += d * d }
        let r = 1 / (v / Float(C) + eps).squareRoot()
        for c in 0..<C {
            var o = (xt[c] - m) * r
            if let w { o *= w[c] }
            if let b { o += b[c] }
            yt[c] = o
        }
        mean?[t] = m
        rstd?[t] = r
    }
}

/// y[t] = x[t] / sqrt(mean(x[t]²) + eps) · w; saves rstd per row if asked.
/// x, y: [T, C]; w: [C]; rstd: [T]
public func rmsNormForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>,
                           T: Int, C: Int, eps: Float, rstd: UnsafeMutablePointer<Float>? = nil) {
    Parallel.chunks(T, minChunk: max(16, (1 << 14) / max(C, 1))) { rows in
        for t in rows {
            let xt = x + t * C
            let yt = y + t * C
            var ss: Float = 0
            for c in 0..<C { ss += xt[c] * xt[c] }
            let r = 1 / (ss / Float(C) + eps).squareRoot()
            for c in 0..<C { yt[c] = xt[c] * r * w[c] }
            rstd?[t] = r
        }
    }
}

/// Backward of `layerNormForward` from its saved mean and rstd: with x̂ = (x − mean)·rstd and
/// d̂ = dy·w, dx = rstd·(d̂ − mean(d̂) − x̂·mean(d̂·x̂)) (added to dx when `accumulate`);
/// dw += Σ_t dy·x̂ and db += Σ_t dy when given. Rows (dx) and columns (dw, db) are split over the workers.
/// x, dy, dx: [T, C]; w: [C] (nil: no affine); mean, rstd: [T]; dw, db: [C]
public func layerNormBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                              _ w: UnsafePointer<Float>?, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                              dw: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?,
                              T: Int, C: Int, accumulate: Bool) {
    let invC = 1 / Float(C)
    Parallel.chunks(T, minChunk: max(16, (1 << 14) / max(C, 1))) { rows in
        for t in rows {
            let xt = x + t * C, dyt = dy + t * C, dxt = dx + t * C
            let m = mean[t], r = rstd[t]
            var sumD: Float = 0, sumDX: Float = 0
            for c in 0..<C {
                let d = dyt[c] * (w?[c] ?? 1)
                sumD += d
                sumDX += d * (xt[c] - m) * r
            }
            let meanD = sumD * invC, meanDX = sumDX * invC
            for c in 0..<C {
                let xh = (xt[c] - m) * r
                let g = r * (dyt[c] * (w?[c] ?? 1) - meanD - xh * meanDX)
                dxt[c] = accumulate ? dxt[c] + g : g
            }
        }
    }
    if dw == nil && db == nil { return }
    Parallel.chunks(C, align: 16, minChunk: max(64, (1 << 14) / max(T, 1))) { cols in
        for t in 0..<T {
            let xt = x + t * C, dyt = dy + t * C
            let m = mean[t], r = rstd[t]
            for c in cols {
                dw?[c] += dyt[c] * (xt[c] - m) * r
                db?[c] += dyt[c]
            }
        }
    }
}

/// Backward of `rmsNormForward` from its saved rstd: with d̂ = dy·w,
/// dx = rstd·d̂ − x·rstd³·mean(d̂·x) (added to dx when `accumulate`); dw += Σ_t dy·x·rstd.
/// Rows (dx) and columns (dw) are split over the workers.
/// x, dy, dx: [T, C]; w: [C]; rstd: [T]; dw: [C]
public func rmsNormBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                            _ w: UnsafePointer<Float>, rstd: UnsafePointer<Float>, dw: UnsafeMutablePointer<Float>?,
                            T: Int, C: Int, accumulate: Bool) {
    let invC = 1 / Float(C)
    Parallel.chunks(T, minChunk: max(16, (1 << 14) / max(C, 1))) { rows in
        for t in rows {
            let xt = x + t * C, dyt = dy + t * C, dxt = dx + t * C
            let r = rstd[t]
            var dot: Float = 0
            for c in 0..<C { dot += dyt[c] * w[c] * xt[c] }
            let k = r * r * r * dot * invC
            for c in 0..<C {
                let g = r * dyt[c] * w[c] - xt[c] * k
                dxt[c] = accumulate ? dxt[c] + g : g
            }
        }
    }
    guard let dw else { return }
    Parallel.chunks(C, align: 16, minChunk: max(64, (1 << 14) / max(T, 1))) { cols in
        for t in 0..<T {
            let xt = x + t * C, dyt = dy + t * C, r = rstd[t]
            for c in cols { dw[c] += dyt[c] * xt[c] * r }
        }
    }
}
