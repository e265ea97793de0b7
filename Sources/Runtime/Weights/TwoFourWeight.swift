import CBLAS

extension StorageKind {
    /// Two values and their 2-bit positions per group of 4 inputs.
    public static let twoFour = StorageKind(tag: "2:4")
}

/// 2:4 packed storage of W [R, C]: each group of 4 consecutive inputs (4g ..< 4g+4, the last
/// group padded with zeros when C % 4 ≠ 0) keeps at most two weights.
///   values:    [R, nv], nv = 2·ceil(C/4); values 2g and 2g+1 are group g's kept weights
///   positions: [R, nw] uint32, nw = ceil(nv/16); value j's position p ∈ 0..3 inside its group
///              (input 4·(j/2) + p) sits in bits 2·(j%16) of word j/16; within a group p0 < p1
/// Padding values (a group with fewer than two nonzeros, the tail group) are 0.
/// The values are float32 or 16-bit (`V`: `F32`, `F16`, `BF16`; products accumulate in float32).
/// Bytes: 2s·R·ceil(C/4) + 4·R·nw (s = 4: ≈ 0.53 of dense float32; s = 2: ≈ 0.28).
/// Saved as `<layer>.weight.values` F32/F16/BF16 [R, nv] and `.positions` U32 [R, nw].
public final class TwoFourWeight<V: ValueFormat>: RowDecompressing, LinearStorage {
    public static var kind: StorageKind { StorageKind.twoFour.typed(V.dtype) }
    public static var valueDType: WeightDType { V.dtype }
    public static var relativeThroughput: Double { 1 }
    public let rows: Int, cols: Int
    public let values: [V.Element]
    public let positions: [UInt32]
    public var valuesPerRow: Int { 2 * ((cols + 3) / 4) }
    public var wordsPerRow: Int { (valuesPerRow + 15) / 16 }

    /// Validates positions and values (corrupt data throws, never crashes a later forward).
    public init(rows: Int, cols: Int, values: [V.Element], positions: [UInt32],
                origin: String = "<memory>", name: String = "2:4 weight") throws {
        let nv = 2 * ((cols + 3) / 4), nw = (nv + 15) / 16
        func bad(_ suffix: String, _ detail: String) -> StorageError {
            .corrupt(file: origin, tensor: name + suffix, detail: detail)
        }
        guard values.count == rows * nv else { throw bad(".values", "\(values.count) values, expected \(rows)×\(nv)") }
        guard positions.count == rows * nw else { throw bad(".positions", "\(positions.count) words, expected \(rows)×\(nw)") }
        guard values.allSatisfy(V.isFinite) else { throw bad(".values", "NaN or Inf values (a value above the range of \(V.dtype)?)") }
        for r in 0..<rows {
            for g in 0..<(nv / 2) {
                let j = 2 * g
                let p0 = Int((positions[r * nw + j / 16] >> UInt32(2 * (j % 16))) & 3)
                let p1 = Int((positions[r * nw + (j + 1) / 16] >> UInt32(2 * ((j + 1) % 16))) & 3)
                guard p0 < p1 else { throw bad(".positions", "row \(r) group \(g): positions \(p0), \(p1) not increasing") }
                if 4 * g + p1 >= cols && !V.isZero(values[r * nv + j + 1]) || 4 * g + p0 >= cols && !V.isZero(values[r * nv + j]) {
                    throw bad(".positions", "row \(r) group \(g): a nonzero value points past column \(cols - 1)")
                }
            }
            let used = nv % 16
            if used != 0 && positions[r * nw + nw - 1] >> UInt32(2 * used) != 0 {
                throw bad(".positions", "row \(r): padding bits are set")
            }
        }
        self.rows = rows
        self.cols = cols
        self.values = values
        self.positions = positions
    }

    /// Packs a dense [R, C] weight (values rounded once to `V`); throws when a group holds more
    /// than two nonzeros.
    public convenience init(dense w: [Float], rows: Int, cols: Int, layer: String = "weight") throws {
        precondition(w.count == rows * cols, "dense weight does not have \(rows)×\(cols) values")
        let nv = 2 * ((cols + 3) / 4), nw = (nv + 15) / 16
        var values = [Float](repeating: 0, count: rows * nv)
        var positions = [UInt32](repeating: 0, count: rows * nw)
        for r in 0..<rows {
            for g in 0..<(nv / 2) {
                // the nonzero positions, then the lowest free ones, as a 4-bit set
                var set = 0, count = 0
                for p in 0..<4 where 4 * g + p < cols && w[r * cols + 4 * g + p] != 0 { set |= 1 << p; count += 1 }
                guard count <= 2 else {
                    throw StorageError.patternMismatch(layer: layer, storage: "2:4",
                                                       detail: "row \(r), inputs \(4 * g)..<\(min(4 * g + 4, cols)) hold \(count) nonzeros")
                }
                var p = 0
                while count < 2 { if set & (1 << p) == 0 { set |= 1 << p; count += 1 }; p += 1 }
                var k = 0
                for pos in 0..<4 where set & (1 << pos) != 0 {
                    let j = 2 * g + k
                    values[r * nv + j] = 4 * g + pos < cols ? w[r * cols + 4 * g + pos] : 0
                    positions[r * nw + j / 16] |= UInt32(pos) << UInt32(2 * (j % 16))
                    k += 1
                }
            }
        }
        try self.init(rows: rows, cols: cols, values: V.encode(all: values), positions: positions)
    }

    public var bytes: Int { V.dtype.size * values.count + 4 * positions.count }
    public var summary: String { V.dtype == .f32 ? "2:4" : "2:4 \(V.dtype)" }

    /// Writes dense rows `range` as [range.count, C] into `out`.
    public func decompress(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        values.withUnsafeBytes { raw in
            positions.withUnsafeBufferPointer { pp in
                if V.dtype == .f32 {
                    surgeon_decompress24(SparseKernels.level, cols, raw.baseAddress?.assumingMemoryBound(to: Float.self), pp.baseAddress,
                                         range.lowerBound, range.upperBound, out)
                } else {
                    surgeon_decompress24_16(cols, raw.baseAddress?.assumingMemoryBound(to: UInt16.self), pp.baseAddress,
                                            range.lowerBound, range.upperBound, out, V.dtype == .bf16 ? 1 : 0)
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
        values.withUnsafeBytes { raw in
            positions.withUnsafeBufferPointer { pp in
                let p = pp.baseAddress
                if V.dtype == .f32 {
                    let v = raw.baseAddress?.assumingMemoryBound(to: Float.self)
                    for t in 0..<T {
                        surgeon_gemv24(level, x + t * ldx, cols, v, p, range.lowerBound, range.upperBound, y + t * ldy, accumulate ? 1 : 0)
                    }
                } else {
                    let v = raw.baseAddress?.assumingMemoryBound(to: UInt16.self), bf16 = V.dtype == .bf16
                    for t in 0..<T {
                        HalfKernels.gemv24(x + t * ldx, C: cols, v, p, rows: range, y + t * ldy, accumulate: accumulate, bf16: bf16)
                    }
                }
            }
        }
    }
}

extension TwoFourWeight {
    public func items(weight w: String) -> [SafetensorsWriter.Item] {
        [storedValuesItem(w + ".values", shape: [rows, valuesPerRow], values, as: V.self),
         .init(name: w + ".positions", dtype: .u32, shape: [rows, wordsPerRow], integers: positions)]
    }

    public static func load(from src: WeightSource, weight w: String, rows: Int, cols: Int) throws -> TwoFourWeight<V> {
        let nv = 2 * ((cols + 3) / 4)
        let pos: [UInt32] = try loadIntegers(src, w + ".positions", .u32, shape: [rows, (nv + 15) / 16])
        return try TwoFourWeight(rows: rows, cols: cols, values: try loadStoredValues(src, weight: w, shape: [rows, nv], as: V.self),
                                 positions: pos, origin: src.origin, name: w)
    }

    /// Only for a weight whose every group of 4 inputs holds at most two nonzeros.
    public static func estimatedBytes(_ layer: PlannedLayer) -> Int? {
        guard isValidTwoFour(layer.values, rows: layer.rows, cols: layer.cols) else { return nil }
        let nv = 2 * ((layer.cols + 3) / 4)
        return layer.rows * (V.dtype.size * nv + 4 * ((nv + 15) / 16))
    }

    public static func build(_ layer: PlannedLayer) throws -> TwoFourWeight<V> {
        try TwoFourWeight(dense: layer.values, rows: layer.rows, cols: layer.cols, layer: layer.name)
    }
}

extension TwoFourWeight: ValueConvertible {
    public func converted<W: ValueFormat>(to format: W.Type, origin: String, name: String) throws -> any LinearStorage {
        try TwoFourWeight<W>(rows: rows, cols: cols, values: W.encode(all: V.decode(all: values)), positions: positions,
                             origin: origin, name: name)
    }
}

/// True when every group of 4 consecutive inputs of every row of w [R, C] holds at least two
/// zeros, i.e. at most two nonzeros (the last group, when C % 4 ≠ 0, is padded with zeros).
public func isValidTwoFour(_ w: [Float], rows: Int, cols: Int) -> Bool {
    precondition(w.count == rows * cols, "weight does not have \(rows)×\(cols) values")
    for r in 0..<rows {
        var c = 0
        while c < cols {
            var nz = 0
            for k in c..<min(c + 4, cols) where w[r * cols + k] != 0 { nz += 1 }
            if nz > 2 { return false }
            c += 4
        }
    }
    return true
}
