/// Largest number of masked entries solved jointly in one group of the element update (surgeon.md §5).
public let defaultMaxGroupEntries = 2000

/// Cuts consecutive rows into groups holding at most `maxEntries` masked entries each (counts[i] =
/// masked entries of row i). Rows are never split: a row holding more than `maxEntries` on its own
/// forms a group alone. Returns ranges of row indices covering 0..<counts.count.
public func rowGroups(counts: [Int], maxEntries: Int) -> [Range<Int>] {
    var groups: [Range<Int>] = []
    var start = 0, inGroup = 0
    for (i, n) in counts.enumerated() {
        if inGroup > 0 && inGroup + n > maxEntries {
            groups.append(start..<i)
            start = i
            inGroup = 0
        }
        inGroup += n
    }
    if start < counts.count { groups.append(start..<counts.count) }
    return groups
}

/// Removes the masked weights of a layer and compensates with correlated OBS updates under the
/// Kronecker factors (surgeon.md §5). The removed set is `mask` plus every weight that is already
/// zero (earlier removals: "stay zero" constraints) plus the dead rows and columns. On the live
/// sub-matrix, the masked entries are cut into groups of whole consecutive rows (`rowGroups`); per
/// group P, in order, solve K_P x = target_P with K_P[a,b] = Gi[r_a,r_b]·Ai[c_a,c_b] and target_P
/// the current weights at P (earlier groups' updates included: sequential hand-off), then apply
/// ΔW = −Gi[:,P_r] · (M_P · Ai) where M_P holds x at P's positions (rows P_r). Finally every
/// removed weight is set to exactly 0.
/// gi, ai: the damped inverses on the live rows / columns (`liveInverses`); nil = no update (OBD
/// baselines). mask: [R, C'].
public func applyGroupedUpdate(_ layer: inout PrunableLayer, mask: [Bool], live: LiveParts, gi: [Double]?, ai: [Double]?,
                               maxEntries: Int = defaultMaxGroupEntries) throws {
    let R = layer.rows, C = layer.cols
    var removed = mask
    for r in 0..<R {
        for c in 0..<C where layer.w[r * C + c] == 0 || live.isDead(r, c) { removed[r * C + c] = true }
    }
    let rows = live.liveRows, cols = live.liveCols
    let nR = rows.count, nC = cols.count
    if let gi, let ai, nR > 0, nC > 0 {
        var wl = submatrix(layer.w, cols: C, rows: rows, cols: cols)     // [nR, nC]
        // masked live columns (as live indices) of every live row
        let maskedCols: [[Int]] = rows.map { r in (0..<nC).filter { removed[r * C + cols[$0]] } }
        for group in rowGroups(counts: maskedCols.map(\.count), maxEntries: max(1, maxEntries)) {
            try solveGroup(group, maskedCols: maskedCols, wl: &wl, gi: gi, ai: ai, nR: nR, nC: nC, layer: layer.name)
        }
        for (i, r) in rows.enumerated() {
            for (j, c) in cols.enumerated() { layer.w[r * C + c] = wl[i * nC + j] }
        }
    }
    for i in 0..<(R * C) where removed[i] { layer.w[i] = 0 }
    guard layer.w.allSatisfy({ $0.isFinite }) else { throw SurgeryError.nonFiniteWeights(layer: layer.name) }
}

/// One group's exact OBS step on the live weights wl: [nR, nC] (updated in place).
private func solveGroup(_ group: Range<Int>, maskedCols: [[Int]], wl: inout [Double], gi: [Double], ai: [Double],
                        nR: Int, nC: Int, layer: String) throws {
    // the group's positions (live row, live column), row by row
    var pr: [Int] = [], pc: [Int] = [], groupRows: [Int] = []
    for i in group where !maskedCols[i].isEmpty {
        groupRows.append(i)
        for j in maskedCols[i] { pr.append(i); pc.append(j) }
    }
    let n = pr.count
    guard n > 0 else { return }
    // K_P[a,b] = Gi[r_a,r_b]·Ai[c_a,c_b];  target_P = current weights at P
    var k = [Double](repeating: 0, count: n * n)
    var target = [Double](repeating: 0, count: n)
    k.withUnsafeMutableBufferPointer { kp in
        gi.withUnsafeBufferPointer { g in
            ai.withUnsafeBufferPointer { a in
                for x in 0..<n {
                    let gRow = pr[x] * nR, aRow = pc[x] * nC
                    let out = x * n
                    for y in 0..<n { kp[out + y] = g[gRow + pr[y]] * a[aRow + pc[y]] }
                }
            }
        }
    }
    for x in 0..<n { target[x] = wl[pr[x] * nC + pc[x]] }
    let sol = try spdSolve(k, n: n, target, k: 1, what: "the grouped OBS system of \(layer)")
    // M: [p, nC] holds the solution at the group's positions; Y = M · Ai; wl −= Gi[:, P_r] · Y
    let p = groupRows.count
    let slot = Dictionary(uniqueKeysWithValues: groupRows.enumerated().map { ($1, $0) })
    var m = [Double](repeating: 0, count: p * nC)
    for x in 0..<n {
        guard let s = slot[pr[x]] else { continue }
        m[s * nC + pc[x]] = sol[x]
    }
    var y = [Double](repeating: 0, count: p * nC)
    dgemm(m, ai, M: p, N: nC, K: nC, into: &y)
    let giCols = submatrix(gi, cols: nR, rows: Array(0..<nR), cols: groupRows)   // [nR, p]
    dgemm(giCols, y, M: nR, N: nC, K: p, alpha: -1, beta: 1, into: &wl)
}
