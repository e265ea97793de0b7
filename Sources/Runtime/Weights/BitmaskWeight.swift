import CBLAS

extension StorageKind {
    /// Packed nonzeros and one bit per weight (unstructured, moderate sparsity).
    public static let bitmask = StorageKind(tag: "bitmask")
}

/// Unstructured sparse storage of W [R, C] for moderate sparsity: one bit per weight plus the
/// nonzeros packed in row-major order.
///   values: [nnz] nonzeros, row by row, each row in column order
///   mask:   [R, nm] uint16, nm = ceil(C/16); bit c%16 of word c/16 is set when W[r, c] is stored
///           (bits past C are clear)
/// The values are float32 or 16-bit (`V`: `F32`, `F16`, `BF16`; products accumulate in float32).
/// Row starts are rebuilt from the mask's popcounts. Bytes: s·nnz + 2·R·nm (s = 4 or 2).
/// Saved as `<layer>.weight.values` F32/F16/BF16 [nnz] and `.bitmask` U16 [R, nm].
public final class BitmaskWeight<V: ValueFormat>: RowDecompressing, LinearStorage {
    public static var kind: StorageKind { StorageKind.bitmask.typed(V.dtype) }
    public static var valueDType: WeightDType { V.dtype }
    public static var relativeThroughput: Double { 0.9 }
    public let rows: Int, cols: Int
    public let mask: [UInt16]
    /// nnz values followed by 16 zeros, so SIMD loads may run past the last row.
    let padded: [V.Element]
    let start: [Int64]
    public var nonzeros: Int { padded.count - 16 }
    public var values: ArraySlice<V.Element> { padded[0..<nonzeros] }
    public var wordsPerRow: Int { (cols + 15) / 16 }

    public init(rows: Int, cols: Int, values: [V.Element], mask: [UInt16],
                origin: String = "<memory>", name: String = "bitmask weight") throws {
        let nm = (cols + 15) / 16
        func bad(_ suffix: String, _ detail: String) -> StorageError {
            .corrupt(file: origin, tensor: name + suffix, detail: detail)
        }
        guard mask.count == rows * nm else { throw bad(".bitmask", "\(mask.count) words, expected \(rows)×\(nm)") }
        guard values.allSatisfy(V.isFinite) else { throw bad(".values", "NaN or Inf values (a value above the range of \(V.dtype)?)") }
        let tail = cols % 16
        var start = [Int64](repeating: 0, count: rows + 1)
        var n: Int64 = 0
        for r in 0..<rows {
            start[r] = n
            for w in 0..<nm { n += Int64(mask[r * nm + w].nonzeroBitCount) }
            if tail != 0 && mask[r * nm + nm - 1] >> UInt16(tail) != 0 { throw bad(".bitmask", "row \(r) has bits past column \(cols - 1)") }
        }
        start[rows] = n
        guard n == Int64(values.count) else { throw bad(".values", "\(values.count) values but the mask marks \(n)") }
        self.rows = rows
        self.cols = cols
        self.mask = mask
        self.padded = values + [V.Element](repeating: V.encode(0), count: 16)
        self.start = start
    }

    /// Stores the nonzeros of a dense [R, C] weight (rounded once to `V`).
    public convenience init(dense w: [Float], rows: Int, cols: Int) throws {
        precondition(w.count == rows * cols, "dense weight does not have \(rows)×\(cols) values")
        let nm = (cols + 15) / 16
        var mask = [UInt16](repeating: 0, count: rows * nm)
        var values: [Float] = []
        values.reserveCapacity(w.reduce(0) { $0 + ($1 != 0 ? 1 : 0) })
        for r in 0..<rows {
            for c in 0..<cols where w[r * cols + c] != 0 {
                mask[r * nm + c / 16] |= UInt16(1) << UInt16(c % 16)
                values.append(w[r * cols + c])
            }
        }
        try self.init(rows: rows, cols: cols, values: V.encode(all: values), mask: mask)
    }

    public var bytes: Int { V.dtype.size * nonzeros + 2 * mask.count }
    public var summary: String { "bitmask (\(nonzeros) nonzeros)" + (V.dtype == .f32 ? "" : " \(V.dtype)") }

    /// Writes dense rows `range` as [range.count, C] into `out`.
    public func decompress(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        padded.withUnsafeBytes { raw in
            start.withUnsafeBufferPointer { sp in
                mask.withUnsafeBufferPointer { mp in
                    if V.dtype == .f32 {
                        surgeon_decompress_bitmask(SparseKernels.level, cols, raw.baseAddress?.assumingMemoryBound(to: Float.self),
                                                   sp.baseAddress, mp.baseAddress, range.lowerBound, range.upperBound, out)
                    } else {
                        surgeon_decompress_bitmask16(cols, raw.baseAddress?.assumingMemoryBound(to: UInt16.self), sp.baseAddress,
                                                     mp.baseAddress, range.lowerBound, range.upperBound, out, V.dtype == .bf16 ? 1 : 0)
                    }
                }
            }
        }
    }

    /// Output rows `range`.  x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    @inline(__always)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                 rows range: Range<Int>, accumulate: Bool) {
        if range.isEmpty || T == 0 || forwardTiled(x, ldx: ldx, y, ldy: ldy, T: T, rows: range, accumulate: accumulate) { return }
        let level = SparseKernels.level
        padded.withUnsafeBytes { raw in
            start.withUnsafeBufferPointer { sp in
                mask.withUnsafeBufferPointer { mp in
                    if V.dtype == .f32 {
                        let v = raw.baseAddress?.assumingMemoryBound(to: Float.self)
                        for t in 0..<T {
                            surgeon_gemv_bitmask(level, x + t * ldx, cols, v, sp.baseAddress, mp.baseAddress,
                                                 range.lowerBound, range.upperBound, y + t * ldy, accumulate ? 1 : 0)
                        }
                    } else {
                        let v = raw.baseAddress?.assumingMemoryBound(to: UInt16.self), bf16 = V.dtype == .bf16
                        for t in 0..<T {
                            HalfKernels.gemvBitmask(x + t * ldx, C: cols, v, sp.baseAddress, mp.baseAddress, rows: range,
                                                    y + t * ldy, accumulate: accumulate, bf16: bf16)
                        }
                    }
                }
            }
        }
    }
}

extension BitmaskWeight {
    public func items(weight w: String) -> [SafetensorsWriter.Item] {
        [storedValuesItem(w + ".values", shape: [nonzeros], Array(values), as: V.self),
         .init(name: w + ".bitmask", dtype: .u16, shape: [rows, wordsPerRow], integers: mask)]
    }

    public static func load(from src: WeightSource, weight w: String, rows: Int, cols: Int) throws -> BitmaskWeight<V> {
        let mask: [UInt16] = try loadIntegers(src, w + ".bitmask", .u16, shape: [rows, (cols + 15) / 16])
        return try BitmaskWeight(rows: rows, cols: cols, values: try loadStoredValues(src, weight: w, shape: nil, as: V.self), mask: mask,
                                 origin: src.origin, name: w)
    }

    public static func estimatedBytes(_ layer: PlannedLayer) -> Int? {
        V.dtype.size * layer.nonzeros + 2 * layer.rows * ((layer.cols + 15) / 16)
    }

    public static func build(_ layer: PlannedLayer) throws -> BitmaskWeight<V> {
        try BitmaskWeight(dense: layer.values, rows: layer.rows, cols: layer.cols)
    }
}

extension BitmaskWeight: ValueConvertible {
    public func converted<W: ValueFormat>(to format: W.Type, origin: String, name: String) throws -> any LinearStorage {
        try BitmaskWeight<W>(rows: rows, cols: cols, values: W.encode(all: V.decode(all: Array(values))), mask: mask,
                             origin: origin, name: name)
    }
}
