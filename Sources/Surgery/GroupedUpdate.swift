import Foundation

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
/// removed weight is set to exactly 0. K_P is solved to float64 accuracy by block-preconditioned
/// conjugate gradients, or failing them a float32 Cholesky with float64 refinement (`GroupSystem.solve`).
/// gi, ai: the damped inverses on the live rows / columns (`liveInverses`); nil = no update (OBD
/// baselines). mask: [R, C'].
@discardableResult
public func applyGroupedUpdate(_ layer: inout PrunableLayer, mask: [Bool], live: LiveParts, gi: [Double]?, ai: [Double]?,
                               maxEntries: Int = defaultMaxGroupEntries) throws -> GroupSolveCounts {
    var counts = GroupSolveCounts()
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
            try solveGroup(group, maskedCols: maskedCols, wl: &wl, gi: gi, ai: ai, nR: nR, nC: nC, layer: layer.name,
                           counts: &counts)
        }
        for (i, r) in rows.enumerated() {
            for (j, c) in cols.enumerated() { layer.w[r * C + c] = wl[i * nC + j] }
        }
    }
    for i in 0..<(R * C) where removed[i] { layer.w[i] = 0 }
    guard layer.w.allSatisfy({ $0.isFinite }) else { throw SurgeryError.nonFiniteWeights(layer: layer.name) }
    return counts
}

/// How the groups of grouped updates were solved (for the progress log): by conjugate gradients
/// (with their iterations in all) or by a factorization (float32 refined, or float64).
public struct GroupSolveCounts: Sendable {
    public var iterative = 0, iterations = 0, factored = 0
    public init() {}
    public static func + (a: Self, b: Self) -> Self {
        var c = a
        c.iterative += b.iterative
        c.iterations += b.iterations
        c.factored += b.factored
        return c
    }
    public var summary: String {
        let mean = iterative > 0 ? String(format: "%.1f", Double(iterations) / Double(iterative)) : "-"
        return "\(iterative + factored) grouped solves: \(iterative) by conjugate gradients (\(mean) iterations on average), \(factored) factored"
    }
}

/// One group's exact OBS step on the live weights wl: [nR, nC] (updated in place): K_P solved through
/// its Kronecker structure (`GroupSystem`), then Y = M_P·Ai (n axpys of Ai's rows: M_P has only n
/// nonzeros) and wl −= Gi[:, P_r]·Y (2·nR·p·nC flops).
private func solveGroup(_ group: Range<Int>, maskedCols: [[Int]], wl: inout [Double], gi: [Double], ai: [Double],
                        nR: Int, nC: Int, layer: String, counts: inout GroupSolveCounts) throws {
    // the group's entries (row slot ps, live column pc), row by row; row slot s holds off[s]..<off[s+1]
    var pc: [Int] = [], ps: [Int] = [], groupRows: [Int] = [], off: [Int] = [0]
    for i in group where !maskedCols[i].isEmpty {
        for j in maskedCols[i] { pc.append(j); ps.append(groupRows.count) }
        groupRows.append(i)
        off.append(pc.count)
    }
    let n = pc.count, p = groupRows.count
    guard n > 0 else { return }
    let system = GroupSystem(n: n, p: p, nC: nC, pc: pc, ps: ps, off: off,
                             gp: submatrix(gi, cols: nR, rows: groupRows, cols: groupRows))
    let target = (0..<n).map { wl[groupRows[ps[$0]] * nC + pc[$0]] }   // current weights at P
    try ai.withUnsafeBufferPointer { a in
        guard let ab = a.baseAddress else { return }
        let solved = try system.solve(target, ai: ab, what: "the grouped OBS system of \(layer)")
        if solved.route == .conjugateGradient {
            counts.iterative += 1
            counts.iterations += solved.iterations
        } else {
            counts.factored += 1
        }
        let sol = solved.x
        let y = system.spread(sol, ai: ab)                                              // [p, nC]
        let giCols = submatrix(gi, cols: nR, rows: Array(0..<nR), cols: groupRows)   // [nR, p]
        dgemm(giCols, y, M: nR, N: nC, K: p, alpha: -1, beta: 1, into: &wl)
    }
}
