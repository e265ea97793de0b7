import Foundation

/// Eight-lane float helpers for the elementwise parts of the training passes (softmax rows, SiLU;
/// the inference forward uses the AVX-512/AVX2 C kernels of vector_kernels.h):
/// float reductions do not auto-vectorize (the compiler keeps their order), and libm's expf is
/// called one value at a time.

typealias Float8 = SIMD8<Float>

/// e^x per lane: x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite split of ln2), e^r by its degree-7
/// Taylor polynomial (truncation r⁸/8! < 6e-9, below float precision), 2ⁿ built in the exponent
/// bits. Relative error ≈ 1e-7 for x in [−87.3, 88] (n ≤ 127 keeps 2ⁿ finite); below −87.3 the result
/// is 0, above 88 it saturates at e⁸⁸.
@inline(__always)
func exp8(_ x: Float8) -> Float8 {
    let xc = max8(min8(x, Float8(repeating: 88)), Float8(repeating: -87.3))
    // n = round(x·log2 e): adding 1.5·2²³ leaves n in the low mantissa bits
    let magic = Float8(repeating: 12_582_912)
    let t = xc * Float8(repeating: 1.442_695_04) + magic
    let n = t - magic
    let r = xc - n * Float8(repeating: 0.693_145_751_953_125) - n * Float8(repeating: 1.428_606_765_330_187e-6)
    var p = Float8(repeating: 1.0 / 5040)
    p = p * r + Float8(repeating: 1.0 / 720)
    p = p * r + Float8(repeating: 1.0 / 120)
    p = p * r + Float8(repeating: 1.0 / 24)
    p = p * r + Float8(repeating: 1.0 / 6)
    p = p * r + Float8(repeating: 0.5)
    p = p * r + Float8(repeating: 1)
    p = p * r + Float8(repeating: 1)
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    let scale = unsafeBitCast((ni &+ SIMD8<Int32>(repeating: 127)) &<< SIMD8<Int32>(repeating: 23), to: Float8.self)
    return (p * scale).replacing(with: 0, where: x .< Float8(repeating: -87.3))
}

// Lane-wise min/max written as selects: the standard library's generic pointwiseMin/Max and
// .max() are not inlined and cost more than the exponential itself.
@inline(__always) func max8(_ a: Float8, _ b: Float8) -> Float8 { a.replacing(with: b, where: a .< b) }
@inline(__always) func min8(_ a: Float8, _ b: Float8) -> Float8 { a.replacing(with: b, where: b .< a) }

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> Float8 { UnsafeRawPointer(p).loadUnaligned(as: Float8.self) }
@inline(__always) func store8(_ v: Float8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float8.self)
}

/// max_i x[i] (−∞ for n = 0).  x: [n]
@inline(__always)
func vectorMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var m8 = Float8(repeating: -.infinity)
    var i = 0
    while i + 8 <= n { m8 = max8(m8, load8(x + i)); i += 8 }
    var m = m8[0]
    for j in 1..<8 { m = max(m, m8[j]) }
    while i < n { m = max(m, x[i]); i += 1 }
    return m
}

/// x[i] ← e^(x[i] − shift); returns Σ_i of the new values.  x: [n]
@inline(__always)
func vectorExpShifted(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
    var s8 = Float8.zero
    let sh = Float8(repeating: shift)
    var i = 0
    while i + 8 <= n {
        let e = exp8(load8(x + i) - sh)
        store8(e, x + i)
        s8 += e
        i += 8
    }
    var s = s8.sum()
    while i < n { let e = expf(x[i] - shift); x[i] = e; s += e; i += 1 }
    return s
}

/// x[i] ← x[i]·s.  x: [n]
@inline(__always)
func vectorScale(_ x: UnsafeMutablePointer<Float>, _ n: Int, _ s: Float) {
    let s8 = Float8(repeating: s)
    var i = 0
    while i + 8 <= n { store8(load8(x + i) * s8, x + i); i += 8 }
    while i < n { x[i] *= s; i += 1 }
}

/// Σ_i a[i]·b[i].  a, b: [n]
@inline(__always)
func vectorDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var s8 = Float8.zero
    var i = 0
    while i + 8 <= n { s8 += load8(a + i) * load8(b + i); i += 8 }
    var s = s8.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// h = silu(g)·u.  g, u, h: [n]
@inline(__always)
func vectorSiluGate(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>, _ n: Int) {
    let one = Float8(repeating: 1)
    var i = 0
    while i + 8 <= n {
        let v = load8(g + i)
        let s = one / (one + exp8(-v))
        store8(v * s * load8(u + i), h + i)
        i += 8
    }
    while i < n {
        let s = 1 / (1 + expf(-g[i]))
        h[i] = g[i] * s * u[i]
        i += 1
    }
}
