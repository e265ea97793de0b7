import Foundation

/// Keys and values of every layer for the positions seen so far.
/// Per layer: k, v: [rows, kvDim] (held positions × kv heads·head size); row r holds position
/// base + r. A layer whose attention runs per head at kept sizes (`CompactAttention`) stores rows
/// of its compact widths kWidth / vWidth ≤ kvDim at the start of the same buffers.
///
/// With a sliding window W (Mistral) no position from `count` on reads a key before
/// count − (W − 1): when the rows are full, `makeRoom` drops those (moving the last W − 1 rows to
/// the front, `base` advances), so a windowed cache holds about 2W + 64 rows however long the
/// sequence. Without a window every position stays (rows = capacity).
public final class KVCache {
    public let layers: Int
    public let kvDim: Int
    /// Most positions a sequence may reach (the context).
    public let capacity: Int
    /// The model's sliding window (0: none).
    public let window: Int
    public private(set) var k: [Buffer]
    public private(set) var v: [Buffer]
    /// Rows allocated per layer.
    public private(set) var rows: Int
    /// Position held in row 0 (positions before it were dropped: they lie behind the window).
    public private(set) var base: Int = 0
    /// Number of positions seen.
    public var count: Int = 0

    public init(layers: Int, kvDim: Int, capacity: Int, window: Int = 0) {
        self.layers = layers
        self.kvDim = kvDim
        self.capacity = capacity
        self.window = max(0, window)
        let rows = self.window > 0 ? min(capacity, 2 * self.window + 64) : capacity
        self.rows = rows
        k = (0..<layers).map { _ in Buffer(rows * kvDim) }
        v = (0..<layers).map { _ in Buffer(rows * kvDim) }
    }

    public convenience init(config: ModelConfig, capacity: Int) {
        self.init(layers: config.numLayers, kvDim: config.kvDim, capacity: capacity, window: config.slidingWindow ?? 0)
    }

    public var remaining: Int { capacity - count }

    /// Forgets every position (keeps the memory).
    public func reset() {
        count = 0
        base = 0
    }

    /// Forgets positions from `n` on (for rewinding a conversation) and returns the positions kept:
    /// `min(count, n)`, or 0 when position n − 1 ... lay behind the window and were dropped (the
    /// caller then runs the sequence again from its start).
    @discardableResult
    public func truncate(to n: Int) -> Int {
        let n = max(0, n)
        if n < base { reset() } else { count = min(count, n) }
        return count
    }

    /// Makes room for T positions after `count` in rows count − base ..< count − base + T: drops the
    /// rows the window has left behind when the rows are full, then grows the buffers if still
    /// short (keeping the held rows). rowWidths(l): floats per key row and per value row of layer l.
    func makeRoom(for T: Int, rowWidths: (Int) -> (k: Int, v: Int)) {
        guard count - base + T > rows else { return }
        if window > 0 {
            let keepFrom = max(base, count - (window - 1)), drop = keepFrom - base, held = count - keepFrom
            if drop > 0 {
                for l in 0..<layers {
                    let (kw, vw) = rowWidths(l)
                    memmove(k[l].pointer, k[l].pointer + drop * kw, held * kw * MemoryLayout<Float>.stride)
                    memmove(v[l].pointer, v[l].pointer + drop * vw, held * vw * MemoryLayout<Float>.stride)
                }
                base = keepFrom
            }
        }
        let needed = count - base + T
        guard needed > rows else { return }
        let grown = max(needed, min(2 * rows, capacity))
        for l in 0..<layers {
            let (kw, vw) = rowWidths(l), held = count - base
            let nk = Buffer(grown * kvDim), nv = Buffer(grown * kvDim)
            nk.pointer.update(from: k[l].pointer, count: held * kw)
            nv.pointer.update(from: v[l].pointer, count: held * vw)
            k[l] = nk
            v[l] = nv
        }
        rows = grown
    }
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
