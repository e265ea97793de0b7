/// How a linear layer's weight matrix is stored. Layers call `Linear.forward` and never
/// care which storage is behind it.
public enum LinearWeight: Sendable {
    /// Row-major [R, C] float32.
    case dense([Float])
}

/// y = x Wᵀ + b for a weight W of R outputs × C inputs.
public struct Linear: Sendable {
    public var weight: LinearWeight
    public var bias: [Float]?
    public let outFeatures: Int   // R
    public let inFeatures: Int    // C

    public init(dense w: Tensor, bias: Tensor? = nil) {
        precondition(w.shape.count == 2)
        weight = .dense(w.data)
        self.bias = bias?.data
        outFeatures = w.shape[0]
        inFeatures = w.shape[1]
    }

    /// The weight as a dense [R, C] tensor (whatever the storage).
    public var denseWeight: Tensor {
        switch weight {
        case .dense(let d): return Tensor(shape: [outFeatures, inFeatures], data: d)
        }
    }

    /// Zero entries of the weight and bias (pruned parameters).
    public var zeroCount: Int {
        var z = bias?.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } ?? 0
        switch weight {
        case .dense(let d): z += d.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        }
        return z
    }

    /// Bytes the weight and bias occupy as stored.
    public var storageBytes: Int {
        var b = (bias?.count ?? 0) * 4
        switch weight {
        case .dense(let d): b += d.count * 4
        }
        return b
    }

    public mutating func setDense(_ w: Tensor) {
        precondition(w.shape == [outFeatures, inFeatures])
        weight = .dense(w.data)
    }

    /// Computes output rows `rows` of y (added to y when `accumulate`).
    /// x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    @inline(__always)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                        rows: Range<Int>, accumulate: Bool = false) {
        switch weight {
        case .dense(let w):
            w.withUnsafeBufferPointer { wp in
                matmulWT(x, ldx: ldx, wp.baseAddress!, y, ldy: ldy, T: T, C: inFeatures, rows: rows, accumulate: accumulate)
            }
        }
        if let bias {
            bias.withUnsafeBufferPointer { addBias(y, ldy: ldy, $0.baseAddress!, T: T, rows: rows) }
        }
    }

    /// y = x Wᵀ + b (or y += x Wᵀ + b) for all rows, split over the worker threads.  x: [T, C]; y: [T, R]
    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, T: Int, accumulate: Bool = false) {
        if !accumulate { Linear.forwardMany(x, T: T, self, y); return }
        Parallel.chunks(outFeatures, align: 16, minChunk: T == 1 ? 64 : 16) { range in
            forward(x, ldx: inFeatures, y, ldy: outFeatures, T: T, rows: range, accumulate: true)
        }
    }

    /// Up to three linears reading the same input (q/k/v, gate/up): their output rows are split
    /// over the workers in one parallel region, without allocating.  x: [T, C]; y_i: [T, R_i]
    public static func forwardMany(_ x: UnsafePointer<Float>, T: Int,
                                   _ a: Linear, _ ya: UnsafeMutablePointer<Float>,
                                   _ b: Linear? = nil, _ yb: UnsafeMutablePointer<Float>? = nil,
                                   _ c: Linear? = nil, _ yc: UnsafeMutablePointer<Float>? = nil) {
        let ra = a.outFeatures, rb = b?.outFeatures ?? 0, rc = c?.outFeatures ?? 0
        let minRows = T == 1 ? 64 : 16
        Parallel.chunks(ra + rb + rc, align: 16, minChunk: minRows) { range in
            @inline(__always) func run(_ l: Linear, _ y: UnsafeMutablePointer<Float>, base: Int) {
                let lo = max(range.lowerBound, base) - base
                let hi = min(range.upperBound, base + l.outFeatures) - base
                if lo < hi { l.forward(x, ldx: l.inFeatures, y, ldy: l.outFeatures, T: T, rows: lo..<hi) }
            }
            run(a, ya, base: 0)
            if let b, let yb { run(b, yb, base: ra) }
            if let c, let yc { run(c, yc, base: ra + rb) }
        }
    }
}
