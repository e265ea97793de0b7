/// Correlated OBS updates for removed rows and columns (surgeon.md §5), on the live sub-matrix:
/// rows R′:    ΔW = −Gi[:,R′] · (Gi[R′,R′])⁻¹ · W[R′,:]
/// columns C′: ΔW = −W[:,C′] · (Ai[C′,C′])⁻¹ · Ai[C′,:]
/// `joint` solves all rows (and all columns) of the layer at once, `independent` one at a time;
/// the two updates are summed, then every removed row and column is zeroed again.
public func applyStructuredUpdate(_ layer: inout PrunableLayer, analysis an: StructuredAnalysis,
                                  newRows: [Int], newCols: [Int], mode: UpdateMode) throws {
    let C = layer.cols
    let live = an.liveRows, liveC = an.liveCols
    let nR = live.count, nC = liveC.count
    // positions of the new structures inside the live index lists (dead ones need no update)
    let rowPos = Dictionary(uniqueKeysWithValues: live.enumerated().map { ($1, $0) })
    let colPos = Dictionary(uniqueKeysWithValues: liveC.enumerated().map { ($1, $0) })
    let rp = newRows.compactMap { rowPos[$0] }, cp = newCols.compactMap { colPos[$0] }
    if mode != .none, nR > 0, nC > 0, let gi = an.gInv, let ai = an.aInv, !(rp.isEmpty && cp.isEmpty) {
        let wl = submatrix(layer.w, cols: C, rows: live, cols: liveC)     // [nR, nC]
        var delta = [Double](repeating: 0, count: nR * nC)
        let allR = Array(0..<nR), allC = Array(0..<nC)
        let groupsR: [[Int]] = mode == .joint ? (rp.isEmpty ? [] : [rp]) : rp.map { [$0] }
        let groupsC: [[Int]] = mode == .joint ? (cp.isEmpty ? [] : [cp]) : cp.map { [$0] }
        for S in groupsR {
            // X = (Gi[S,S])⁻¹ W[S,:]  : [|S|, nC];  ΔW −= Gi[:,S] X
            let x = try spdSolve(submatrix(gi, cols: nR, rows: S, cols: S), n: S.count,
                                 submatrix(wl, cols: nC, rows: S, cols: allC), k: nC, what: "Gi[R',R'] of \(layer.name)")
            dgemm(submatrix(gi, cols: nR, rows: allR, cols: S), x, M: nR, N: nC, K: S.count, alpha: -1, beta: 1, into: &delta)
        }
        for S in groupsC {
            // Y = (Ai[S,S])⁻¹ Ai[S,:]  : [|S|, nC];  ΔW −= W[:,S] Y
            let y = try spdSolve(submatrix(ai, cols: nC, rows: S, cols: S), n: S.count,
                                 submatrix(ai, cols: nC, rows: S, cols: allC), k: nC, what: "Ai[C',C'] of \(layer.name)")
            dgemm(submatrix(wl, cols: nC, rows: allR, cols: S), y, M: nR, N: nC, K: S.count, alpha: -1, beta: 1, into: &delta)
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
