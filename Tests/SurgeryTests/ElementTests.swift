import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// Element costs, grouped correlated updates and the global selection against explicit OBS on a
/// small layer with an explicit Fisher F = Gd ⊗ Ad.
final class ElementTests: XCTestCase {
    let R = 6, C = 8
    let dG = DefaultDamping.elementG, dA = DefaultDamping.elementA
    var rng = SeededRandom(seed: 11)

    func testElementCostsMatchExplicitKronecker() throws {
        let g = ExplicitOBS.randomSPD(R, &rng), a = ExplicitOBS.randomSPD(C, &rng)
        let layer = ExplicitOBS.layer(rows: R, cols: C, &rng)
        let finv = try ExplicitOBS.inverseFisher(g: g, a: a, R: R, C: C, dG: dG, dA: dA)
        let live = LiveParts(layer, g: g, a: a)
        let cost = try elementCosts(layer, live: live, g: g, a: a, method: .surgeon, dampG: dG, dampA: dA)
        for i in 0..<(R * C) {
            let e = try ExplicitOBS.obs(finv, theta: layer.w, set: [i])
            XCTAssertEqual(cost[i], e.cost, accuracy: 1e-10 * max(1, e.cost), "element \(i)")
        }
        // the OBD family: explicit diagonal formulas
        let kobd = try elementCosts(layer, live: live, g: g, a: a, method: .kobd, dampG: dG, dampA: dA)
        let lobd = try elementCosts(layer, live: live, g: nil, a: a, method: .lobd, dampG: dG, dampA: dA)
        let mag = try elementCosts(layer, live: LiveParts(layer, g: nil, a: nil), g: nil, a: nil, method: .magnitude,
                                   dampG: dG, dampA: dA)
        for r in 0..<R {
            for c in 0..<C {
                let w2 = layer.w[r * C + c] * layer.w[r * C + c]
                XCTAssertEqual(kobd[r * C + c], w2 * g[r * R + r] * a[c * C + c] / 2, accuracy: 1e-12)
                XCTAssertEqual(lobd[r * C + c], w2 * a[c * C + c] / 2, accuracy: 1e-12)
                XCTAssertEqual(mag[r * C + c], w2 / 2, accuracy: 1e-15)
            }
        }
    }

    func testDeadRowsAndColumnsCostNothingAndStayZero() throws {
        var g = ExplicitOBS.randomSPD(R, &rng)
        let a = ExplicitOBS.randomSPD(C, &rng)
        for i in 0..<R { g[2 * R + i] = 0; g[i * R + 2] = 0 }            // no gradient reaches row 2
        var layer = ExplicitOBS.layer(rows: R, cols: C, &rng)
        for r in 0..<R { layer.w[r * C + 5] = 0 }                          // column 5 is all zero
        let live = LiveParts(layer, g: g, a: a)
        XCTAssertEqual(live.liveRows, [0, 1, 3, 4, 5])
        XCTAssertEqual(live.liveCols, [0, 1, 2, 3, 4, 6, 7])
        let cost = try elementCosts(layer, live: live, g: g, a: a, method: .surgeon, dampG: dG, dampA: dA)
        for c in 0..<C { XCTAssertEqual(cost[2 * C + c], 0) }
        for r in 0..<R { XCTAssertEqual(cost[r * C + 5], 0) }
        // live costs are the explicit costs of the live sub-layer (damping relative to the live part)
        let gl = submatrix(g, cols: R, rows: live.liveRows, cols: live.liveRows)
        let al = submatrix(a, cols: C, rows: live.liveCols, cols: live.liveCols)
        let wl = submatrix(layer.w, cols: C, rows: live.liveRows, cols: live.liveCols)
        let finv = try ExplicitOBS.inverseFisher(g: gl, a: al, R: 5, C: 7, dG: dG, dA: dA)
        for (i, r) in live.liveRows.enumerated() {
            for (j, c) in live.liveCols.enumerated() {
                let e = try ExplicitOBS.obs(finv, theta: wl, set: [i * 7 + j])
                XCTAssertEqual(cost[r * C + c], e.cost, accuracy: 1e-10 * max(1, e.cost))
            }
        }
        // an update removes the dead row (its weights were nonzero) and keeps the dead column at zero
        let (gi, ai) = try liveInverses(layer, live: live, g: g, a: a, dampG: dG, dampA: dA)
        var mask = [Bool](repeating: false, count: R * C)
        mask[0 * C + 1] = true
        try applyGroupedUpdate(&layer, mask: mask, live: live, gi: gi, ai: ai)
        for c in 0..<C { XCTAssertEqual(layer.w[2 * C + c], 0) }
        for r in 0..<R { XCTAssertEqual(layer.w[r * C + 5], 0) }
        let e = try ExplicitOBS.obs(finv, theta: wl, set: [0 * 7 + 1])
        for (i, r) in live.liveRows.enumerated() {
            for (j, c) in live.liveCols.enumerated() {
                XCTAssertEqual(layer.w[r * C + c], wl[i * 7 + j] + e.delta[i * 7 + j], accuracy: 1e-10)
            }
        }
    }

    /// One group holding new removals and earlier zeros = the explicit OBS update of that set; the
    /// earlier zeros stay exactly zero (without them in the set, OBS would move them).
    func testGroupUpdateIsExplicitOBSAndKeepsPinnedZeros() throws {
        let g = ExplicitOBS.randomSPD(R, &rng), a = ExplicitOBS.randomSPD(C, &rng)
        var layer = ExplicitOBS.layer(rows: R, cols: C, &rng)
        let pinned = [0 * C + 1, 2 * C + 5, 4 * C + 7, 5 * C + 0]
        for p in pinned { layer.w[p] = 0 }
        let fresh = [0 * C + 3, 1 * C + 1, 3 * C + 6, 4 * C + 2, 5 * C + 5]
        var mask = [Bool](repeating: false, count: R * C)
        for p in fresh { mask[p] = true }
        let live = LiveParts(layer, g: g, a: a)
        let (gi, ai) = try liveInverses(layer, live: live, g: g, a: a, dampG: dG, dampA: dA)
        let base = layer.w
        try applyGroupedUpdate(&layer, mask: mask, live: live, gi: gi, ai: ai, maxEntries: 10_000)
        let finv = try ExplicitOBS.inverseFisher(g: g, a: a, R: R, C: C, dG: dG, dA: dA)
        let e = try ExplicitOBS.obs(finv, theta: base, set: (pinned + fresh).sorted())
        for i in 0..<(R * C) { XCTAssertEqual(layer.w[i], base[i] + e.delta[i], accuracy: 1e-10, "entry \(i)") }
        for p in pinned + fresh { XCTAssertEqual(layer.w[p], 0) }
        let unpinned = try ExplicitOBS.obs(finv, theta: base, set: fresh)
        XCTAssertGreaterThan(pinned.map { abs(unpinned.delta[$0]) }.max() ?? 0, 1e-3, "pinning must matter in this test")
    }

    /// Several groups: each group's solve is the exact OBS step from the weights the earlier groups
    /// left (sequential hand-off), then everything removed is re-masked.
    func testSequentialHandOffEqualsExplicitSequence() throws {
        let g = ExplicitOBS.randomSPD(R, &rng), a = ExplicitOBS.randomSPD(C, &rng)
        var layer = ExplicitOBS.layer(rows: R, cols: C, &rng)
        layer.w[3 * C + 3] = 0                                            // an earlier removal
        var mask = [Bool](repeating: false, count: R * C)
        for i in 0..<(R * C) where rng.uniform() < 0.4 { mask[i] = true }
        let removed = (0..<(R * C)).map { mask[$0] || layer.w[$0] == 0 }
        let counts = (0..<R).map { r in (0..<C).filter { removed[r * C + $0] }.count }
        let groups = rowGroups(counts: counts, maxEntries: 7)
        XCTAssertGreaterThan(groups.count, 2)
        let live = LiveParts(layer, g: g, a: a)
        let (gi, ai) = try liveInverses(layer, live: live, g: g, a: a, dampG: dG, dampA: dA)
        var theta = layer.w
        try applyGroupedUpdate(&layer, mask: mask, live: live, gi: gi, ai: ai, maxEntries: 7)
        let finv = try ExplicitOBS.inverseFisher(g: g, a: a, R: R, C: C, dG: dG, dA: dA)
        for group in groups {
            let S = group.flatMap { r in (0..<C).filter { removed[r * C + $0] }.map { r * C + $0 } }
            if S.isEmpty { continue }
            let e = try ExplicitOBS.obs(finv, theta: theta, set: S)
            for i in theta.indices { theta[i] += e.delta[i] }
            for s in S { XCTAssertEqual(theta[s], 0, accuracy: 1e-10, "group solve is exact on its own set") }
        }
        for i in theta.indices where removed[i] { theta[i] = 0 }
        XCTAssertLessThan(ExplicitOBS.maxAbsDiff(layer.w, theta), 1e-10)
    }

    /// With G diagonal, groups of whole rows do not interact: the grouped result equals the joint
    /// OBS solve of the whole set.
    func testDisjointRowGroupsWithDiagonalGEqualJointSolve() throws {
        var g = [Double](repeating: 0, count: R * R)
        for r in 0..<R { g[r * R + r] = 0.5 + rng.uniform() }
        let a = ExplicitOBS.randomSPD(C, &rng)
        let base = ExplicitOBS.layer(rows: R, cols: C, &rng)
        var mask = [Bool](repeating: false, count: R * C)
        for i in 0..<(R * C) where rng.uniform() < 0.5 { mask[i] = true }
        let live = LiveParts(base, g: g, a: a)
        let (gi, ai) = try liveInverses(base, live: live, g: g, a: a, dampG: dG, dampA: dA)
        var grouped = base, joint = base
        try applyGroupedUpdate(&grouped, mask: mask, live: live, gi: gi, ai: ai, maxEntries: 3)
        try applyGroupedUpdate(&joint, mask: mask, live: live, gi: gi, ai: ai, maxEntries: 10_000)
        let finv = try ExplicitOBS.inverseFisher(g: g, a: a, R: R, C: C, dG: dG, dA: dA)
        let e = try ExplicitOBS.obs(finv, theta: base.w, set: (0..<(R * C)).filter { mask[$0] })
        for i in 0..<(R * C) {
            XCTAssertEqual(joint.w[i], base.w[i] + e.delta[i], accuracy: 1e-10)
            XCTAssertEqual(grouped.w[i], joint.w[i], accuracy: 1e-10)
        }
    }

    func testRowGroups() {
        XCTAssertEqual(rowGroups(counts: [3, 3, 3, 6, 1], maxEntries: 5), [0..<1, 1..<2, 2..<3, 3..<4, 4..<5])
        XCTAssertEqual(rowGroups(counts: [2, 2, 1, 0, 7, 2], maxEntries: 5), [0..<4, 4..<5, 5..<6])
        XCTAssertEqual(rowGroups(counts: [1, 1, 1], maxEntries: 2000), [0..<3])
        XCTAssertEqual(rowGroups(counts: [], maxEntries: 5), [])
    }

    /// The global selection removes exactly max(k, zeros) entries: all zero costs, then the smallest,
    /// ties broken by array then index, compared with a full sort.
    func testGlobalSelectionMatchesSortedReference() {
        for trial in 0..<20 {
            let arrays: [[Double]] = (0..<4).map { _ in
                (0..<(5 + Int(rng.uniform() * 40))).map { _ in
                    let u = rng.uniform()
                    return u < 0.1 ? 0 : (u < 0.3 ? 0.25 : rng.uniform() * pow(10, rng.uniform() * 20 - 10))
                }
            }
            let all = arrays.enumerated().flatMap { (i, a) in a.enumerated().map { (v: $1, i: i, j: $0) } }
            let k = Int(rng.uniform() * Double(all.count + 1))
            let sel = selectSmallest(arrays, count: k)
            let zeros = all.filter { $0.v == 0 }.count
            let n = max(k, zeros)
            let sorted = all.sorted { ($0.v, $0.i, $0.j) < ($1.v, $1.i, $1.j) }
            var expect = arrays.map { [Bool](repeating: false, count: $0.count) }
            for e in sorted.prefix(n) { expect[e.i][e.j] = true }
            XCTAssertEqual(sel.masks, expect, "trial \(trial)")
            XCTAssertEqual(sel.removed, n)
            if n > 0 {
                XCTAssertEqual(sel.threshold, sorted[n - 1].v)
                XCTAssertEqual(kthSmallest(arrays, n), sorted[n - 1].v)
            }
        }
    }
}
