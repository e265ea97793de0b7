/// y = x Wᵀ + b for a weight W of R outputs × C inputs, whatever storage holds W.
public struct Linear: Sendable {
    /// W in its storage (see `LinearStorage`); a new one must have the layer's shape.
    public var weight: any LinearStorage {
        didSet {
            precondition(weight.rows == outFeatures && weight.cols == inFeatures,
                         "storage is \(weight.rows)×\(weight.cols), layer \(outFeatures)×\(inFeatures)")
            compact = weight as? any RowColumnCompacted
        }
    }
    /// `weight` when its storage keeps whole rows and columns: checked once, when the storage is
    /// set, so the forwards test a field instead of casting per call.
    private(set) var compact: (any RowColumnCompacted)?
    public var bias: [Float]?
    public let outFeatures: Int   // R
    public let inFeatures: Int    // C

    public init(dense w: Tensor, bias: Tensor? = nil) {
        precondition(w.shape.count == 2)
        self.init(weight: DenseStorage(rows: w.shape[0], cols: w.shape[1], values: w.data), bias: bias?.data)
    }

    /// A layer over any storage, with the storage's shape.
    public init(weight: any LinearStorage, bias: [Float]? = nil) {
        self.init(weight: weight, outFeatures: weight.rows, inFeatures: weight.cols, bias: bias)
    }

    /// A layer over any storage of outFeatures × inFeatures.
    public init(weight: any LinearStorage, outFeatures: Int, inFeatures: Int, bias: [Float]? = nil) {
        precondition(weight.rows == outFeatures && weight.cols == inFeatures,
                     "storage is \(weight.rows)×\(weight.cols), layer \(outFeatures)×\(inFeatures)")
        precondition(bias.map { $0.count == outFeatures } ?? true, "bias does not have \(outFeatures) values")
        self.weight = weight
        self.compact = weight as? any RowColumnCompacted
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
    public var storageDescription: String { weight.summary }

    /// Rows whose weights are all zero (for a compacted storage: the rows it does not keep).
    public var removedRows: [Int] {
        if let compact { return compact.removedRows.map { Int($0) } }
        let w = weight.dense(), C = inFeatures
        return (0..<outFeatures).filter { r in (0..<C).allSatisfy { w[r * C + $0] == 0 } }
    }

    /// Columns whose weights are all zero (for a compacted storage: the columns it does not keep).
    public var removedCols: [Int] {
        if let compact {
            var kept = [Bool](repeating: false, count: inFeatures)
            for c in compact.keptCols { kept[Int(c)] = true }
            return (0..<inFeatures).filter { !kept[$0] }
        }
        let w = weight.dense(), C = inFeatures
        return (0..<C).filter { c in (0..<outFeatures).allSatisfy { w[$0 * C + c] == 0 } }
    }

    /// Replaces the weight by the dense `w` [R, C], in the value type of the current storage: a
    /// float32 layer stays float32 (exact), a 16-bit one stays 16-bit, `w` rounded once, here (the
    /// surgery's float32 working copy written back, `compress` from a 16-bit model).
    public mutating func setDense(_ w: Tensor) {
        precondition(w.shape == [outFeatures, inFeatures])
        weight = denseStorage(rows: outFeatures, cols: inFeatures, values: w.data, dtype: weight.valueDType)
    }

    // MARK: forward

    /// The bias as a pointer (nil without bias) for the duration of `body`.
    @inline(__always)
    func withBias<Result>(_ body: (UnsafePointer<Float>?) -> Result) -> Result {
        guard let bias else { return body(nil) }
        return bias.withUnsafeBufferPointer { body($0.baseAddress) }
    }

    /// Computes output rows `rows` of y (added to y when `accumulate`), for any storage.
    /// x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    @inline(__always)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                        rows: Range<Int>, accumulate: Bool = false) {
        if rows.isEmpty || T == 0 { return }
        withBias { weight.forward(x, ldx: ldx, y, ldy: ldy, T: T, rows: rows, accumulate: accumulate, bias: $0) }
    }

    /// Parallel work units: output rows, or a compacted storage's kept rows plus its fill unit.
    var workUnits: Int { compact?.units ?? outFeatures }

    /// Runs work units `units` (see `workUnits`); the prefix modes exist for compacted storages only.
    @inline(__always)
    func run(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int, units: Range<Int>,
             accumulate: Bool, inputPrefix: Int?, compactOutput: Bool) {
        if let compact {
            withBias {
                compact.forward(x, ldx: ldx, y, ldy: ldy, T: T, units: units, accumulate: accumulate, bias: $0,
                                inputPrefix: inputPrefix, compactOutput: compactOutput)
            }
        } else {
            precondition(inputPrefix == nil && !compactOutput, "prefix modes need a compacted storage")
            forward(x, ldx: ldx, y, ldy: ldy, T: T, rows: units, accumulate: accumulate)
        }
    }

    /// Relative cost of one work unit: the inputs a row reads.
    @inline(__always)
    func unitCost(_ inputPrefix: Int?) -> Int {
        if let inputPrefix { return max(inputPrefix, 1) }
        return max(compact?.keptCols.count ?? inFeatures, 1)
    }

    /// Kept rows of a compacted storage (all rows otherwise).
    var keptRowCount: Int { compact?.keptRows.count ?? outFeatures }
}
