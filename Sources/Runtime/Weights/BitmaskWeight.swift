import CBLAS

/// Unstructured sparse storage of W [R, C] for moderate sparsity: one bit per weight plus the
/// nonzeros packed in row-major order.
///   values: [nnz] nonzeros, row by row, each row in column order
///   mask:   [R, nm] uint16, nm = ceil(C/16); bit c%16 of word c/16 is set when W[r, c] is stored
///           (bits past C are clear)
/// Row starts are rebuilt from the mask's popcounts. Bytes: 4·nnz + 2·R·nm.
public final class BitmaskWeight: RowDecompressing, Sendable {
    public let rows: Int, cols: Int
    public let mask: [UInt16]
    /// nnz values followed by 16 zeros, so SIMD loads may run past the last row.
    let padded: [Float]
    let start: [Int64]
    public var nonzeros: Int { padded.count - 16 }
    public var values: ArraySlice<Float> { padded[0..<nonzeros] }
    public var wordsPerRow: Int { (cols + 15) / 16 }

    public init(rows: Int, cols: Int, values: [Float], mask: [UInt16],
                origin: String = "<memory>", name: String = "bitmask weight") throws {
        let nm = (cols + 15) / 16
        func bad(_ suffix: String, _ detail: String) -> StorageError {
            .corrupt(file: origin, tensor: name + suffix, detail: detail)
        }
        guard mask.count == rows * nm else { throw bad(".bitmask", "\(mask.count) words, expected \(rows)×\(nm)") }
        guard values.allSatisfy({ $0.isFinite }) else { throw bad(".values", "NaN or Inf values") }
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
        self.padded = values + [Float](repeating: 0, count: 16)
        self.start = start
    }

    /// Stores the nonzeros of a dense [R, C] weight.
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
        try self.init(rows: rows, cols: cols, values: values, mask: mask)
    }

    public var bytes: Int { 4 * nonzeros + 2 * mask.count }

    /// Writes dense rows `range` as [range.count, C] into `out`.
    public func decompress(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        padded.withUnsafeBufferPointer { vp in
            start.withUnsafeBufferPointer { sp in
                mask.withUnsafeBufferPointer { mp in
                    surgeon_decompress_bitmask(SparseKernels.level, cols, vp.baseAddress, sp.baseAddress, mp.baseAddress,
                                               range.lowerBound, range.upperBound, out)
                }
            }
        }
    }

    /// Output rows `range`.  x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    @inline(__always)
    func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                 rows range: Range<Int>, accumulate: Bool) {
        if range.isEmpty || T == 0 || forwardTiled(x, ldx: ldx, y, ldy: ldy, T: T, rows: range, accumulate: accumulate) { return }
        let level = SparseKernels.level
        padded.withUnsafeBufferPointer { vp in
            start.withUnsafeBufferPointer { sp in
                mask.withUnsafeBufferPointer { mp in
                    for t in 0..<T {
                        surgeon_gemv_bitmask(level, x + t * ldx, cols, vp.baseAddress, sp.baseAddress, mp.baseAddress,
                                             range.lowerBound, range.upperBound, y + t * ldy, accumulate ? 1 : 0)
                    }
                }
            }
        }
    }
}
