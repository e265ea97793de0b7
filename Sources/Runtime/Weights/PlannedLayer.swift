/// One block linear's dense weight (pruned: exact zeros) with what may be dropped from it: what the
/// storage planner shows each storage type (`LinearStorage.estimatedBytes`, `build`).
public struct PlannedLayer: Sendable {
    /// Hugging Face name without `.weight`.
    public let name: String
    /// R, C
    public let rows: Int, cols: Int
    /// W: [R, C], zeros included.
    public let values: [Float]
    public let bias: [Float]?
    /// [R]: row r may be dropped (all its weights are zero, and a structured mask removed it when given).
    public let removableRow: [Bool]
    /// [C]: column c may be dropped (likewise).
    public let removableCol: [Bool]
    /// Nonzero entries of W.
    public let nonzeros: Int

    /// `masks` (removed rows and columns, as a structured run records them; column C of a layer
    /// with bias, its bias column, is accepted and ignored) restricts the removable rows and
    /// columns to those; without it every all-zero row and column is removable.
    public init(name: String, linear l: Linear, masks: (rows: [Int], cols: [Int])?) throws {
        self.name = name
        let R = l.outFeatures, C = l.inFeatures
        rows = R
        cols = C
        let w = l.weight.dense()
        values = w
        bias = l.bias
        var zr = [Bool](repeating: true, count: R), zc = [Bool](repeating: true, count: C)
        var nnz = 0
        for r in 0..<R {
            for c in 0..<C where w[r * C + c] != 0 { zr[r] = false; zc[c] = false; nnz += 1 }
        }
        nonzeros = nnz
        if let masks {
            var mr = [Bool](repeating: false, count: R), mc = [Bool](repeating: false, count: C)
            for r in masks.rows {
                guard r >= 0 && r < R else { throw StorageError.patternMismatch(layer: name, storage: "compacted", detail: "removed row \(r) outside 0..<\(R)") }
                mr[r] = true
            }
            for c in masks.cols {
                if c == C && l.bias != nil { continue }   // the bias column of a [W | b] layer
                guard c >= 0 && c < C else { throw StorageError.patternMismatch(layer: name, storage: "compacted", detail: "removed column \(c) outside 0..<\(C)") }
                mc[c] = true
            }
            for r in 0..<R { zr[r] = zr[r] && mr[r] }
            for c in 0..<C { zc[c] = zc[c] && mc[c] }
        }
        removableRow = zr
        removableCol = zc
    }

    /// The rows that are not removable, ascending.
    public var keptRows: [Int32] { (0..<rows).filter { !removableRow[$0] }.map { Int32($0) } }
    /// The columns that are not removable, ascending.
    public var keptCols: [Int32] { (0..<cols).filter { !removableCol[$0] }.map { Int32($0) } }
    public var keptRowCount: Int { removableRow.reduce(0) { $0 + ($1 ? 0 : 1) } }
    public var keptColCount: Int { removableCol.reduce(0) { $0 + ($1 ? 0 : 1) } }

    /// Output j is exactly 0 for every input: its row is dropped and its bias is 0.
    func deadUnit(_ j: Int) -> Bool { removableRow[j] && (bias?[j] ?? 0) == 0 }

    /// The weight compacted to exactly these rows and columns, in this order, with values of `dtype`.
    func compacted(rows kept: [Int32], cols keptC: [Int32], dtype: WeightDType) throws -> any RowColumnCompacted {
        try compactedStorage(dense: values, rows: rows, cols: cols, keptRows: kept, keptCols: keptC, dtype: dtype)
    }

    /// The storage with the lowest estimated decode time among those the policy allows, with
    /// values of the policy's type: dense unless another one's time is at most `maxRelativeCost`
    /// of dense's (a 16-bit dense weight costs its bytes at dense float32's throughput).
    func choice(_ policy: StoragePolicy) -> (type: any LinearStorage.Type, cost: Double) {
        let dense = policy.cost(.dense, bytes: policy.dtype.size * rows * cols)
        var best: (type: any LinearStorage.Type, cost: Double) = (denseStorageType(policy.dtype), dense)
        var found = false
        for type in StorageRegistry.types where !StorageKind.denseKinds.contains(type.kind) && type.valueDType == policy.dtype
            && policy.allowed.contains(type.kind) {
            guard let bytes = type.estimatedBytes(self) else { continue }
            let cost = policy.cost(type.kind, bytes: bytes)
            // strictly lower: among equal costs the first registered storage wins
            if cost <= policy.maxRelativeCost * dense && (!found || cost < best.cost) {
                best = (type, cost)
                found = true
            }
        }
        return best
    }
}
