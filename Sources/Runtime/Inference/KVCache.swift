/// Keys and values of every layer for the positions seen so far.
/// Per layer: k, v: [capacity, kvDim] (positions × kv heads·head size). A layer whose attention
/// runs per head at kept sizes (`CompactAttention`) stores rows of its compact widths
/// kWidth / vWidth ≤ kvDim at the start of the same buffers.
public final class KVCache {
    public let layers: Int
    public let kvDim: Int
    public let capacity: Int
    public private(set) var k: [Buffer]
    public private(set) var v: [Buffer]
    /// Number of positions filled.
    public var count: Int = 0

    public init(layers: Int, kvDim: Int, capacity: Int) {
        self.layers = layers
        self.kvDim = kvDim
        self.capacity = capacity
        k = (0..<layers).map { _ in Buffer(capacity * kvDim) }
        v = (0..<layers).map { _ in Buffer(capacity * kvDim) }
    }

    public convenience init(config: ModelConfig, capacity: Int) {
        self.init(layers: config.numLayers, kvDim: config.kvDim, capacity: capacity)
    }

    public var remaining: Int { capacity - count }

    /// Forgets every position (keeps the memory).
    public func reset() { count = 0 }

    /// Forgets positions from `n` on (for rewinding a conversation).
    public func truncate(to n: Int) { count = min(count, max(0, n)) }
}

/// Scratch activations of one forward pass, grown to the largest T seen and then reused,
/// so steady-state decoding allocates nothing.
public final class Workspace {
    public let x = Buffer()        // residual stream [T, C]
    public let xn = Buffer()       // normalized input of a sub-block [T, C]
    public let q = Buffer()        // queries [T, qDim]
    public let att = Buffer()      // attention output [T, qDim]
    public let h1 = Buffer()       // fc1 / gate [T, F]
    public let h2 = Buffer()       // up [T, F]
    public let hidden = Buffer()   // final hidden states, lm_head input [T, C']
    public let tmp = Buffer()      // [T, max(C, C')]

    public init() {}
}
