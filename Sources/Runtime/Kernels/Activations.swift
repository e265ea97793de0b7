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

/// g = silu(g) · u, in place in g (Llama's gated MLP).  g, u: [n]
@inline(__always)
public func siluGateForward(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n {
        let v = g[i]
        g[i] = v / (1 + expf(-v)) * u[i]
    }
}
