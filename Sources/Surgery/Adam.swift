import Foundation

/// Adam (Kingma & Ba 2015) for one flat parameter vector, in PyTorch's form:
/// m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,
/// p ← p − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε).
/// No weight decay. The moments are float32, the bias corrections float64.
public struct Adam: Sendable {
    public let beta1: Double
    public let beta2: Double
    public let epsilon: Double
    public private(set) var steps = 0
    private var m: [Float]
    private var v: [Float]

    public init(count: Int, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        m = [Float](repeating: 0, count: count)
        v = [Float](repeating: 0, count: count)
    }

    public var count: Int { m.count }

    /// One step on `params` with gradient `gradient` (both of `count` values) at learning rate `lr`.
    /// A coordinate whose gradient has always been zero does not move (its moments stay zero).
    public mutating func step(_ params: inout [Float], gradient: [Float], lr: Double) {
        precondition(params.count == m.count && gradient.count == m.count, "Adam: \(params.count) parameters, \(gradient.count) gradients, state for \(m.count)")
        steps += 1
        let b1 = Float(beta1), b2 = Float(beta2)
        let c1 = 1 - pow(beta1, Double(steps)), c2 = 1 - pow(beta2, Double(steps))
        let stepSize = Float(lr / c1), rootC2 = Float(c2.squareRoot()), eps = Float(epsilon)
        m.withUnsafeMutableBufferPointer { mb in
            v.withUnsafeMutableBufferPointer { vb in
                params.withUnsafeMutableBufferPointer { pb in
                    gradient.withUnsafeBufferPointer { gb in
                        for i in 0..<gb.count {
                            let g = gb[i]
                            mb[i] = b1 * mb[i] + (1 - b1) * g
                            vb[i] = b2 * vb[i] + (1 - b2) * g * g
                            pb[i] -= stepSize * mb[i] / (vb[i].squareRoot() / rootC2 + eps)
                        }
                    }
                }
            }
        }
    }
}

/// A learning rate decaying linearly from `base` at step 0 towards 0 after `total` steps:
/// lr(i) = base · (total − i) / total (as Hugging Face's linear schedule without warm-up).
public struct LinearDecay: Sendable, Equatable {
    public let base: Double
    public let total: Int

    public init(base: Double, total: Int) {
        self.base = base
        self.total = max(total, 1)
    }

    public func rate(at step: Int) -> Double {
        base * Double(max(total - step, 0)) / Double(total)
    }
}
