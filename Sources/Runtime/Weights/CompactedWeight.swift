/// Structured storage: only the kept rows and columns of W [R, C], with their index lists.
/// The kept inputs are gathered, the kept outputs scattered; a removed row outputs exactly 0
/// (plus its bias), a removed column is never read.
///   keptRows: [nr] distinct indices < R, in the order of the rows of `values`
///   keptCols: [nc] distinct indices < C, in the order of the columns of `values`
///   values:   [nr, nc], values[i, j] = W[keptRows[i], keptCols[j]]
/// Bytes: 4·nr·nc + 4·nr + 4·nc. Index lists may start with a shared prefix (see `MLPChain`).
public final class CompactedWeight: Sendable {
    public let rows: Int, cols: Int
    public let keptRows: [Int32]
    public let keptCols: [Int32]
    public let values: [Float]
    let removedRows: [Int32]
    let rowsIdentity: Bool, colsIdentity: Bool

    /// Validates every index (corrupt lists throw, they never crash a later forward).
    public init(rows: Int, cols: Int, keptRows: [Int32], keptCols: [Int32], values: [Float],
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
        guard values.allSatisfy({ $0.isFinite }) else { throw bad(".values", "NaN or Inf values") }
        self.rows = rows
        self.cols = cols
        self.keptRows = keptRows
        self.keptCols = keptCols
        self.values = values
        removedRows = (0..<rows).filter { !seenRows[$0] }.map { Int32($0) }
        rowsIdentity = keptRows.count == rows && keptRows.enumerated().allSatisfy { $0.offset == Int($0.element) }
        colsIdentity = keptCols.count == cols && keptCols.enumerated().allSatisfy { $0.offset == Int($0.element) }
    }

    /// Extracts the kept block of a dense [R, C] weight.
    public convenience init(dense w: [Float], rows: Int, cols: Int, keptRows: [Int32], keptCols: [Int32]) throws {
        precondition(w.count == rows * cols, "dense weight does not have \(rows)×\(cols) values")
        var v = [Float](repeating: 0, count: keptRows.count * keptCols.count)
        for (i, r) in keptRows.enumerated() where r >= 0 && Int(r) < rows {
            for (j, c) in keptCols.enumerated() where c >= 0 && Int(c) < cols { v[i * keptCols.count + j] = w[Int(r) * cols + Int(c)] }
        }
        try self.init(rows: rows, cols: cols, keptRows: keptRows, keptCols: keptCols, values: v)
    }

    public var bytes: Int { 4 * (values.count + keptRows.count + keptCols.count) }

    public func dense() -> [Float] {
        var w = [Float](repeating: 0, count: rows * cols)
        let nc = keptCols.count
        for (i, r) in keptRows.enumerated() {
            for (j, c) in keptCols.enumerated() { w[Int(r) * cols + Int(c)] = values[i * nc + j] }
        }
        return w
    }

    public var zeroCount: Int { rows * cols - values.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }

    /// Parallel work units: the kept rows, plus one last unit that writes the removed rows.
    var units: Int { keptRows.count + 1 }

    /// Runs work units `units` (kept rows i ∈ units; unit nr writes the removed rows).
    /// x: [T, C] (stride ldx) — or [T, n] holding the first n kept columns when inputPrefix = n;
    /// y: [T, R] (stride ldy) — or [T, ·] in kept-row order when compactOutput (no removed rows).
    @inline(__always)
    func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                 units: Range<Int>, accumulate: Bool, bias: UnsafePointer<Float>?, inputPrefix: Int?, compactOutput: Bool) {
        let nr = keptRows.count, nc = keptCols.count
        let lo = units.lowerBound, hi = min(units.upperBound, nr)
        if lo < hi {
            values.withUnsafeBufferPointer { vp in
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
                        let w = vp.baseAddress.map { $0 + lo * nc } ?? UnsafePointer(ThreadScratch.floats(1, slot: 1))
                        let n = hi - lo
                        if compactOutput || rowsIdentity {
                            matmulWTStrided(xin, ldx: ldxin, w, ldw: max(nc, 1), y + lo, ldy: ldy, T: T, K: K, n: n, accumulate: accumulate)
                            if let bias {
                                for t in 0..<T {
                                    let yt = y + t * ldy
                                    for i in lo..<hi { yt[i] += bias[Int(kr[i])] }
                                }
                            }
                        } else {
                            let tile = ThreadScratch.floats(T * n, slot: 1)
                            matmulWTStrided(xin, ldx: ldxin, w, ldw: max(nc, 1), tile, ldy: n, T: T, K: K, n: n, accumulate: false)
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

    /// Output rows `range` of the logical [R] layout (compatibility path of `Linear.forward(rows:)`).
    /// x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    func forwardRows(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                     rows range: Range<Int>, accumulate: Bool, bias: UnsafePointer<Float>?) {
        let nc = keptCols.count
        for t in 0..<T {
            let xt = x + t * ldx, yt = y + t * ldy
            for (i, r32) in keptRows.enumerated() where range.contains(Int(r32)) {
                var s: Float = 0
                for j in 0..<nc { s += values[i * nc + j] * xt[Int(keptCols[j])] }
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
