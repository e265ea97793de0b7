import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// Structured costs, updates and threshold against explicit Kronecker-factored OBS on small layers.
final class StructuredTests: XCTestCase {
    let R = 6, C = 5
    var rng = SeededRandom(seed: 7)

    func randomSPD(_ n: Int) -> [Double] {
        let m = (0..<(n * n)).map { _ in rng.normal() }
        var s = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { s[i * n + j] += m[i * n + k] * m[j * n + k] } } }
        for i in 0..<n { s[i * n + i] += 0.1 }
        return s
    }

    func layer(rows: Int, cols: Int) -> PrunableLayer {
        let w = Tensor(shape: [rows, cols], data: (0..<(rows * cols)).map { _ in Float(rng.normal()) })
        return PrunableLayer(name: "test", linear: Linear(dense: w))
    }

    func testCostsAndUpdatesMatchExplicitKronecker() throws {
        let g = randomSPD(R), a = randomSPD(C)
        let dG = 0.01, dA = 0.02
        let base = layer(rows: R, cols: C)
        let finv = try ExplicitOBS.inverseFisher(g: g, a: a, R: R, C: C, dG: dG, dA: dA)
        let an = try structuredAnalysis(base, g: g, a: a, method: .surgeon, dampG: dG, dampA: dA)
        for r in 0..<R {
            let e = try ExplicitOBS.obs(finv, theta: base.w, set: (0..<C).map { r * C + $0 })
            XCTAssertEqual(an.rowCost[r], e.cost, accuracy: 1e-9 * max(1, e.cost), "row \(r)")
        }
        for c in 0..<C {
            let e = try ExplicitOBS.obs(finv, theta: base.w, set: (0..<R).map { $0 * C + c })
            XCTAssertEqual(an.colCost[c], e.cost, accuracy: 1e-9 * max(1, e.cost), "column \(c)")
        }
        // a set of rows alone
        var rowsLayer = base
        try applyStructuredUpdate(&rowsLayer, analysis: an, newRows: [1, 4], newCols: [], mode: .joint, g: g, a: a, dampG: dG, dampA: dA)
        let er = try ExplicitOBS.obs(finv, theta: base.w, set: [1, 4].flatMap { r in (0..<C).map { r * C + $0 } })
        for i in 0..<(R * C) { XCTAssertEqual(rowsLayer.w[i], base.w[i] + er.delta[i], accuracy: 1e-9) }
        for c in 0..<C { XCTAssertEqual(rowsLayer.w[1 * C + c], 0); XCTAssertEqual(rowsLayer.w[4 * C + c], 0) }
        // a set of columns alone
        var colsLayer = base
        try applyStructuredUpdate(&colsLayer, analysis: an, newRows: [], newCols: [0, 2, 3], mode: .joint, g: g, a: a, dampG: dG, dampA: dA)
        let ec = try ExplicitOBS.obs(finv, theta: base.w, set: [0, 2, 3].flatMap { c in (0..<R).map { $0 * C + c } })
        for i in 0..<(R * C) { XCTAssertEqual(colsLayer.w[i], base.w[i] + ec.delta[i], accuracy: 1e-9) }
        for r in 0..<R { XCTAssertEqual(colsLayer.w[r * C + 2], 0) }
        // independent updates of a single row equal the joint update of that row
        var one = base, oneJ = base
        try applyStructuredUpdate(&one, analysis: an, newRows: [2], newCols: [], mode: .independent, g: g, a: a, dampG: dG, dampA: dA)
        try applyStructuredUpdate(&oneJ, analysis: an, newRows: [2], newCols: [], mode: .joint, g: g, a: a, dampG: dG, dampA: dA)
        XCTAssertEqual(one.w, oneJ.w)
        // no update: only the mask
        var none = base
        try applyStructuredUpdate(&none, analysis: an, newRows: [0], newCols: [1], mode: .none, g: g, a: a, dampG: dG, dampA: dA)
        for r in 1..<R { for c in 0..<C where c != 1 { XCTAssertEqual(none.w[r * C + c], base.w[r * C + c]) } }
    }

    /// The OBS row update is the optimum: the quadratic loss increase after the update equals the cost,
    /// and no other compensation of the remaining weights does better (checked against random perturbations).
    func testUpdateAchievesTheCost() throws {
        let g = randomSPD(R), a = randomSPD(C)
        let base = layer(rows: R, cols: C)
        let dG = 0.01, dA = 0.01
        let an = try structuredAnalysis(base, g: g, a: a, method: .surgeon, dampG: dG, dampA: dA)
        var l = base
        try applyStructuredUpdate(&l, analysis: an, newRows: [3], newCols: [], mode: .joint, g: g, a: a, dampG: dG, dampA: dA)
        let gd = damped(g, n: R, 0.01), ad = damped(a, n: C, 0.01)
        func loss(_ d: [Double]) -> Double {   // ½ tr(Dᵀ Gd D Ad)
            var s = 0.0
            for r in 0..<R { for r2 in 0..<R { for c in 0..<C { for c2 in 0..<C {
                s += d[r * C + c] * gd[r * R + r2] * d[r2 * C + c2] * ad[c * C + c2]
            } } } }
            return s / 2
        }
        let d = zip(l.w, base.w).map { $0 - $1 }
        XCTAssertEqual(loss(d), an.rowCost[3], accuracy: 1e-9 * an.rowCost[3])
        for _ in 0..<10 {
            var p = d
            for i in 0..<(R * C) where i / C != 3 { p[i] += 0.01 * rng.normal() }
            XCTAssertGreaterThan(loss(p), loss(d))
        }
    }

    func testBaselineCostFormulas() throws {
        let g = randomSPD(R), a = randomSPD(C)
        let base = layer(rows: R, cols: C)
        let w = base.w
        let mag = try structuredAnalysis(base, g: nil, a: nil, method: .magnitude, dampG: 0, dampA: 0)
        let lobd = try structuredAnalysis(base, g: g, a: a, method: .lobd, dampG: 0, dampA: 0)
        let kobd = try structuredAnalysis(base, g: g, a: a, method: .kobd, dampG: 0, dampA: 0)
        for r in 0..<R {
            let row = Array(w[(r * C)..<(r * C + C)])
            XCTAssertEqual(mag.rowCost[r], row.map { $0 * $0 }.reduce(0, +) / 2, accuracy: 1e-12)
            XCTAssertEqual(lobd.rowCost[r], (0..<C).map { row[$0] * row[$0] * a[$0 * C + $0] }.reduce(0, +) / 2, accuracy: 1e-12)
            var q = 0.0
            for c in 0..<C { for c2 in 0..<C { q += row[c] * a[c * C + c2] * row[c2] } }
            XCTAssertEqual(kobd.rowCost[r], g[r * R + r] * q / 2, accuracy: 1e-9)
        }
        for c in 0..<C {
            let col = (0..<R).map { w[$0 * C + c] }
            XCTAssertEqual(mag.colCost[c], col.map { $0 * $0 }.reduce(0, +) / 2, accuracy: 1e-12)
            XCTAssertEqual(lobd.colCost[c], a[c * C + c] * col.map { $0 * $0 }.reduce(0, +) / 2, accuracy: 1e-12)
            var q = 0.0
            for r in 0..<R { for r2 in 0..<R { q += col[r] * g[r * R + r2] * col[r2] } }
            XCTAssertEqual(kobd.colCost[c], a[c * C + c] * q / 2, accuracy: 1e-9)
        }
    }

    /// On a layer with a dead row and column, several rows and columns removed (joint and one by one)
    /// update exactly as the formulas with the whole inverses of the damped live factors say.
    func testUpdateOnTheLivePartMatchesTheWholeInverses() throws {
        var l = layer(rows: R, cols: C)
        for c in 0..<C { l.w[2 * C + c] = 0 }           // row 2 dead
        for r in 0..<R { l.w[r * C + 1] = 0 }           // column 1 dead
        let g = randomSPD(R), a = randomSPD(C), dG = 0.03, dA = 0.02
        let an = try structuredAnalysis(l, g: g, a: a, method: .surgeon, dampG: dG, dampA: dA)
        XCTAssertEqual(an.liveRows, [0, 1, 3, 4, 5])
        XCTAssertEqual(an.liveCols, [0, 2, 3, 4])
        let live = an.liveRows, liveC = an.liveCols, nR = live.count, nC = liveC.count
        let gi = try spdInverse(damped(submatrix(g, cols: R, rows: live, cols: live), n: nR, dG), n: nR, what: "G")
        let ai = try spdInverse(damped(submatrix(a, cols: C, rows: liveC, cols: liveC), n: nC, dA), n: nC, what: "A")
        let wl = submatrix(l.w, cols: C, rows: live, cols: liveC)
        for mode in [UpdateMode.joint, .independent] {
            // rows 1 and 5 (live positions 1 and 4), columns 0 and 4 (live positions 0 and 3)
            let rs = [1, 4], cs = [0, 3]
            var delta = [Double](repeating: 0, count: nR * nC)
            for S in (mode == .joint ? [rs] : rs.map { [$0] }) {
                let x = try spdSolve(submatrix(gi, cols: nR, rows: S, cols: S), n: S.count, submatrix(wl, cols: nC, rows: S, cols: Array(0..<nC)), k: nC, what: "")
                dgemm(submatrix(gi, cols: nR, rows: Array(0..<nR), cols: S), x, M: nR, N: nC, K: S.count, alpha: -1, beta: 1, into: &delta)
            }
            for S in (mode == .joint ? [cs] : cs.map { [$0] }) {
                let y = try spdSolve(submatrix(ai, cols: nC, rows: S, cols: S), n: S.count, submatrix(ai, cols: nC, rows: S, cols: Array(0..<nC)), k: nC, what: "")
                dgemm(submatrix(wl, cols: nC, rows: Array(0..<nR), cols: S), y, M: nR, N: nC, K: S.count, alpha: -1, beta: 1, into: &delta)
            }
            var got = l
            try applyStructuredUpdate(&got, analysis: an, newRows: [1, 5], newCols: [0, 4], mode: mode, g: g, a: a, dampG: dG, dampA: dA)
            for (i, r) in live.enumerated() {
                for (j, c) in liveC.enumerated() where ![1, 5].contains(r) && ![0, 4].contains(c) {
                    XCTAssertEqual(got.w[r * C + c], l.w[r * C + c] + delta[i * nC + j], accuracy: 1e-9, "\(mode) [\(r), \(c)]")
                }
            }
            for c in 0..<C { XCTAssertEqual(got.w[5 * C + c], 0); XCTAssertEqual(got.w[2 * C + c], 0) }
            for r in 0..<R { XCTAssertEqual(got.w[r * C + 4], 0) }
        }
    }

    func testDeadStructuresCostZero() throws {
        var l = layer(rows: R, cols: C)
        for c in 0..<C { l.w[2 * C + c] = 0 }           // row 2 all zero
        var a = randomSPD(C)
        for i in 0..<C { a[3 * C + i] = 0; a[i * C + 3] = 0 }   // input 3 never active
        let an = try structuredAnalysis(l, g: randomSPD(R), a: a, method: .surgeon, dampG: 0.01, dampA: 0.01)
        XCTAssertTrue(an.deadRows[2])
        XCTAssertTrue(an.deadCols[3])
        XCTAssertEqual(an.rowCost[2], 0)
        XCTAssertEqual(an.colCost[3], 0)
        XCTAssertEqual(an.liveRows, [0, 1, 3, 4, 5])
        XCTAssertEqual(an.liveCols, [0, 1, 2, 4])
    }

    func testThresholdCountsWithOverlap() {
        // layer 0: 3 × 4, layer 1: 2 × 2
        let rows: [[Double]] = [[1, 5, 9], [2, 8]]
        let cols: [[Double]] = [[3, 4, 10, 11], [6, 7]]
        // ascending: L0 r0 (1, +4) → 4; L1 r0 (2, +2) → 6; L0 c0 (3, +3−1=2) → 8; L0 c1 (4, +2) → 10;
        //            L0 r1 (5, +4−2=2) → 12; L1 c0 (6, +2−1=1) → 13; L1 c1 (7, +1) → 14; L1 r1 (8, +0) → 14; L0 r2 (9, +2) → 16
        XCTAssertEqual(structuredRemovedCount(r: 2, c: 2, R: 3, C: 4), 2 * 4 + 2 * 3 - 2 * 2)
        let s = selectStructures(rowCosts: rows, colCosts: cols, target: 13)
        XCTAssertEqual(s.removed, 13)
        XCTAssertEqual(s.rows, [[0, 1], [0]])
        XCTAssertEqual(s.cols, [[0, 1], [0]])
        XCTAssertEqual(s.threshold, 6)
        let s2 = selectStructures(rowCosts: rows, colCosts: cols, target: 11)
        XCTAssertEqual(s2.removed, 10)
        XCTAssertEqual(s2.threshold, 4)
        let s3 = selectStructures(rowCosts: rows, colCosts: cols, target: 14)
        XCTAssertEqual(s3.removed, 14)
        XCTAssertEqual(s3.rows[1], [0, 1], "a row of a layer whose columns are all gone adds nothing")
        XCTAssertEqual(selectStructures(rowCosts: rows, colCosts: cols, target: 3).removed, 0)
    }
}
