/// Correlated OBS updates for removed rows and columns (surgeon.md §5), on the live sub-matrix, with
/// Gi = (G_L + λ_G·I)⁻¹ and Ai = (A_L + λ_A·I)⁻¹ the inverses of the damped live factors:
/// rows R′:    ΔW = −Gi[:,R′] · (Gi[R′,R′])⁻¹ · W[R′,:]
/// columns C′: ΔW = −W[:,C′] · (Ai[C′,C′])⁻¹ · Ai[C′,:]
/// Only the columns Gi[:,R′] and Ai[:,C′] are formed (one Cholesky factorization and |R′| or |C′|
/// solves per factor), never the whole inverses. `joint` solves all rows (and all columns) of the
/// layer at once, `independent` one at a time; the two updates are summed, then every removed row
/// and column is zeroed again. g: [R, R], a: [C', C'] full factors (float64), as for the costs.
public func applyStructuredUpdate(_ layer: inout PrunableLayer, analysis an: StructuredAnalysis, newRows: [Int], newCols: [Int],
                                  mode: UpdateMode, g: [Double]?, a: [Double]?, dampG: Double, dampA: Double) throws {
    let R = layer.rows, C = layer.cols
    let live = an.liveRows, liveC = an.liveCols
    let nR = live.count, nC = liveC.count
    // positions of the new structures inside the live index lists (dead ones need no update)
    let rowPos = Dictionary(uniqueKeysWithValues: live.enumerated().map { ($1, $0) })
    let colPos = Dictionary(uniqueKeysWithValues: liveC.enumerated().map { ($1, $0) })
    let rp = newRows.compactMap { rowPos[$0] }, cp = newCols.compactMap { colPos[$0] }
    if mode != .none, nR > 0, nC > 0, let g, let a, !(rp.isEmpty && cp.isEmpty) {
        let wl = nR == R && nC == C ? layer.w : submatrix(layer.w, cols: C, rows: live, cols: liveC)     // [nR, nC]
        var delta = [Double](repeating: 0, count: nR * nC)
        let allR = Array(0..<nR), allC = Array(0..<nC)
        // groups of positions k into rp / cp
        func groups(_ n: Int) -> [[Int]] { n == 0 ? [] : mode == .joint ? [Array(0..<n)] : (0..<n).map { [$0] } }
        if !rp.isEmpty {
            var gd = damped(livePart(g, full: R, live), n: nR, dampG)   // factorized in place
            let gi = try spdInverseColumns(&gd, n: nR, cols: rp, what: "G of \(layer.name)")   // Gi[:, rp]: [nR, |rp|]
            gd = []
            for S in groups(rp.count) {
                // X = (Gi[S,S])⁻¹ W[S,:]  : [|S|, nC];  ΔW −= Gi[:,S] X
                let rows = S.map { rp[$0] }
                let x = try spdSolve(submatrix(gi, cols: rp.count, rows: rows, cols: S), n: S.count,
                                     submatrix(wl, cols: nC, rows: rows, cols: allC), k: nC, what: "Gi[R',R'] of \(layer.name)")
                dgemm(submatrix(gi, cols: rp.count, rows: allR, cols: S), x, M: nR, N: nC, K: S.count, alpha: -1, beta: 1, into: &delta)
            }
        }
        if !cp.isEmpty {
            var ad = damped(livePart(a, full: C, liveC), n: nC, dampA)   // factorized in place
            let ai = try spdInverseColumns(&ad, n: nC, cols: cp, what: "A of \(layer.name)")   // Ai[:, cp]: [nC, |cp|]
            ad = []
            for S in groups(cp.count) {
                // Y = (Ai[S,S])⁻¹ Ai[S,:]  : [|S|, nC] (Ai[S,:] = Ai[:,S]ᵀ);  ΔW −= W[:,S] Y
                let cols = S.map { cp[$0] }
                var rowsOfAi = [Double](repeating: 0, count: S.count * nC)
                for (i, k) in S.enumerated() { for j in 0..<nC { rowsOfAi[i * nC + j] = ai[j * cp.count + k] } }
                let y = try spdSolve(submatrix(ai, cols: cp.count, rows: cols, cols: S), n: S.count, rowsOfAi, k: nC,
                                     what: "Ai[C',C'] of \(layer.name)")
                dgemm(submatrix(wl, cols: nC, rows: allR, cols: cols), y, M: nR, N: nC, K: S.count, alpha: -1, beta: 1, into: &delta)
            }
        }
        for (i, r) in live.enumerated() {
            for (j, c) in liveC.enumerated() { layer.w[r * C + c] += delta[i * nC + j] }
        }
    }
    for r in newRows { layer.removedRows[r] = true }
    for c in newCols { layer.removedCols[c] = true }
    for r in 0..<layer.rows where an.deadRows[r] { layer.removedRows[r] = true }
    for c in 0..<layer.cols where an.deadCols[c] { layer.removedCols[c] = true }
    layer.applyMask()
    guard layer.w.allSatisfy({ $0.isFinite }) else { throw SurgeryError.nonFiniteWeights(layer: layer.name) }
}
