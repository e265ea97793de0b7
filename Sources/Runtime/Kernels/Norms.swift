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
    for t in 0..<T {
        let xt = x + t * C
        let yt = y + t * C
        var ss: Float = 0
        for c in 0..<C { ss += xt[c] * xt[c] }
        let r = 1 / (ss / Float(C) + eps).squareRoot()
        for c in 0..<C { yt[c] = xt[c] * r * w[c] }
        rstd?[t] = r
    }
}
