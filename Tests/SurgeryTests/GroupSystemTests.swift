import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// The grouped update's float32-factored, float64-refined solve against the float64 dense solve it
/// replaced, on layers large enough for blocked LAPACK paths (n up to a few hundred per group).
final class GroupSystemTests: XCTestCase {
    /// The previous implementation of the grouped update (dense float64 K_P, float64 Cholesky,
    /// dense M·Ai), kept here as the reference.  w: [R, C] updated in place (live = everything).
    static func denseGroupedUpdate(_ w: inout [Double], R: Int, C: Int, removed: [Bool], gi: [Double], ai: [Double],
                                   maxEntries: Int) throws {
        let maskedCols = (0..<R).map { r in (0..<C).filter { removed[r * C + $0] } }
        for group in rowGroups(counts: maskedCols.map(\.count), maxEntries: maxEntries) {
            var pr: [Int] = [], pc: [Int] = []
            let rows = group.filter { !maskedCols[$0].isEmpty }
            for r in rows { for c in maskedCols[r] { pr.append(r); pc.append(c) } }
            let n = pr.count
            if n == 0 { continue }
            var k = [Double](repeating: 0, count: n * n)
            for x in 0..<n { for y in 0..<n { k[x * n + y] = gi[pr[x] * R + pr[y]] * ai[pc[x] * C + pc[y]] } }
            let sol = try spdSolve(k, n: n, (0..<n).map { w[pr[$0] * C + pc[$0]] }, k: 1, what: "K")
            var m = [Double](repeating: 0, count: rows.count * C)
            for x in 0..<n { m[rows.firstIndex(of: pr[x])! * C + pc[x]] = sol[x] }
            var y = [Double](repeating: 0, count: rows.count * C)
            dgemm(m, ai, M: rows.count, N: C, K: C, into: &y)
            dgemm(submatrix(gi, cols: R, rows: Array(0..<R), cols: rows), y, M: R, N: C, K: rows.count,
                  alpha: -1, beta: 1, into: &w)
        }
        for i in w.indices where removed[i] { w[i] = 0 }
    }

    /// 2:4 masks (two of four per chosen group, as a 2:4 shot removes) and unstructured masks, several
    /// group sizes: the new update equals the dense float64 one to float64 round-off (1e-9 relative
    /// to the largest weight; the float32 factor alone would be off by ~1e-4).
    func testMatchesDenseFloat64Update() throws {
        var rng = SeededRandom(seed: 5)
        let R = 48, C = 64
        let dG = DefaultDamping.elementG, dA = DefaultDamping.elementA
        for (pattern, maxEntries) in [("2:4", 1), ("2:4", 150), ("2:4", 2000), ("unstructured", 40), ("unstructured", 700)] {
            let g = ExplicitOBS.randomSPD(R, &rng), a = ExplicitOBS.randomSPD(C, &rng)
            var layer = ExplicitOBS.layer(rows: R, cols: C, &rng)
            var mask = [Bool](repeating: false, count: R * C)
            for i in 0..<(R * C) {
                if pattern == "2:4" {
                    if i % 4 == 0, rng.uniform() < 0.6 { mask[i] = true; mask[i + 1 + Int(rng.next() % 3)] = true }
                } else if rng.uniform() < 0.3 {
                    mask[i] = true
                }
            }
            layer.w[7] = 0                                                  // an earlier removal
            let live = LiveParts(layer, g: g, a: a)
            XCTAssertEqual(live.liveRows.count, R)
            XCTAssertEqual(live.liveCols.count, C)
            let (gi, ai) = try liveInverses(layer, live: live, g: g, a: a, dampG: dG, dampA: dA)
            var expected = layer.w
            let removed = (0..<(R * C)).map { mask[$0] || layer.w[$0] == 0 }
            try Self.denseGroupedUpdate(&expected, R: R, C: C, removed: removed, gi: gi, ai: ai, maxEntries: maxEntries)
            try applyGroupedUpdate(&layer, mask: mask, live: live, gi: gi, ai: ai, maxEntries: maxEntries)
            let scale = expected.map(abs).max() ?? 1
            XCTAssertLessThan(ExplicitOBS.maxAbsDiff(layer.w, expected), 1e-9 * scale, "\(pattern), \(maxEntries) entries")
        }
    }

    /// A system of rows whose blocks are ill-conditioned (cond(Ai) up to 1e10) but weakly coupled (Gp
    /// close to diagonal) is solved by the block-preconditioned conjugate gradients, to the dense
    /// float64 solution; one whose rows are coupled almost rigidly (Gp ≈ 11ᵀ: the preconditioner
    /// misses nearly all of K_P) exhausts their budget and is factored instead, to the same solution
    /// (within its condition number, ~1e8).
    func testConjugateGradientsAndTheirFallback() throws {
        var rng = SeededRandom(seed: 11)
        let p = 5, nC = 48
        // each row keeps a different random half of the columns
        var pc: [Int] = [], ps: [Int] = [], off = [0]
        for s in 0..<p {
            for c in 0..<nC where rng.uniform() < 0.5 { pc.append(c); ps.append(s) }
            off.append(pc.count)
        }
        let n = pc.count
        XCTAssertGreaterThanOrEqual(n, GroupSystem.minIterativeEntries)
        let t = (0..<n).map { _ in rng.normal() }
        for coupled in [false, true] {
            var gp = [Double](repeating: 0, count: p * p), ai = ExplicitOBS.randomSPD(nC, &rng)
            if coupled {
                for i in 0..<(p * p) { gp[i] = 1 }
                for s in 0..<p { gp[s * p + s] += 1e-7 }
            } else {
                gp = ExplicitOBS.randomSPD(p, &rng)
                for s in 0..<p { gp[s * p + s] += 10 }
                // a badly scaled Ai: the row blocks absorb it
                for i in 0..<nC { for j in 0..<nC { ai[i * nC + j] *= pow(10, Double(i + j) / Double(nC) * 2) } }
            }
            var k = [Double](repeating: 0, count: n * n)
            for x in 0..<n { for y in 0..<n { k[x * n + y] = gp[ps[x] * p + ps[y]] * ai[pc[x] * nC + pc[y]] } }
            let expected = try spdSolve(k, n: n, t, k: 1, what: "K")
            let system = GroupSystem(n: n, p: p, nC: nC, pc: pc, ps: ps, off: off, gp: gp)
            let got = try ai.withUnsafeBufferPointer { try system.solve(t, ai: $0.baseAddress!, what: "K") }
            let size = expected.map(abs).max() ?? 1
            XCTAssertLessThan(ExplicitOBS.maxAbsDiff(got.x, expected), (coupled ? 1e-4 : 1e-10) * size)
            if coupled {
                XCTAssertNotEqual(got.route, .conjugateGradient, "rigidly coupled rows")
                continue
            }
            XCTAssertEqual(got.route, .conjugateGradient, "weakly coupled rows")
            // the residual meets the float64 criterion the iterations promise
            let norm = (0..<n).map { x in (0..<n).reduce(0.0) { $0 + abs(k[x * n + $1]) } }.max() ?? 0
            let kx = (0..<n).map { x in (0..<n).reduce(0.0) { $0 + k[x * n + $1] * got.x[$1] } }
            let rMax = zip(t, kx).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(rMax, (got.x.map(abs).max() ?? 0) * norm * Double.ulpOfOne * Double(n).squareRoot())
        }
    }

    /// A well-conditioned system (cond ~1e2) is solved by the float32 factor plus refinement; one whose
    /// condition number exceeds float32's reach (1e10) falls back to float64 Cholesky. Both reach the
    /// float64 dense solution (relative to its size, scaled by the condition number for the second).
    func testRefinementAndFloat64Fallback() throws {
        var rng = SeededRandom(seed: 9)
        let p = 6, nC = 40
        // every column of every row: K = Gp ⊗ Ai, so cond(K) = cond(Gp)·cond(Ai)
        let pc = (0..<p).flatMap { _ in Array(0..<nC) }
        let ps = (0..<p).flatMap { s in [Int](repeating: s, count: nC) }
        let off = (0...p).map { $0 * nC }
        let n = pc.count
        var gp = ExplicitOBS.randomSPD(p, &rng)
        for s in 0..<p { gp[s * p + s] += 10 }                                        // cond(Gp) of a few units
        let t = (0..<n).map { _ in rng.normal() }
        for (cond, float64) in [(1e2, false), (1e10, true)] {
            // ai = Q·diag(λ)·Qᵀ with λ spanning 1 … 1/cond (Q from a Cholesky-free Gram–Schmidt of a random matrix)
            var q = (0..<(nC * nC)).map { _ in rng.normal() }
            for i in 0..<nC {
                for j in 0..<i {
                    var d = 0.0
                    for k in 0..<nC { d += q[i * nC + k] * q[j * nC + k] }
                    for k in 0..<nC { q[i * nC + k] -= d * q[j * nC + k] }
                }
                let norm = (0..<nC).reduce(0.0) { $0 + q[i * nC + $1] * q[i * nC + $1] }.squareRoot()
                for k in 0..<nC { q[i * nC + k] /= norm }
            }
            var ai = [Double](repeating: 0, count: nC * nC)
            for l in 0..<nC {
                let lambda = pow(cond, -Double(l) / Double(nC - 1))
                for i in 0..<nC { for j in 0..<nC { ai[i * nC + j] += lambda * q[l * nC + i] * q[l * nC + j] } }
            }
            var k = [Double](repeating: 0, count: n * n)
            for x in 0..<n { for y in 0..<n { k[x * n + y] = gp[ps[x] * p + ps[y]] * ai[pc[x] * nC + pc[y]] } }
            let expected = try spdSolve(k, n: n, t, k: 1, what: "K")
            let system = GroupSystem(n: n, p: p, nC: nC, pc: pc, ps: ps, off: off, gp: gp)
            let got = try ai.withUnsafeBufferPointer { try system.solve(t, ai: $0.baseAddress!, what: "K", iterative: false) }
            XCTAssertEqual(got.route, float64 ? .float64 : .refinedFloat32, "condition \(cond)")
            let size = expected.map(abs).max() ?? 1
            XCTAssertLessThan(ExplicitOBS.maxAbsDiff(got.x, expected), 1e-13 * cond * size, "condition \(cond)")
            // the structured product is the dense one
            let kx = ai.withUnsafeBufferPointer { system.multiply(t, ai: $0.baseAddress!) }
            let dense = (0..<n).map { x in (0..<n).reduce(0.0) { $0 + k[x * n + $1] * t[$1] } }
            XCTAssertLessThan(ExplicitOBS.maxAbsDiff(kx, dense), 1e-12 * (dense.map(abs).max() ?? 1))
        }
    }
}
