import Foundation

/// Row and column costs of one layer and its live part. Small: no inverse is kept (the update
/// solves for the columns it needs, `applyStructuredUpdate`), so a shot holds every layer's costs
/// at once but the float64 work of one layer per worker.
public struct StructuredAnalysis: Sendable {
    public var rowCost: [Double]      // [R], 0 for dead rows
    public var colCost: [Double]      // [C'], 0 for dead columns
    public var deadRows: [Bool]
    public var deadCols: [Bool]
    public var liveRows: [Int]
    public var liveCols: [Int]
}

/// Costs of removing each row and each column of a layer (surgeon.md §3):
/// by the method's cost trait (`MethodTraits.Cost`):
/// - obs (surgeon): row w_rᵀ Ad w_r / (2·Gi[r,r]), column v_cᵀ Gd v_c / (2·Ai[c,c]) on the live sub-matrix;
/// - diagonal: G[r,r]·w_rᵀ A w_r / 2 and A[c,c]·v_cᵀ G v_c / 2 (kobd); without G (lobd) the row
///   cost takes A's diagonal only, Σ_c w²·A[c,c] / 2;
/// - magnitude: the kobd formulas with G = A = I.
/// A column is dead when it is all zero or A[c,c] = 0, a row when it is all zero or G[r,r] = 0;
/// dead structures cost 0 (so removed structures stay removed).
/// g: [R, R] or nil (identity); a: [C', C'] or nil (identity).
public func structuredAnalysis(_ layer: PrunableLayer, g: [Double]?, a: [Double]?, method: PruningMethod,
                               dampG: Double, dampA: Double) throws -> StructuredAnalysis {
    let R = layer.rows, C = layer.cols
    let w = layer.w
    var deadRows = (0..<R).map { r in layer.removedRows[r] || layer.rowIsZero(r) || g?[r * R + r] == 0 }
    var deadCols = (0..<C).map { c in layer.removedCols[c] || layer.colIsZero(c) || a?[c * C + c] == 0 }
    // a layer with everything dead on one side is dead on the other too
    if !deadRows.contains(false) { deadCols = [Bool](repeating: true, count: C) }
    if !deadCols.contains(false) { deadRows = [Bool](repeating: true, count: R) }
    let liveRows = (0..<R).filter { !deadRows[$0] }
    let liveCols = (0..<C).filter { !deadCols[$0] }
    var rowCost = [Double](repeating: 0, count: R)
    var colCost = [Double](repeating: 0, count: C)
    let nR = liveRows.count, nC = liveCols.count
    // live weights W_L: [nR, nC]
    let wl = submatrix(w, cols: C, rows: liveRows, cols: liveCols)
    // the factors on the live part (identity when absent)
    func factor(_ f: [Double]?, _ n: Int, _ idx: [Int], _ full: Int) -> [Double] {
        if let f { return submatrix(f, cols: full, rows: idx, cols: idx) }
        var id = [Double](repeating: 0, count: n * n)
        for i in 0..<n { id[i * n + i] = 1 }
        return id
    }
    let traits = method.traits
    if nR > 0 && nC > 0 {
        let gl = factor(traits.usesG ? g : nil, nR, liveRows, R)
        let al = factor(a, nC, liveCols, C)
        switch traits.cost {
        case .obs:
            let gd = damped(gl, n: nR, dampG), ad = damped(al, n: nC, dampA)
            let gi = try spdInverseDiagonal(gd, n: nR, what: "G of \(layer.name)")
            let ai = try spdInverseDiagonal(ad, n: nC, what: "A of \(layer.name)")
            // row: w_rᵀ Ad w_r = (W Ad)[r,:]·w_r ; column: v_cᵀ Gd v_c = (Gd W)[:,c]·v_c
            var wa = [Double](repeating: 0, count: nR * nC)
            dgemm(wl, ad, M: nR, N: nC, K: nC, into: &wa)
            var gw = [Double](repeating: 0, count: nR * nC)
            dgemm(gd, wl, M: nR, N: nC, K: nR, into: &gw)
            for (i, r) in liveRows.enumerated() {
                var q = 0.0
                for j in 0..<nC { q += wa[i * nC + j] * wl[i * nC + j] }
                rowCost[r] = q / (2 * gi[i])
            }
            for (j, c) in liveCols.enumerated() {
                var q = 0.0
                for i in 0..<nR { q += gw[i * nC + j] * wl[i * nC + j] }
                colCost[c] = q / (2 * ai[j])
            }
        case .diagonal, .magnitude:
            let gUse = traits.cost == .magnitude ? factor(nil, nR, [], R) : gl
            let aUse = traits.cost == .magnitude ? factor(nil, nC, [], C) : al
            var wa = [Double](repeating: 0, count: nR * nC)
            dgemm(wl, aUse, M: nR, N: nC, K: nC, into: &wa)
            var gw = [Double](repeating: 0, count: nR * nC)
            dgemm(gUse, wl, M: nR, N: nC, K: nR, into: &gw)
            if traits.cost == .diagonal && !traits.usesG {
                // G = I and only the diagonal of A: row Σ_c w²·A[c,c]/2, column A[c,c]·Σ_r w²/2
                for (i, r) in liveRows.enumerated() {
                    var q = 0.0
                    for j in 0..<nC { q += wl[i * nC + j] * wl[i * nC + j] * aUse[j * nC + j] }
                    rowCost[r] = q / 2
                }
                for (j, c) in liveCols.enumerated() {
                    var q = 0.0
                    for i in 0..<nR { q += wl[i * nC + j] * wl[i * nC + j] }
                    colCost[c] = aUse[j * nC + j] * q / 2
                }
            } else {
                for (i, r) in liveRows.enumerated() {
                    var q = 0.0
                    for j in 0..<nC { q += wa[i * nC + j] * wl[i * nC + j] }
                    rowCost[r] = gUse[i * nR + i] * q / 2
                }
                for (j, c) in liveCols.enumerated() {
                    var q = 0.0
                    for i in 0..<nR { q += gw[i * nC + j] * wl[i * nC + j] }
                    colCost[c] = aUse[j * nC + j] * q / 2
                }
            }
        case .layerwiseOBS, .inputNorm:
            throw SurgeryError.invalidRecipe(.structure, "\(method.rawValue) prunes unstructured and 2:4 patterns only, not rows and columns")
        }
    }
    return StructuredAnalysis(rowCost: rowCost, colCost: colCost, deadRows: deadRows, deadCols: deadCols,
                              liveRows: liveRows, liveCols: liveCols)
}
