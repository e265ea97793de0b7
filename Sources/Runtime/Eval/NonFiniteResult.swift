/// Finite results: logits, negative log-likelihoods, perplexities and curvature factors are checked
/// for NaN/Inf where they are produced (one pass over a buffer, never inside a hot loop), so a model
/// whose finite weights overflow float32 (a weight of 3e38) fails with this error instead of
/// printing `{}`, garbage text or NaN factors.

/// A result that came out NaN or ±Inf: which one, where, and the first bad value.
public struct NonFiniteError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The quantity that is not finite. Positions and indices count from 0.
    public enum Quantity: Equatable, Sendable {
        /// The model's logits at `position` of the sequence (they predict the next token);
        /// `segment` is the perplexity segment when there is one.
        case logits(position: Int, segment: Int?)
        /// The reference model's logits (perplexity with a reference model).
        case referenceLogits(position: Int, segment: Int)
        /// The negative log-likelihood of the token after `position` of a perplexity segment.
        case negativeLogLikelihood(position: Int, segment: Int)
        /// KL(reference ‖ model) at `position` of a perplexity segment.
        case klDivergence(position: Int, segment: Int)
        /// exp(mean NLL) beyond the range of a Double.
        case perplexity(meanNLL: Double)
        /// The mean cross-entropy of a calibration window's forward and backward pass.
        case calibrationLoss(window: Int)
        /// A Kronecker factor ("A" or "G") of a layer after accumulating `windows` windows.
        case factor(String, layer: String, windows: Int)
    }

    /// Which non-finite value was found.
    public enum Value: String, Sendable {
        case nan = "NaN", positiveInfinity = "+Inf", negativeInfinity = "-Inf"

        /// The class of a non-finite value (a finite one counts as NaN: callers pass only non-finite values).
        public init(_ v: Double) {
            self = v == .infinity ? .positiveInfinity : v == -.infinity ? .negativeInfinity : .nan
        }
    }

    public let quantity: Quantity
    public let value: Value
    /// Where in the buffer the first bad value sits (the vocabulary entry of a logit, the flat
    /// index of a factor entry), when the quantity is a buffer.
    public let index: Int?

    public init(_ quantity: Quantity, value: Double, index: Int? = nil) {
        self.quantity = quantity
        self.value = Value(value)
        self.index = index
    }

    public var description: String {
        let v = value.rawValue
        let overflow = "the model's activations overflow float32: check the model file for weights too large for "
            + "float32 arithmetic (e.g. ±3e38) and re-export it"
        switch quantity {
        case .logits(let p, let s):
            let at = s.map { "position \(p) of segment \($0 + 1)" } ?? "position \(p)"
            return "the logits at \(at) contain \(v)\(entry): \(overflow)"
        case .referenceLogits(let p, let s):
            return "the reference model's logits at position \(p) of segment \(s + 1) contain \(v)\(entry): "
                + "the reference model's activations overflow float32; check its model file"
        case .negativeLogLikelihood(let p, let s):
            return "the negative log-likelihood of the token after position \(p) of segment \(s + 1) is \(v): \(overflow)"
        case .klDivergence(let p, let s):
            return "the KL divergence from the reference at position \(p) of segment \(s + 1) is \(v): "
                + "the model gives the reference's likely tokens zero probability or its activations overflow float32"
        case .perplexity(let m):
            return "the perplexity exp(\(m)) is \(v): the mean negative log-likelihood is too large to report; "
                + "the model or the text is not what was meant"
        case .calibrationLoss(let w):
            return "the loss of calibration window \(w + 1) is \(v), so its gradients and curvature would be too: \(overflow)"
        case .factor(let kind, let layer, let n):
            return "the curvature factor \(kind) of \(layer) contains \(v)\(entry) after \(n) windows: \(overflow)"
        }
    }

    private var entry: String {
        guard let index else { return "" }
        if case .factor = quantity { return " (entry \(index))" }
        return " (vocabulary entry \(index))"
    }
}

/// Index of the first NaN or ±Inf of x, nil when every value is finite. One vectorized pass
/// (v − v is 0 for finite v and NaN otherwise; the NaN survives the lane sums), then a scalar
/// pass only when something was found.  x: [n]
public func firstNonFinite(_ x: UnsafePointer<Float>, count n: Int) -> Int? {
    let raw = UnsafeRawPointer(x)
    var acc = SIMD8<Float>.zero
    var i = 0
    while i + 8 <= n {
        let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        acc += v - v
        i += 8
    }
    var tail: Float = 0
    while i < n { tail += x[i] - x[i]; i += 1 }
    guard !(acc.sum() + tail).isFinite else { return nil }
    return (0..<n).first { !x[$0].isFinite }
}

/// Throws a `NonFiniteError` when x holds a NaN or ±Inf: `quantity(row)` names where, and the index
/// is the bad value's place within its row of `rowLength` (a vocabulary entry for logits).  x: [n]
@inline(__always)
public func checkFinite(_ x: UnsafePointer<Float>, count n: Int, rowLength: Int,
                        _ quantity: (_ row: Int) -> NonFiniteError.Quantity) throws {
    guard let i = firstNonFinite(x, count: n) else { return }
    let len = max(rowLength, 1)
    throw NonFiniteError(quantity(i / len), value: Double(x[i]), index: i % len)
}
