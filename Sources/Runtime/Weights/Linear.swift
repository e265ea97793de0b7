/// y = x Wᵀ + b for a weight W of R outputs × C inputs, whatever storage holds W.
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

    /// A layer over any storage. A dense storage needs R·C values; the others carry their shape.
    public init(weight: LinearWeight, outFeatures: Int, inFeatures: Int, bias: [Float]? = nil) {
        if let s = weight.storedShape {
            precondition(s.rows == outFeatures && s.cols == inFeatures, "storage is \(s.rows)×\(s.cols), layer \(outFeatures)×\(inFeatures)")
        } else {
            precondition(weight.bytes == 4 * outFeatures * inFeatures, "dense weight does not have \(outFeatures)×\(inFeatures) values")
        }
        precondition(bias.map { $0.count == outFeatures } ?? true, "bias does not have \(outFeatures) values")
        self.weight = weight
        self.bias = bias
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
    }

    /// The weight as a dense [R, C] tensor, zeros included (whatever the storage).
    public var denseWeight: Tensor { Tensor(shape: [outFeatures, inFeatures], data: weight.dense()) }

    /// Zero entries of the weight and bias (pruned parameters).
    public var zeroCount: Int {
        (bias?.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } ?? 0) + weight.zeroCount
    }

    /// Bytes the weight and bias occupy as stored.
    public var storageBytes: Int { (bias?.count ?? 0) * 4 + weight.bytes }

    public var storageKind: StorageKind { weight.kind }

    /// One line for reports and compression.json, e.g. `compacted 1075x576 of 1536x576`.
    public var storageDescription: String {
        switch weight {
        case .dense: return "dense"
        case .compacted(let s):
            return "compacted \(s.keptRows.count)x\(s.keptCols.count) of \(outFeatures)x\(inFeatures)"
        case .twoFour: return "2:4"
        case .bitmask(let s): return "bitmask (\(s.nonzeros) nonzeros)"
        case .csr(let s): return "csr (\(s.values.count) nonzeros)"
        }
    }

    /// Rows whose weights are all zero (for a compacted storage: the rows it does not keep).
    public var removedRows: [Int] {
        if case .compacted(let s) = weight { return s.removedRows.map { Int($0) } }
        let w = weight.dense(), C = inFeatures
        return (0..<outFeatures).filter { r in (0..<C).allSatisfy { w[r * C + $0] == 0 } }
    }

    /// Columns whose weights are all zero (for a compacted storage: the columns it does not keep).
    public var removedCols: [Int] {
        if case .compacted(let s) = weight {
            var kept = [Bool](repeating: false, count: inFeatures)
            for c in s.keptCols { kept[Int(c)] = true }
            return (0..<inFeatures).filter { !kept[$0] }
        }
        let w = weight.dense(), C = inFeatures
        return (0..<C).filter { c in (0..<outFeatures).allSatisfy { w[$0 * C + c] == 0 } }
    }

    public mutating func setDense(_ w: Tensor) {
        precondition(w.shape == [outFeatures, inFeatures])
        weight = .dense(w.data)
    }

    // MARK: forward

    /// Computes output rows `rows` of y (added to y when `accumulate`), for any storage.
    /// x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    @inline(__always)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                        rows: Range<Int>, accumulate: Bool = false) {
        if rows.isEmpty || T == 0 { return }
        switch weight {
        case .dense(let w):
            w.withUnsafeBufferPointer { wp in
                matmulWT(x, ldx: ldx, wp.baseAddress.unsafelyUnwrapped, y, ldy: ldy, T: T, C: inFeatures, rows: rows, accumulate: accumulate)
            }
        case .compacted(let s):
            withOptionalPointer(bias) { s.forwardRows(x, ldx: ldx, y, ldy: ldy, T: T, rows: rows, accumulate: accumulate, bias: $0) }
            return
        case .twoFour(let s): s.forward(x, ldx: ldx, y, ldy: ldy, T: T, rows: rows, accumulate: accumulate)
        case .bitmask(let s): s.forward(x, ldx: ldx, y, ldy: ldy, T: T, rows: rows, accumulate: accumulate)
        case .csr(let s): s.forward(x, ldx: ldx, y, ldy: ldy, T: T, rows: rows, accumulate: accumulate)
        }
        if let bias {
            bias.withUnsafeBufferPointer { addBias(y, ldy: ldy, $0.baseAddress.unsafelyUnwrapped, T: T, rows: rows) }
        }
    }

    /// Parallel work units: output rows, or a compacted storage's kept rows plus its fill unit.
    var workUnits: Int {
        if case .compacted(let s) = weight { return s.units }
        return outFeatures
    }

    /// Runs work units `units` (see `workUnits`); the prefix modes exist for compacted storages only.
    @inline(__always)
    func run(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int, units: Range<Int>,
             accumulate: Bool, inputPrefix: Int?, compactOutput: Bool) {
        if case .compacted(let s) = weight {
            withOptionalPointer(bias) {
                s.forward(x, ldx: ldx, y, ldy: ldy, T: T, units: units, accumulate: accumulate, bias: $0,
                          inputPrefix: inputPrefix, compactOutput: compactOutput)
            }
        } else {
            precondition(inputPrefix == nil && !compactOutput, "prefix modes need a compacted storage")
            forward(x, ldx: ldx, y, ldy: ldy, T: T, rows: units, accumulate: accumulate)
        }
    }

    /// Which output rows a many-layer run writes, and where.
    enum OutputRows {
        /// All R rows: y: [T, R].
        case all
        /// The first n kept rows of compacted layers, in kept order: y: [T, n].
        case keptPrefix(Int)
        /// All kept rows of compacted layers, in kept order: y: [T, nr] (nr of each layer).
        case kept

        @inline(__always) func units(_ l: Linear) -> Int {
            switch self {
            case .all: return l.workUnits
            case .keptPrefix(let n): return n
            case .kept: return l.keptRowCount
            }
        }

        @inline(__always) func ldy(_ l: Linear) -> Int {
            switch self {
            case .all: return l.outFeatures
            case .keptPrefix(let n): return n
            case .kept: return l.keptRowCount
            }
        }
    }

    /// Relative cost of one work unit: the inputs a row reads.
    @inline(__always)
    func unitCost(_ inputPrefix: Int?) -> Int {
        if let inputPrefix { return max(inputPrefix, 1) }
        if case .compacted(let s) = weight { return max(s.keptCols.count, 1) }
        return max(inFeatures, 1)
    }

    /// Kept rows of a compacted storage (all rows otherwise).
    var keptRowCount: Int {
        if case .compacted(let s) = weight { return s.keptRows.count }
        return outFeatures
    }

    /// y = x Wᵀ + b (or y += x Wᵀ + b) for all rows, split over the worker threads.  x: [T, C]; y: [T, R]
    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, T: Int, accumulate: Bool = false) {
        Linear.runMany(x, ldx: inFeatures, T: T, accumulate: accumulate, inputPrefix: nil, output: .all, self, y)
    }

    /// Up to three linears reading the same input (q/k/v, gate/up): their work is split over the
    /// workers in one parallel region, without allocating.  x: [T, C]; y_i: [T, R_i]
    public static func forwardMany(_ x: UnsafePointer<Float>, T: Int,
                                   _ a: Linear, _ ya: UnsafeMutablePointer<Float>,
                                   _ b: Linear? = nil, _ yb: UnsafeMutablePointer<Float>? = nil,
                                   _ c: Linear? = nil, _ yc: UnsafeMutablePointer<Float>? = nil) {
        runMany(x, ldx: a.inFeatures, T: T, accumulate: false, inputPrefix: nil, output: .all, a, ya, b, yb, c, yc)
    }

    /// MLP chain, first half (gate/up or fc1): only the first n kept rows, written compactly.
    /// Both layers must be compacted with the same first n kept rows (see `MLPChain`).
    /// x: [T, C]; ya, yb: [T, n]
    public static func forwardManyPrefix(_ x: UnsafePointer<Float>, T: Int, n: Int,
                                         _ a: Linear, _ ya: UnsafeMutablePointer<Float>,
                                         _ b: Linear? = nil, _ yb: UnsafeMutablePointer<Float>? = nil) {
        runMany(x, ldx: a.inFeatures, T: T, accumulate: false, inputPrefix: nil, output: .keptPrefix(n), a, ya, b, yb)
    }

    /// Compacted layers reading the same input, each writing all its kept rows in kept order
    /// (per-head attention, see `CompactAttention`).  x: [T, C]; y_i: [T, nr_i]
    public static func forwardManyKept(_ x: UnsafePointer<Float>, T: Int,
                                       _ a: Linear, _ ya: UnsafeMutablePointer<Float>,
                                       _ b: Linear? = nil, _ yb: UnsafeMutablePointer<Float>? = nil,
                                       _ c: Linear? = nil, _ yc: UnsafeMutablePointer<Float>? = nil) {
        runMany(x, ldx: a.inFeatures, T: T, accumulate: false, inputPrefix: nil, output: .kept, a, ya, b, yb, c, yc)
    }

    /// Second half of a chain (down, fc2, o_proj): x holds the inputs of the first n kept columns only.
    /// x: [T, n]; y: [T, R]
    public func forward(prefixInput x: UnsafePointer<Float>, n: Int, _ y: UnsafeMutablePointer<Float>, T: Int, accumulate: Bool) {
        Linear.runMany(x, ldx: n, T: T, accumulate: accumulate, inputPrefix: n, output: .all, self, y)
    }

    @inline(__always)
    static func runMany(_ x: UnsafePointer<Float>, ldx: Int, T: Int, accumulate: Bool, inputPrefix: Int?, output: OutputRows,
                        _ a: Linear, _ ya: UnsafeMutablePointer<Float>,
                        _ b: Linear? = nil, _ yb: UnsafeMutablePointer<Float>? = nil,
                        _ c: Linear? = nil, _ yc: UnsafeMutablePointer<Float>? = nil) {
        let ua = output.units(a)
        let ub = b.map { output.units($0) } ?? 0
        let uc = c.map { output.units($0) } ?? 0
        let minUnits = T == 1 ? 64 : 16
        let compact: Bool
        if case .all = output { compact = false } else { compact = true }
        // Split by cost, not by unit count: a unit (row) costs its kept inputs, which differ
        // between compacted layers (e.g. a q_proj keeping 56 inputs beside a v_proj keeping 571).
        let wa = a.unitCost(inputPrefix), wb = b?.unitCost(inputPrefix) ?? 0, wc = c?.unitCost(inputPrefix) ?? 0
        let n = ua + ub + uc, total = ua * wa + ub * wb + uc * wc
        let parts = max(1, min(Parallel.threads, n / minUnits))
        @inline(__always) func unit(atCost w: Int) -> Int {
            var u: Int
            if w < ua * wa { u = w / max(wa, 1) }
            else if w < ua * wa + ub * wb { u = ua + (w - ua * wa) / max(wb, 1) }
            else { u = ua + ub + (w - ua * wa - ub * wb) / max(wc, 1) }
            u = u / 16 * 16
            return min(u, n)
        }
        Parallel.forEach(parts) { p in
            let range = (p == 0 ? 0 : unit(atCost: total * p / parts)) ..< (p == parts - 1 ? n : unit(atCost: total * (p + 1) / parts))
            if range.isEmpty { return }
            @inline(__always) func go(_ l: Linear, _ y: UnsafeMutablePointer<Float>, base: Int, count: Int) {
                let lo = max(range.lowerBound, base) - base
                let hi = min(range.upperBound, base + count) - base
                if lo < hi {
                    l.run(x, ldx: ldx, y, ldy: output.ldy(l), T: T, units: lo..<hi, accumulate: accumulate,
                          inputPrefix: inputPrefix, compactOutput: compact)
                }
            }
            go(a, ya, base: 0, count: ua)
            if let b, let yb { go(b, yb, base: ua, count: ub) }
            if let c, let yc { go(c, yc, base: ua + ub, count: uc) }
        }
    }
}
