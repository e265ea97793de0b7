/// Relative damping defaults (surgeon.md §6), for callers that do not choose their own.
public enum DefaultDamping {
    /// Rows and columns: (dG, dA) = (0.01, 0.01).
    public static let structuredG = 0.01
    public static let structuredA = 0.01
    /// Unstructured and 2:4: (dG, dA) = (0.1, 0.01).
    public static let elementG = 0.1
    public static let elementA = 0.01

    /// (dG, dA) for a structure.
    public static func forStructure(_ s: Structure) -> (g: Double, a: Double) {
        s == .rowsColumns ? (structuredG, structuredA) : (elementG, elementA)
    }
}

/// Dead rows and columns of a layer (surgeon.md §2): a column is dead when it is removed, all zero
/// or A[c,c] = 0, a row when it is removed, all zero or G[r,r] = 0; a layer dead on one side is dead
/// on the other. Costs and solves work on the live sub-matrix only.
public struct LiveParts: Sendable, Equatable {
    public var deadRows: [Bool]
    public var deadCols: [Bool]
    public var liveRows: [Int]
    public var liveCols: [Int]

    public init(_ layer: PrunableLayer, g: [Double]?, a: [Double]?) {
        let R = layer.rows, C = layer.cols
        deadRows = (0..<R).map { r in layer.removedRows[r] || layer.rowIsZero(r) || g?[r * R + r] == 0 }
        deadCols = (0..<C).map { c in layer.removedCols[c] || layer.colIsZero(c) || a?[c * C + c] == 0 }
        if !deadRows.contains(false) { deadCols = [Bool](repeating: true, count: C) }
        if !deadCols.contains(false) { deadRows = [Bool](repeating: true, count: R) }
        let dr = deadRows, dc = deadCols
        liveRows = (0..<R).filter { !dr[$0] }
        liveCols = (0..<C).filter { !dc[$0] }
    }

    /// Whether entry (r, c) lies in a dead row or column.
    @inline(__always)
    public func isDead(_ r: Int, _ c: Int) -> Bool { deadRows[r] || deadCols[c] }
}

/// Gi = (G + dG·mean(diag G)·I)⁻¹ and Ai = (A + dA·mean(diag A)·I)⁻¹ on the live rows / columns
/// (identity factors when nil). gi: [liveRows, liveRows]; ai: [liveCols, liveCols]
public func liveInverses(_ layer: PrunableLayer, live: LiveParts, g: [Double]?, a: [Double]?,
                         dampG: Double, dampA: Double) throws -> (gi: [Double], ai: [Double]) {
    let nR = live.liveRows.count, nC = live.liveCols.count
    let gl = liveFactor(g, live.liveRows, full: layer.rows)
    let al = liveFactor(a, live.liveCols, full: layer.cols)
    let gi = try spdInverse(damped(gl, n: nR, dampG), n: nR, what: "G of \(layer.name)")
    let ai = try spdInverse(damped(al, n: nC, dampA), n: nC, what: "A of \(layer.name)")
    return (gi, ai)
}

/// f[idx, idx], or the identity when f is nil.
func liveFactor(_ f: [Double]?, _ idx: [Int], full: Int) -> [Double] {
    if let f { return submatrix(f, cols: full, rows: idx, cols: idx) }
    let n = idx.count
    var id = [Double](repeating: 0, count: n * n)
    for i in 0..<n { id[i * n + i] = 1 }
    return id
}

/// Cost of removing each single weight of a layer (surgeon.md §3), [R, C'] row-major:
/// by the method's cost trait (`MethodTraits.Cost`):
/// - obs (surgeon):  W[r,c]² / (2·Gi[r,r]·Ai[c,c]) with the damped inverses on the live part;
/// - diagonal:       W[r,c]²·G[r,r]·A[c,c] / 2 (kobd), W[r,c]²·A[c,c] / 2 without G (lobd);
/// - magnitude:      W[r,c]² / 2.
/// Zero weights and dead rows/columns cost 0, so they are removed first and stay removed.
/// g: [R, R] or nil (identity); a: [C', C'] or nil (identity).
public func elementCosts(_ layer: PrunableLayer, live: LiveParts, g: [Double]?, a: [Double]?, method: PruningMethod,
                         dampG: Double, dampA: Double) throws -> [Double] {
    let R = layer.rows, C = layer.cols, w = layer.w
    var cost = [Double](repeating: 0, count: R * C)
    let rows = live.liveRows, cols = live.liveCols
    guard !rows.isEmpty, !cols.isEmpty else { return cost }
    // per live row / column factor: cost = w² · rowFactor[r] · colFactor[c]
    var rowFactor = [Double](repeating: 0, count: R), colFactor = [Double](repeating: 0, count: C)
    let traits = method.traits
    switch traits.cost {
    case .obs:
        let (gi, ai) = try liveInverses(layer, live: live, g: g, a: a, dampG: dampG, dampA: dampA)
        let nR = rows.count, nC = cols.count
        for (i, r) in rows.enumerated() { rowFactor[r] = 1 / (2 * gi[i * nR + i]) }
        for (j, c) in cols.enumerated() { colFactor[c] = 1 / ai[j * nC + j] }
    case .diagonal:
        for r in rows { rowFactor[r] = traits.usesG ? (g.map { $0[r * R + r] } ?? 1) / 2 : 0.5 }
        for c in cols { colFactor[c] = a.map { $0[c * C + c] } ?? 1 }
    case .magnitude:
        for r in rows { rowFactor[r] = 0.5 }
        for c in cols { colFactor[c] = 1 }
    case .layerwiseOBS, .inputNorm:
        throw SurgeryError.invalidRecipe(.method, "\(method.rawValue) is a layer-wise method: it has no global element costs")
    }
    for r in rows {
        let fr = rowFactor[r]
        for c in cols {
            let x = w[r * C + c]
            cost[r * C + c] = x * x * fr * colFactor[c]
        }
    }
    guard cost.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw SurgeryError.nonFiniteCurvature(layer: layer.name) }
    return cost
}
