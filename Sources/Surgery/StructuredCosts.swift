import CBLAS
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
    // live weights W_L: [nR, nC] (the layer's own array when everything is live: no copy)
    let wl = nR == R && nC == C ? w : submatrix(w, cols: C, rows: liveRows, cols: liveCols)
    let traits = method.traits
    if nR > 0 && nC > 0 {
        switch traits.cost {
        case .obs:
            // one float64 copy per factor, damped, then Cholesky-factorized in place (Fd = L·Lᵀ):
            // row: w_rᵀ Ad w_r = ‖w_r L_A‖² ; column: v_cᵀ Gd v_c = ‖L_Gᵀ v_c‖² (triangular products, in blocks);
            // then L⁻¹ in place for the inverses' diagonals
            var gd = damped(livePart(traits.usesG ? g : nil, full: R, liveRows), n: nR, dampG)
            var ad = damped(livePart(a, full: C, liveCols), n: nC, dampA)
            try choleskyInPlace(&gd, n: nR, what: "G of \(layer.name)")
            try choleskyInPlace(&ad, n: nC, what: "A of \(layer.name)")
            let rowQ = rowNormsTimesFactor(wl, rows: nR, cols: nC, cholesky: ad)
            let colQ = columnNormsTimesFactor(wl, rows: nR, cols: nC, cholesky: gd)
            let gi = try inverseDiagonal(fromCholesky: &gd, n: nR, what: "G of \(layer.name)")
            let ai = try inverseDiagonal(fromCholesky: &ad, n: nC, what: "A of \(layer.name)")
            for (i, r) in liveRows.enumerated() { rowCost[r] = rowQ[i] / (2 * gi[i]) }
            for (j, c) in liveCols.enumerated() { colCost[c] = colQ[j] / (2 * ai[j]) }
        case .diagonal, .magnitude:
            let gUse = livePart(traits.cost == .magnitude || !traits.usesG ? nil : g, full: R, liveRows)
            let aUse = livePart(traits.cost == .magnitude ? nil : a, full: C, liveCols)
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

/// q_r = w_rᵀ F w_r = ‖w_r L‖² for every row of W, F = L·Lᵀ given by its Cholesky factor as LAPACK
/// leaves it (column-major lower = row-major upper U = Lᵀ), in blocks of rows (buffer [≤256, C]).
/// w: [R, C], cholesky: [C, C]
func rowNormsTimesFactor(_ w: [Double], rows R: Int, cols C: Int, cholesky u: [Double]) -> [Double] {
    var q = [Double](repeating: 0, count: R)
    let b = min(256, R)
    var buf = [Double](repeating: 0, count: b * C)
    for r0 in stride(from: 0, to: R, by: b) {
        let m = min(b, R - r0)
        for i in 0..<(m * C) { buf[i] = w[r0 * C + i] }
        // buf ← buf · Uᵀ = W_b · L
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, Int32(m), Int32(C), 1, u, Int32(C), &buf, Int32(C))
        for i in 0..<m {
            var s = 0.0
            for j in 0..<C { s += buf[i * C + j] * buf[i * C + j] }
            q[r0 + i] = s
        }
    }
    return q
}

/// q_c = v_cᵀ F v_c = ‖Lᵀ v_c‖² for every column v_c of W, F = L·Lᵀ as in `rowNormsTimesFactor`, in
/// blocks of columns (buffer [R, ≤256]).  w: [R, C], cholesky: [R, R]
func columnNormsTimesFactor(_ w: [Double], rows R: Int, cols C: Int, cholesky u: [Double]) -> [Double] {
    var q = [Double](repeating: 0, count: C)
    let b = min(256, C)
    var buf = [Double](repeating: 0, count: R * b)
    for c0 in stride(from: 0, to: C, by: b) {
        let m = min(b, C - c0)
        for r in 0..<R { for j in 0..<m { buf[r * m + j] = w[r * C + c0 + j] } }
        // buf ← U · buf = Lᵀ · W[:, block]
        cblas_dtrmm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, Int32(R), Int32(m), 1, u, Int32(R), &buf, Int32(m))
        for r in 0..<R { for j in 0..<m { q[c0 + j] += buf[r * m + j] * buf[r * m + j] } }
    }
    return q
}
