extension StorageKind {
    /// Packed nonzeros with 16-bit column indices and row offsets (unstructured, high sparsity).
    public static let csr = StorageKind(tag: "csr")
}

/// Unstructured sparse storage of W [R, C] for high sparsity (density below about 1/16, where a
/// bit per weight costs more than an index per nonzero): compressed sparse rows.
///   values:     [nnz] nonzeros, row by row
///   colIndices: [nnz] uint16 column of each value, strictly increasing within a row (C ≤ 65536)
///   rowOffsets: [R + 1] int32, row r's values are values[rowOffsets[r] ..< rowOffsets[r+1]]
/// The values are float32 or 16-bit (`V`: `F32`, `F16`, `BF16`; products accumulate in float32).
/// Bytes: (s + 2)·nnz + 4·(R + 1) (s = 4 or 2).
/// Saved as `<layer>.weight.values` F32/F16/BF16 [nnz], `.col_indices` U16 [nnz], `.row_offsets` I32 [R + 1].
public final class CSRWeight<V: ValueFormat>: RowDecompressing, LinearStorage {
    public static var kind: StorageKind { StorageKind.csr.typed(V.dtype) }
    public static var valueDType: WeightDType { V.dtype }
    /// The scalar kernel is far slower per byte than the SIMD ones.
    public static var relativeThroughput: Double { 0.4 }
    public let rows: Int, cols: Int
    public let values: [V.Element]
    public let colIndices: [UInt16]
    public let rowOffsets: [Int32]
    public static var maxColumns: Int { 1 << 16 }

    public init(rows: Int, cols: Int, values: [V.Element], colIndices: [UInt16], rowOffsets: [Int32],
                origin: String = "<memory>", name: String = "csr weight") throws {
        func bad(_ suffix: String, _ detail: String) -> StorageError {
            .corrupt(file: origin, tensor: name + suffix, detail: detail)
        }
        guard cols <= Self.maxColumns else { throw bad(".col_indices", "\(cols) columns do not fit 16-bit indices") }
        guard rowOffsets.count == rows + 1, rowOffsets.first == 0 else {
            throw bad(".row_offsets", "\(rowOffsets.count) offsets for \(rows) rows, or not starting at 0")
        }
        guard colIndices.count == values.count, Int(rowOffsets[rows]) == values.count else {
            throw bad(".values", "\(values.count) values, \(colIndices.count) indices, offsets end at \(rowOffsets[rows])")
        }
        guard values.allSatisfy(V.isFinite) else { throw bad(".values", "NaN or Inf values (a value above the range of \(V.dtype)?)") }
        for r in 0..<rows {
            let a = Int(rowOffsets[r]), b = Int(rowOffsets[r + 1])
            guard a <= b else { throw bad(".row_offsets", "row \(r) ends before it starts") }
            var last = -1
            for k in a..<b {
                let c = Int(colIndices[k])
                guard c < cols, c > last else { throw bad(".col_indices", "row \(r): column \(c) out of range or out of order") }
                last = c
            }
        }
        self.rows = rows
        self.cols = cols
        self.values = values
        self.colIndices = colIndices
        self.rowOffsets = rowOffsets
    }

    /// Stores the nonzeros of a dense [R, C] weight (C ≤ 65536; values rounded once to `V`).
    public convenience init(dense w: [Float], rows: Int, cols: Int) throws {
        precondition(w.count == rows * cols, "dense weight does not have \(rows)×\(cols) values")
        var values: [Float] = [], cols16: [UInt16] = [], offsets: [Int32] = [0]
        for r in 0..<rows {
            for c in 0..<cols where w[r * cols + c] != 0 {
                values.append(w[r * cols + c])
                cols16.append(UInt16(truncatingIfNeeded: c))
            }
            offsets.append(Int32(clamping: values.count))
        }
        try self.init(rows: rows, cols: cols, values: V.encode(all: values), colIndices: cols16, rowOffsets: offsets)
    }

    public var bytes: Int { (V.dtype.size + 2) * values.count + 4 * rowOffsets.count }
    public var summary: String { "csr (\(values.count) nonzeros)" + (V.dtype == .f32 ? "" : " \(V.dtype)") }

    /// Writes dense rows `range` as [range.count, C] into `out`.
    public func decompress(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        for r in range {
            let o = out + (r - range.lowerBound) * cols
            o.update(repeating: 0, count: cols)
            for k in Int(rowOffsets[r])..<Int(rowOffsets[r + 1]) { o[Int(colIndices[k])] = V.decode(values[k]) }
        }
    }

    /// Output rows `range`.  x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    @inline(__always)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                 rows range: Range<Int>, accumulate: Bool) {
        if range.isEmpty || T == 0 || forwardTiled(x, ldx: ldx, y, ldy: ldy, T: T, rows: range, accumulate: accumulate) { return }
        values.withUnsafeBufferPointer { vp in
            colIndices.withUnsafeBufferPointer { cp in
                rowOffsets.withUnsafeBufferPointer { op in
                    for t in 0..<T {
                        let xt = x + t * ldx, yt = y + t * ldy
                        for r in range {
                            var s0: Float = 0, s1: Float = 0
                            var k = Int(op[r])
                            let end = Int(op[r + 1])
                            while k + 1 < end {
                                s0 += V.decode(vp[k]) * xt[Int(cp[k])]
                                s1 += V.decode(vp[k + 1]) * xt[Int(cp[k + 1])]
                                k += 2
                            }
                            if k < end { s0 += V.decode(vp[k]) * xt[Int(cp[k])] }
                            yt[r] = accumulate ? yt[r] + (s0 + s1) : s0 + s1
                        }
                    }
                }
            }
        }
    }
}

extension CSRWeight {
    public func items(weight w: String) -> [SafetensorsWriter.Item] {
        [storedValuesItem(w + ".values", shape: [values.count], values, as: V.self),
         .init(name: w + ".col_indices", dtype: .u16, shape: [colIndices.count], integers: colIndices),
         .init(name: w + ".row_offsets", dtype: .i32, shape: [rowOffsets.count], integers: rowOffsets)]
    }

    public static func load(from src: WeightSource, weight w: String, rows: Int, cols: Int) throws -> CSRWeight<V> {
        let ci: [UInt16] = try loadIntegers(src, w + ".col_indices", .u16, rank: 1)
        let ro: [Int32] = try loadIntegers(src, w + ".row_offsets", .i32, shape: [rows + 1])
        return try CSRWeight(rows: rows, cols: cols, values: try loadStoredValues(src, weight: w, shape: [ci.count], as: V.self),
                             colIndices: ci, rowOffsets: ro, origin: src.origin, name: w)
    }

    /// Only while column indices fit 16 bits.
    public static func estimatedBytes(_ layer: PlannedLayer) -> Int? {
        guard layer.cols <= maxColumns else { return nil }
        return (V.dtype.size + 2) * layer.nonzeros + 4 * (layer.rows + 1)
    }

    public static func build(_ layer: PlannedLayer) throws -> CSRWeight<V> {
        try CSRWeight(dense: layer.values, rows: layer.rows, cols: layer.cols)
    }
}

extension CSRWeight: ValueConvertible {
    public func converted<W: ValueFormat>(to format: W.Type, origin: String, name: String) throws -> any LinearStorage {
        try CSRWeight<W>(rows: rows, cols: cols, values: W.encode(all: V.decode(all: values)), colIndices: colIndices,
                         rowOffsets: rowOffsets, origin: origin, name: name)
    }
}
