import CBLAS
import Foundation

/// Pointwise activations.

/// x = max(x, 0) in place.  x: [n]
@inline(__always)
public func reluForward(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { x[i] = max(x[i], 0) }
}

/// gelu (exact, erf form) in place.  x: [n]
public func geluForward(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n {
        let v = x[i]
        x[i] = 0.5 * v * (1 + Float(erf(Double(v) / 2.0.squareRoot())))
    }
}

/// g = silu(g) · u, in place in g (Llama's gated MLP; SIMD kernel of vector_kernels.h, chunks
/// split over the workers).  g, u: [n]
@inline(__always)
public func siluGateForward(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
    let level = SparseKernels.level
    Parallel.chunks(n, align: 64, minChunk: 1 << 14) { r in
        surgeon_silu_gate(level, g + r.lowerBound, u + r.lowerBound, r.count)
    }
}

/// Backward of `reluForward`: d ← d · 1[z > 0], in place. z may be the pre-activation or the
/// output (same sign pattern).  z, d: [n]
@inline(__always)
public func reluBackward(_ z: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n where z[i] <= 0 { d[i] = 0 }
}

/// Backward of `geluForward` (erf form): d ← d · (Φ(z) + z·φ(z)), in place.  z (pre-activation), d: [n]
public func geluBackward(_ z: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    let invSqrt2 = 1 / 2.0.squareRoot(), invSqrt2Pi = 1 / (2 * Double.pi).squareRoot()
    for i in 0..<n {
        let v = Double(z[i])
        let cdf = 0.5 * (1 + erf(v * invSqrt2))
        let pdf = exp(-0.5 * v * v) * invSqrt2Pi
        d[i] *= Float(cdf + v * pdf)
    }
}

/// Backward of `siluGateForward` (h = silu(g)·u): with σ = sigmoid(g),
/// dg = dh·u·σ·(1 + g·(1 − σ)), du = dh·g·σ. Chunks split over the workers, eight lanes at a time.
/// g, u (pre-activations), dh, dg, du: [n]
public func siluGateBackward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ dh: UnsafePointer<Float>,
                             _ dg: UnsafeMutablePointer<Float>, _ du: UnsafeMutablePointer<Float>, _ n: Int) {
    Parallel.chunks(n, align: 64, minChunk: 1 << 14) { range in
        let one = Float8(repeating: 1)
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let v = load8(g + i), d = load8(dh + i)
            let s = one / (one + exp8(-v))
            store8(d * load8(u + i) * s * (one + v * (one - s)), dg + i)
            store8(d * v * s, du + i)
            i += 8
        }
        while i < range.upperBound {
            let v = g[i]
            let s = 1 / (1 + expf(-v))
            let d = dh[i]
            dg[i] = d * u[i] * s * (1 + v * (1 - s))
            du[i] = d * v * s
            i += 1
        }
    }
}
