import Foundation

/// Rotary position embedding in the Hugging Face rotate-half layout: within each head,
/// dimension i (i < d/2) rotates with dimension i + d/2 by angle pos · θ^(−2i/d).
///
/// The first `eagerPositions` cos/sin rows are computed at once; rows past them as positions are
/// first used (doubling, up to `positions`), not for the whole declared context at load: a model
/// declaring a long context costs only the rows its sequences reach. Each row is computed by the
/// same formula either way.
/// Scaled RoPE frequencies. `linear`: θ_i / factor. `llama3` (Llama-3.x `rope_type`): with wavelength λ_i = 2π/θ_i and the
/// original context L, λ_i < L/high keeps θ_i, λ_i > L/low uses θ_i/factor, and between them
/// θ_i·((1−s)/factor + s) with s = (L/λ_i − low)/(high − low) (Hugging Face
/// `_compute_llama3_parameters`). `divisors` (GGUF `rope_freqs.weight`, llama.cpp's form of the
/// same scaling): θ_i / d_i.
public enum RoPEScaling: Sendable, Equatable {
    case linear(factor: Double)
    case llama3(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositions: Int)
    case divisors([Float])

    /// The scaled inverse frequency of pair i whose unscaled inverse frequency is `invFreq`.
    public func scaled(_ invFreq: Double, pair i: Int) -> Double {
        switch self {
        case .linear(let factor):
            return invFreq / factor
        case .llama3(let factor, let low, let high, let original):
            let L = Double(original)
            let wavelen = 2 * Double.pi / invFreq
            if wavelen < L / high { return invFreq }
            if wavelen > L / low { return invFreq / factor }
            let s = (L / wavelen - low) / (high - low)
            return (1 - s) * invFreq / factor + s * invFreq
        case .divisors(let d):
            return i < d.count ? invFreq / Double(d[i]) : invFreq
        }
    }
}

public final class RoPETable: @unchecked Sendable {
    // @unchecked: the rows grow under `lock`; a caller takes the arrays under the lock and reads
    // its own references, so a concurrent growth never moves memory another caller is reading.
    public let headDim: Int
    /// The most positions the table is meant for (the model's context).
    public let positions: Int
    public let theta: Float
    /// Scaled frequencies (Llama-3.x); nil: θ^(−2i/d).
    public let scaling: RoPEScaling?
    private let lock = NSLock()
    /// cos and sin: [filled, headDim/2]
    private var cos: [Float] = []
    private var sin: [Float] = []
    private var filled = 0

    public init(headDim: Int, positions: Int, theta: Float, scaling: RoPEScaling? = nil) {
        self.headDim = headDim
        self.positions = positions
        self.theta = theta
        self.scaling = scaling
        lock.withLock { grow(to: min(positions, Self.eagerPositions)) }
    }

    /// Rows computed when the table is made (every context up to this costs what it always did).
    public static let eagerPositions = 4096

    /// Rows computed so far.
    public var computedPositions: Int { lock.withLock { filled } }

    /// The cos and sin tables holding at least positions 0..<n: [≥ n, headDim/2] each.
    func tables(covering n: Int) -> (cos: [Float], sin: [Float]) {
        lock.withLock {
            if n > filled {
                // Double (to keep the number of growths logarithmic) but not past the context,
                // unless a caller asks for more.
                grow(to: max(n, min(max(2 * filled, 256), positions)))
            }
            return (cos, sin)
        }
    }

    /// Appends rows filled..<n (called under `lock`).
    private func grow(to n: Int) {
        guard n > filled else { return }
        let half = headDim / 2
        var c = [Float](repeating: 0, count: (n - filled) * half)
        var s = [Float](repeating: 0, count: (n - filled) * half)
        for i in 0..<half {
            let base = 1.0 / pow(Double(theta), Double(2 * i) / Double(headDim))
            let invFreq = scaling?.scaled(base, pair: i) ?? base
            for p in filled..<n {
                let a = Double(p) * invFreq
                c[(p - filled) * half + i] = Float(Foundation.cos(a))
                s[(p - filled) * half + i] = Float(Foundation.sin(a))
            }
        }
        cos.append(contentsOf: c)
        sin.append(contentsOf: s)
        filled = n
    }

    /// Rotates `heads` heads of each of T rows, row t at position pos0 + t.
    /// x: [T, ld] with heads·headDim used columns; sign = −1 applies the inverse rotation (backward).
    /// Rows are split over the workers.
    public func apply(_ x: UnsafeMutablePointer<Float>, ld: Int, T: Int, heads: Int, pos0: Int, sign: Float = 1) {
        let half = headDim / 2
        withTables(covering: pos0 + T) { cb, sb in
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

    /// cos and sin tables holding positions 0..<n: [≥ n, headDim/2] each.
    @inline(__always)
    func withTables(covering n: Int, _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> Void) {
        let (c, s) = tables(covering: max(n, 1))
        c.withUnsafeBufferPointer { cb in
            s.withUnsafeBufferPointer { sb in body(cb.baseAddress.unsafelyUnwrapped, sb.baseAddress.unsafelyUnwrapped) }
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
        withTables(covering: pos0 + T) { cb, sb in
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
