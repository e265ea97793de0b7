import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// SparseGPT and Wanda on tiny layers against explicit least squares and explicit scores; 2:4 groups.
final class LayerwiseTests: XCTestCase {
    let N = 40, R = 5, n = 12
    var rng = SeededRandom(seed: 21)

    /// X: [N, n] with columns of different scales, H = XᵀX, W: [R, n].
    func problem() -> (x: [Double], h: [Double], w: [Double]) {
        let x = (0..<(N * n)).map { i in rng.normal() * (0.5 + Double(i % n) / Double(n)) }
        var h = [Double](repeating: 0, count: n * n)
        for t in 0..<N { for i in 0..<n { for j in 0..<n { h[i * n + j] += x[t * n + i] * x[t * n + j] } } }
        return (x, h, (0..<(R * n)).map { _ in rng.normal() })
    }

    /// SparseGPT with a fixed mask equals the explicit column-by-column OBS: for each removed column c
    /// of a row, the later columns F take the least-squares compensation d_F = H_FF⁻¹ H_Fc w_c with the
    /// earlier columns frozen (blocks of 4 with lazy updates, 1% damping).
    func testSparseGPTEqualsColumnwiseOBS() throws {
        let (_, h, w) = problem()
        var mask = [Bool](repeating: false, count: R * n)
        for i in 0..<(R * n) where rng.uniform() < 0.5 { mask[i] = true }
        var got = w
        try sparseGPT(w: &got, rows: R, cols: n, h: h, pattern: .mask(mask), groupedInputs: n,
                      options: SparseGPTOptions(blockSize: 4, percentDamp: 0.01))
        let hd = damped(h, n: n, 0.01)
        var expect = w
        for r in 0..<R {
            for c in 0..<n where mask[r * n + c] {
                let F = Array((c + 1)..<n)
                let wc = expect[r * n + c]
                if !F.isEmpty {
                    let d = try spdSolve(submatrix(hd, cols: n, rows: F, cols: F), n: F.count,
                                         F.map { hd[$0 * n + c] * wc }, k: 1, what: "H_FF")
                    for (i, f) in F.enumerated() { expect[r * n + f] += d[i] }
                }
                expect[r * n + c] = 0
            }
        }
        XCTAssertLessThan(ExplicitOBS.maxAbsDiff(got, expect), 1e-10)
    }

    /// When the removed weights of each row come before its kept ones, SparseGPT's result is the
    /// optimal compensation: the direct least-squares solution of min ‖X(w − ŵ)‖² with ŵ_P = 0.
    func testSparseGPTEqualsLeastSquaresForLeadingMask() throws {
        let (x, h, w) = problem()
        var mask = [Bool](repeating: false, count: R * n)
        for r in 0..<R { for c in 0..<(1 + r) { mask[r * n + c] = true } }
        var got = w
        try sparseGPT(w: &got, rows: R, cols: n, h: h, pattern: .mask(mask), groupedInputs: n,
                      options: SparseGPTOptions(blockSize: 4, percentDamp: 0))
        for r in 0..<R {
            let K = (0..<n).filter { !mask[r * n + $0] }
            // X_K ŵ_K ≈ X w, solved by the normal equations on X itself
            let y = (0..<N).map { t in (0..<n).reduce(0.0) { $0 + x[t * n + $1] * w[r * n + $1] } }
            var xtx = [Double](repeating: 0, count: K.count * K.count), xty = [Double](repeating: 0, count: K.count)
            for t in 0..<N {
                for (i, a) in K.enumerated() {
                    xty[i] += x[t * n + a] * y[t]
                    for (j, b) in K.enumerated() { xtx[i * K.count + j] += x[t * n + a] * x[t * n + b] }
                }
            }
            let ls = try spdSolve(xtx, n: K.count, xty, k: 1, what: "XᵀX")
            for c in 0..<n where mask[r * n + c] { XCTAssertEqual(got[r * n + c], 0) }
            for (i, c) in K.enumerated() { XCTAssertEqual(got[r * n + c], ls[i], accuracy: 1e-9, "row \(r) column \(c)") }
        }
    }

    func testSparseGPTPatterns() throws {
        let (_, h, w) = problem()
        // unstructured: exactly ⌊s·R·b⌋ zeros in every block of b = 4 columns
        var u = w
        try sparseGPT(w: &u, rows: R, cols: n, h: h, pattern: .unstructured(0.5), groupedInputs: n,
                      options: SparseGPTOptions(blockSize: 4))
        for b in 0..<(n / 4) {
            let zeros = (0..<R).reduce(0) { acc, r in acc + (0..<4).filter { u[r * n + 4 * b + $0] == 0 }.count }
            XCTAssertEqual(zeros, 10, "block \(b)")
        }
        // 2:4 with a bias column (the last of 13): two zeros per group, the bias column in no group
        let h13 = ExplicitOBS.randomSPD(13, &rng)
        let w13 = (0..<(R * 13)).map { _ in rng.normal() }
        var t = w13
        try sparseGPT(w: &t, rows: R, cols: 13, h: h13, pattern: .twoFour, groupedInputs: 12, options: SparseGPTOptions(blockSize: 8))
        for r in 0..<R {
            for g in 0..<3 { XCTAssertEqual((0..<4).filter { t[r * 13 + 4 * g + $0] == 0 }.count, 2) }
            XCTAssertNotEqual(t[r * 13 + 12], 0)
            XCTAssertNotEqual(t[r * 13 + 12], w13[r * 13 + 12], "the bias column is compensated")
        }
    }

    func testWandaScoresAndMasks() throws {
        let (x, h, w) = problem()
        let norms = (0..<n).map { c in (0..<N).reduce(0.0) { $0 + x[$1 * n + c] * x[$1 * n + c] }.squareRoot() }
        let fromA = inputNorms(a: h.map { $0 / Double(N) }, n: n, tokens: N)
        for c in 0..<n { XCTAssertEqual(fromA[c], norms[c], accuracy: 1e-12) }
        let score = wandaScores(w: w, rows: R, cols: n, inputNorms: norms)
        for i in 0..<(R * n) { XCTAssertEqual(score[i], abs(w[i]) * norms[i % n], accuracy: 1e-15) }
        // unstructured: in each row the ⌊0.5·12⌋ = 6 smallest scores
        var u = w
        try wanda(w: &u, rows: R, cols: n, inputNorms: norms, pattern: .unstructured(0.5), groupedInputs: n)
        for r in 0..<R {
            let order = (0..<n).sorted { score[r * n + $0] < score[r * n + $1] }
            for (rank, c) in order.enumerated() {
                XCTAssertEqual(u[r * n + c] == 0, rank < 6)
                if rank >= 6 { XCTAssertEqual(u[r * n + c], w[r * n + c]) }
            }
        }
        // 2:4: the two smallest scores of each group of 4
        var t = w
        try wanda(w: &t, rows: R, cols: n, inputNorms: norms, pattern: .twoFour, groupedInputs: n)
        for r in 0..<R {
            for g in 0..<3 {
                let cols = (0..<4).map { 4 * g + $0 }.sorted { score[r * n + $0] < score[r * n + $1] }
                for (rank, c) in cols.enumerated() { XCTAssertEqual(t[r * n + c] == 0, rank < 2) }
            }
        }
    }

    func testTwoFourGroupCostsAndValidity() {
        // two rows, 8 inputs and a bias column (stride 9)
        let cost: [Double] = [4, 1, 3, 2, 0, 5, 5, 1, 9,
                              1, 1, 1, 1, 7, 6, 8, 9, 0]
        let gc = twoFourGroupCosts(cost, rows: 2, stride: 9, inputs: 8)
        XCTAssertEqual(gc, [3, 1, 2, 13])
        let mask = twoFourMask(cost, selected: [true, false, true, true], rows: 2, stride: 9, inputs: 8)
        let removed = mask.enumerated().filter { $0.element }.map(\.offset)
        XCTAssertEqual(removed, [1, 3, 9, 10, 13, 14])
        XCTAssertFalse(mask[8] || mask[17], "bias column is in no group")
        XCTAssertTrue(isValid2of4(weight: [0, 1, 0, 2, 3, 0, 0, 0], rows: 1, cols: 8))
        XCTAssertFalse(isValid2of4(weight: [0, 1, 1, 2, 3, 0, 0, 0], rows: 1, cols: 8))
        XCTAssertFalse(isValid2of4(weight: [0, 1, 0, 2, 0, 0], rows: 1, cols: 6), "inputs must be a multiple of 4")
        XCTAssertThrowsError(try require2of4Shapes([("a", 8), ("b", 6)])) { XCTAssertTrue("\($0)".contains("multiple of 4")) }
    }
}
