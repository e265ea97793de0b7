import Foundation

/// Rotary position embedding in the Hugging Face rotate-half layout: within each head,
/// dimension i (i < d/2) rotates with dimension i + d/2 by angle pos · θ^(−2i/d).
public struct RoPETable: Sendable {
    public let headDim: Int
    public let positions: Int
    /// cos and sin: [positions, headDim/2]
    public let cos: [Float]
    public let sin: [Float]

    public init(headDim: Int, positions: Int, theta: Float) {
        self.headDim = headDim
        self.positions = positions
        let half = headDim / 2
        var c = [Float](repeating: 0, count: positions * half)
        var s = [Float](repeating: 0, count: positions * half)
        for i in 0..<half {
            let invFreq = 1.0 / pow(Double(theta), Double(2 * i) / Double(headDim))
            for p in 0..<positions {
                let a = Double(p) * invFreq
                c[p * half + i] = Float(Foundation.cos(a))
                s[p * half + i] = Float(Foundation.sin(a))
            }
        }
        cos = c
        sin = s
    }

    /// Rotates `heads` heads of each of T rows, row t at position pos0 + t.
    /// x: [T, ld] with heads·headDim used columns; sign = −1 applies the inverse rotation (backward).
    /// Rows are split over the workers.
    public func apply(_ x: UnsafeMutablePointer<Float>, ld: Int, T: Int, heads: Int, pos0: Int, sign: Float = 1) {
        let half = headDim / 2
        withTables { cb, sb in
            Parallel.chunks(T, minChunk: 64) { rows in
                for t in rows {
                    let cp = cb + (pos0 + t) * half, sp = sb + (pos0 + t) * half
                    for h in 0..<heads {
                        let v = x + t * ld + h * headDim
                        for i in 0..<half {
                            let a = v[i], b = v[i + half]
                            let s = sign * sp[i]
                            v[i] = a * cp[i] - b * s
                            v[i + half] = b * cp[i] + a * s
                        }
                    }
                }
            }
        }
    }

    /// cos and sin tables: [positions, headDim/2] each.
    @inline(__always)
    func withTables(_ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> Void) {
        cos.withUnsafeBufferPointer { cb in
            sin.withUnsafeBufferPointer { sb in body(cb.baseAddress.unsafelyUnwrapped, sb.baseAddress.unsafelyUnwrapped) }
        }
    }
}

extension RoPETable {
    /// Backward of `apply`: the rotation is orthogonal, so dx ← Rᵀ·dx is the inverse rotation.
    /// dx: [T, ld] with heads·headDim used columns.
    public func applyBackward(_ dx: UnsafeMutablePointer<Float>, ld: Int, T: Int, heads: Int, pos0: Int) {
        apply(dx, ld: ld, T: T, heads: heads, pos0: pos0, sign: -1)
    }
}

extension RoPETable {
    /// Rotates compacted heads (see `HeadLayout`): head b starts at column offsets[b] and keeps the
    /// rotation pairs P = pairs[b / groupSize]; compact column j < |P| rotates with column j + |P|
    /// at the frequency of pair P[j].  x: [T, ld]; row t at position pos0 + t.
    public func apply(_ x: UnsafeMutablePointer<Float>, ld: Int, T: Int, pos0: Int, offsets: [Int],
                      pairs: [[Int32]], groupSize: Int) {
        let half = headDim / 2
        withTables { cb, sb in
            Parallel.chunks(T, minChunk: 64) { rows in
                for (b, offset) in offsets.enumerated() {
                    pairs[b / groupSize].withUnsafeBufferPointer { pp in
                        let m = pp.count
                        for t in rows {
                            let cp = cb + (pos0 + t) * half, sp = sb + (pos0 + t) * half
                            let v = x + t * ld + offset
                            for j in 0..<m {
                                let i = Int(pp[j])
                                let a = v[j], c = v[j + m]
                                v[j] = a * cp[i] - c * sp[i]
                                v[j + m] = c * cp[i] + a * sp[i]
                            }
                        }
                    }
                }
            }
        }
    }
}
