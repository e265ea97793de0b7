extension StorageKind {
    /// Kept rows and columns with their index lists (structured pruning).
    public static let compacted = StorageKind(tag: "compacted")
}

/// Structured storage: only the kept rows and columns of W [R, C], with their index lists.
/// The kept inputs are gathered, the kept outputs scattered; a removed row outputs exactly 0
/// (plus its bias), a removed column is never read.
///   keptRows: [nr] distinct indices < R, in the order of the rows of `values`
///   keptCols: [nc] distinct indices < C, in the order of the columns of `values`
///   values:   [nr, nc], values[i, j] = W[keptRows[i], keptCols[j]]
/// The values are float32 or 16-bit (`V`: `F32`, `F16`, `BF16`; products accumulate in float32).
/// Bytes: s·nr·nc + 4·nr + 4·nc (s = 4 or 2). Index lists may start with a shared prefix (see `MLPChain`).
/// Saved as `<layer>.weight.values` F32/F16/BF16 [nr, nc], `.kept_rows` I32 [nr], `.kept_cols` I32 [nc].
public final class CompactedWeight<V: ValueFormat>: RowColumnCompacted {
    public static var kind: StorageKind { StorageKind.compacted.typed(V.dtype) }
    public static var valueDType: WeightDType { V.dtype }
    public static var relativeThroughput: Double { 1 }
    public let rows: Int, cols: Int
    public let keptRows: [Int32]
    public let keptCols: [Int32]
    public let values: [V.Element]
    public let removedRows: [Int32]
    let rowsIdentity: Bool, colsIdentity: Bool

    /// Validates every index (corrupt lists throw, they never crash a later forward).
    public init(rows: Int, cols: Int, keptRows: [Int32], keptCols: [Int32], values: [V.Element],
                origin: String = "<memory>", name: String = "compacted weight") throws {
        func bad(_ suffix: String, _ detail: String) -> StorageError {
            .corrupt(file: origin, tensor: name + suffix, detail: detail)
        }
        var seenRows = [Bool](repeating: false, count: rows)
        for r in keptRows {
            guard r >= 0, Int(r) < rows else { throw bad(".kept_rows", "row index \(r) outside 0..<\(rows)") }
            guard !seenRows[Int(r)] else { throw bad(".kept_rows", "row \(r) listed twice") }
            seenRows[Int(r)] = true
        }
        var seenCols = [Bool](repeating: false, count: cols)
        for c in keptCols {
            guard c >= 0, Int(c) < cols else { throw bad(".kept_cols", "column index \(c) outside 0..<\(cols)") }
            guard !seenCols[Int(c)] else { throw bad(".kept_cols", "column \(c) listed twice") }
            seenCols[Int(c)] = true
        }
        guard values.count == keptRows.count * keptCols.count else {
            throw bad(".values", "\(values.count) values for \(keptRows.count) kept rows × \(keptCols.count) kept columns")
        }
        guard values.allSatisfy(V.isFinite) else { throw bad(".values", "NaN or Inf values (a value above the range of \(V.dtype)?)") }
        self.rows = rows
        self.cols = cols
        self.keptRows = keptRows
        self.keptCols = keptCols
        self.values = values
        removedRows = (0..<rows).filter { !seenRows[$0] }.map { Int32($0) }
        rowsIdentity = keptRows.count == rows && keptRows.enumerated().allSatisfy { $0.offset == Int($0.element) }
        colsIdentity = keptCols.count == cols && keptCols.enumerated().allSatisfy { $0.offset == Int($0.element) }
    }

    /// Extracts the kept block of a dense [R, C] weight (rounded once to `V`).
    public convenience init(dense w: [Float], rows: Int, cols: Int, keptRows: [Int32], keptCols: [Int32]) throws {
        precondition(w.count == rows * cols, "dense weight does not have \(rows)×\(cols) values")
        var v = [Float](repeating: 0, count: keptRows.count * keptCols.count)
        for (i, r) in keptRows.enumerated() where r >= 0 && Int(r) < rows {
            for (j, c) in keptCols.enumerated() where c >= 0 && Int(c) < cols { v[i * keptCols.count + j] = w[Int(r) * cols + Int(c)] }
        }
        try self.init(rows: rows, cols: cols, keptRows: keptRows, keptCols: keptCols, values: V.encode(all: v))
    }

    public var bytes: Int { V.dtype.size * values.count + 4 * (keptRows.count + keptCols.count) }

    public func dense() -> [Float] {
        var w = [Float](repeating: 0, count: rows * cols)
        let nc = keptCols.count, v = V.decode(all: values)
        for (i, r) in keptRows.enumerated() {
            for (j, c) in keptCols.enumerated() { w[Int(r) * cols + Int(c)] = v[i * nc + j] }
        }
        return w
    }

    public var zeroCount: Int { rows * cols - values.reduce(0) { $0 + (V.isZero($1) ? 0 : 1) } }

    public var summary: String {
        "compacted \(keptRows.count)x\(keptCols.count) of \(rows)x\(cols)" + (V.dtype == .f32 ? "" : " \(V.dtype)")
    }

    /// y[t, i] (+)= Σ_k x[t, k]·values[lo + i, k] for i < n, k < K (float32 sgemm/sgemv, or the
    /// 16-bit GEMV / widened tiles).  x: [T, K] (stride ldx); y: [T, n] (stride ldy)
    @inline(__always)
    func product(_ x: UnsafePointer<Float>, ldx: Int, rows lo: Int, n: Int, K: Int,
                 _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int, accumulate: Bool) {
        let nc = keptCols.count, ldw = max(nc, 1)
        values.withUnsafeBytes { raw in
            if V.dtype == .f32 {
                // nc == 0: no inputs survive (K = 0, w never read)
                let w = raw.baseAddress.map { $0.assumingMemoryBound(to: Float.self) + lo * nc } ?? UnsafePointer(ThreadScratch.floats(1, slot: 1))
                matmulWTStrided(x, ldx: ldx, w, ldw: ldw, y, ldy: ldy, T: T, K: K, n: n, accumulate: accumulate)
            } else {
                let zero: [UInt16] = [0]
                zero.withUnsafeBufferPointer { z in
                    let w = raw.baseAddress.map { $0.assumingMemoryBound(to: UInt16.self) + lo * nc } ?? z.baseAddress.unsafelyUnwrapped
                    HalfKernels.matmulWT(x, ldx: ldx, w, ldw: ldw, y, ldy: ldy, T: T, K: K, n: n, accumulate: accumulate, bf16: V.dtype == .bf16)
                }
            }
        }
    }

    /// Parallel work units: the kept rows, plus one last unit that writes the removed rows.
    public var units: Int { keptRows.count + 1 }

    /// Runs work units `units` (kept rows i ∈ units; unit nr writes the removed rows).
    /// x: [T, C] (stride ldx) — or [T, n] holding the first n kept columns when inputPrefix = n;
    /// y: [T, R] (stride ldy) — or [T, ·] in kept-row order when compactOutput (no removed rows).
    @inline(__always)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                 units: Range<Int>, accumulate: Bool, bias: UnsafePointer<Float>?, inputPrefix: Int?, compactOutput: Bool) {
        let nr = keptRows.count, nc = keptCols.count
        let lo = units.lowerBound, hi = min(units.upperBound, nr)
        if lo < hi {
            do {
                keptRows.withUnsafeBufferPointer { krp in
                    keptCols.withUnsafeBufferPointer { kcp in
                        let kr = krp.baseAddress.unsafelyUnwrapped
                        var K = nc, xin = x, ldxin = ldx
                        if let n = inputPrefix {
                            K = n
                        } else if !colsIdentity && nc > 0 {
                            let g = ThreadScratch.floats(T * nc, slot: 0)
                            let kc = kcp.baseAddress.unsafelyUnwrapped
                            for t in 0..<T {
                                let xt = x + t * ldx, gt = g + t * nc
                                for j in 0..<nc { gt[j] = xt[Int(kc[j])] }
                            }
                            xin = UnsafePointer(g)
                            ldxin = nc
                        }
                        // nc == 0: no inputs survive; the kept rows output their bias only.
                        let n = hi - lo
                        if compactOutput || rowsIdentity {
                            product(xin, ldx: ldxin, rows: lo, n: n, K: K, y + lo, ldy: ldy, T: T, accumulate: accumulate)
                            if let bias {
                                for t in 0..<T {
                                    let yt = y + t * ldy
                                    for i in lo..<hi { yt[i] += bias[Int(kr[i])] }
                                }
                            }
                        } else {
                            let tile = ThreadScratch.floats(T * n, slot: 1)
                            product(xin, ldx: ldxin, rows: lo, n: n, K: K, tile, ldy: n, T: T, accumulate: false)
                            scatter(tile, n: n, into: y, ldy: ldy, T: T, rows: kr + lo, accumulate: accumulate, bias: bias)
                        }
                    }
                }
            }
        }
        if !compactOutput && units.contains(nr) && !removedRows.isEmpty {
            removedRows.withUnsafeBufferPointer { rp in
                for t in 0..<T {
                    let yt = y + t * ldy
                    for r in rp {
                        let b = bias?[Int(r)] ?? 0
                        yt[Int(r)] = accumulate ? yt[Int(r)] + b : b
                    }
                }
            }
        }
    }

    /// y[t, rows[i]] (+)= tile[t, i] + bias[rows[i]].  tile: [T, n]; y: [T, R] (stride ldy)
    @inline(__always)
    private func scatter(_ tile: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                         rows: UnsafePointer<Int32>, accumulate: Bool, bias: UnsafePointer<Float>?) {
        for t in 0..<T {
            let yt = y + t * ldy, tt = tile + t * n
            switch (accumulate, bias) {
            case (false, nil): for i in 0..<n { yt[Int(rows[i])] = tt[i] }
            case (true, nil): for i in 0..<n { yt[Int(rows[i])] += tt[i] }
            case (false, let b?): for i in 0..<n { let r = Int(rows[i]); yt[r] = tt[i] + b[r] }
            case (true, let b?): for i in 0..<n { let r = Int(rows[i]); yt[r] += tt[i] + b[r] }
            }
        }
    }

    /// Output rows `range` of the logical [R] layout (the path of `Linear.forward(rows:)`; the
    /// parallel forwards run work units instead).  x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                        rows range: Range<Int>, accumulate: Bool) {
        forward(x, ldx: ldx, y, ldy: ldy, T: T, rows: range, accumulate: accumulate, bias: nil)
    }

    /// The same plus bias[r] on every output row, removed rows included.
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                        rows range: Range<Int>, accumulate: Bool, bias: UnsafePointer<Float>?) {
        let nc = keptCols.count
        for t in 0..<T {
            let xt = x + t * ldx, yt = y + t * ldy
            for (i, r32) in keptRows.enumerated() where range.contains(Int(r32)) {
                var s: Float = 0
                for j in 0..<nc { s += V.decode(values[i * nc + j]) * xt[Int(keptCols[j])] }
                let r = Int(r32)
                s += bias?[r] ?? 0
                yt[r] = accumulate ? yt[r] + s : s
            }
            for r32 in removedRows where range.contains(Int(r32)) {
                let r = Int(r32), b = bias?[r] ?? 0
                yt[r] = accumulate ? yt[r] + b : b
            }
        }
    }
}

extension CompactedWeight {
    public func items(weight w: String) -> [SafetensorsWriter.Item] {
        [storedValuesItem(w + ".values", shape: [keptRows.count, keptCols.count], values, as: V.self),
         .init(name: w + ".kept_rows", dtype: .i32, shape: [keptRows.count], integers: keptRows),
         .init(name: w + ".kept_cols", dtype: .i32, shape: [keptCols.count], integers: keptCols)]
    }

    public static func load(from src: WeightSource, weight w: String, rows: Int, cols: Int) throws -> CompactedWeight<V> {
        let kr: [Int32] = try loadIntegers(src, w + ".kept_rows", .i32, rank: 1)
        let kc: [Int32] = try loadIntegers(src, w + ".kept_cols", .i32, rank: 1)
        return try CompactedWeight(rows: rows, cols: cols, keptRows: kr, keptCols: kc,
                                   values: try loadStoredValues(src, weight: w, shape: [kr.count, kc.count], as: V.self),
                                   origin: src.origin, name: w)
    }

    /// Only when some row or column can be dropped.
    public static func estimatedBytes(_ layer: PlannedLayer) -> Int? {
        let kr = layer.keptRowCount, kc = layer.keptColCount
        guard kr < layer.rows || kc < layer.cols else { return nil }
        return V.dtype.size * kr * kc + 4 * (kr + kc)
    }

    /// The layer's removable rows and columns dropped, the others kept in ascending order.
    public static func build(_ layer: PlannedLayer) throws -> CompactedWeight<V> {
        try CompactedWeight(dense: layer.values, rows: layer.rows, cols: layer.cols, keptRows: layer.keptRows, keptCols: layer.keptCols)
    }
}

extension CompactedWeight: ValueConvertible {
    public func converted<W: ValueFormat>(to format: W.Type, origin: String, name: String) throws -> any LinearStorage {
        try CompactedWeight<W>(rows: rows, cols: cols, keptRows: keptRows, keptCols: keptCols,
                               values: W.encode(all: V.decode(all: values)), origin: origin, name: name)
    }
}

/// The kept block of a dense [R, C] weight in a compacted storage with values of `dtype` (rounded
/// once from float32).  w: [R, C]
public func compactedStorage(dense w: [Float], rows: Int, cols: Int, keptRows: [Int32], keptCols: [Int32],
                             dtype: WeightDType) throws -> any RowColumnCompacted {
    switch dtype {
    case .f32: return try CompactedWeight<F32>(dense: w, rows: rows, cols: cols, keptRows: keptRows, keptCols: keptCols)
    case .f16: return try CompactedWeight<F16>(dense: w, rows: rows, cols: cols, keptRows: keptRows, keptCols: keptCols)
    case .bf16: return try CompactedWeight<BF16>(dense: w, rows: rows, cols: cols, keptRows: keptRows, keptCols: keptCols)
    }
}
