import XCTest
import Runtime
@testable import Surgery
import TestSupport

/// The float64 window sums under the K-FAC factors (`FactorSum`, `windowStatistic`).
final class FactorSumTests: XCTestCase {
    override func tearDown() { Parallel.setThreads(2) }

    /// Windows of rows whose scales differ by up to 10^6, as activations of different windows do.
    private func windows(_ count: Int, T: Int, n: Int, seed: UInt64) -> [[Float]] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in
            let scale = Float(pow(10, Double(rng.uniform() * 6 - 3)))
            return (0..<(T * n)).map { _ in scale * Float(rng.normal()) }
        }
    }

    /// Entries whose bits differ.
    private func differing(_ a: [Float], _ b: [Float]) -> Int {
        a.count != b.count ? max(a.count, b.count) : zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
    }

    private func statistic(_ x: [Float], T: Int, C: Int, hasBias: Bool, alpha: Float, scratch: Buffer) -> [Float] {
        let n = C + (hasBias ? 1 : 0)
        let s = x.withUnsafeBufferPointer { windowStatistic($0.baseAddress!, T: T, C: C, hasBias: hasBias, alpha: alpha, into: scratch) }
        var upper = [Float](repeating: 0, count: n * n)
        for i in 0..<n { for j in i..<n { upper[i * n + j] = s[i * n + j] } }
        return upper
    }

    /// Summed in window order by one process, or dealt round-robin to 2 and 3 "ranks" whose float64
    /// sums are then added in rank order (what MPI_Reduce does), the factor is the same bit for bit;
    /// and it is Σ α·[x 1]ᵀ[x 1] (float64 reference, 1e-5 relative per entry). A float32 running sum
    /// (the accumulation this replaced) differs between the two orders.
    func testTheSumDoesNotDependOnHowTheWindowsAreShared() {
        let T = 24, C = 150, n = C + 1, W = 12, alpha: Float = 1 / Float(W * T)
        let xs = windows(W, T: T, n: C, seed: 5)
        let scratch = Buffer()
        let stats = xs.map { statistic($0, T: T, C: C, hasBias: true, alpha: alpha, scratch: scratch) }
        let one = FactorSum(n: n)
        for s in stats { s.withUnsafeBufferPointer { one.add($0.baseAddress!) } }
        let reference = one.tensor()
        for ranks in [2, 3] {
            let shares = (0..<ranks).map { _ in FactorSum(n: n) }
            for (w, s) in stats.enumerated() { s.withUnsafeBufferPointer { shares[w % ranks].add($0.baseAddress!) } }
            for r in 1..<ranks { for k in 0..<one.count { shares[0].sum[k] += shares[r].sum[k] } }
            XCTAssertEqual(differing(shares[0].tensor().data, reference.data), 0, "entries that differ, \(ranks) ranks")
        }
        // the float64 reference
        var worst = 0.0
        for i in 0..<n {
            for j in i..<n {
                var e = 0.0, scale = 0.0
                for x in xs {
                    for t in 0..<T {
                        let a = i < C ? Double(x[t * C + i]) : 1, b = j < C ? Double(x[t * C + j]) : 1
                        e += Double(alpha) * a * b
                        scale += Double(alpha) * abs(a * b)
                    }
                }
                worst = max(worst, abs(Double(reference.data[i * n + j]) - e) / max(scale, 1e-30))
                XCTAssertEqual(reference.data[i * n + j], reference.data[j * n + i])
            }
        }
        XCTAssertLessThan(worst, 1e-5)
        // a float32 running sum depends on the order
        var inOrder = [Float](repeating: 0, count: n * n), byRank = [Float](repeating: 0, count: n * n)
        for s in stats { for k in 0..<(n * n) { inOrder[k] += s[k] } }
        var even = [Float](repeating: 0, count: n * n), odd = even
        for (w, s) in stats.enumerated() { for k in 0..<(n * n) { if w % 2 == 0 { even[k] += s[k] } else { odd[k] += s[k] } } }
        for k in 0..<(n * n) { byRank[k] = even[k] + odd[k] }
        XCTAssertGreaterThan(differing(inOrder, byRank), 0, "the float32 control should show the order effect")
    }

    /// A window's statistic is the same bit for bit with 1, 2 and 3 worker threads (the blocks of the
    /// ssyrk/sgemm split depend on n only), so ranks with fewer threads than one process sum the same terms.
    func testAWindowsStatisticDoesNotDependOnTheThreads() {
        let T = 40, C = 300
        let x = windows(1, T: T, n: C, seed: 8)[0]
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            Parallel.setThreads(threads)
            results.append(statistic(x, T: T, C: C, hasBias: false, alpha: 0.25, scratch: Buffer()))
        }
        XCTAssertEqual(differing(results[0], results[1]), 0, "1 vs 2 threads")
        XCTAssertEqual(differing(results[0], results[2]), 0, "1 vs 3 threads")
        // and it is 0.25·xᵀx (upper triangle), not an accumulation onto the scratch's old contents
        let scratch = Buffer(C * C)
        scratch.pointer.update(repeating: 7, count: C * C)
        let again = statistic(x, T: T, C: C, hasBias: false, alpha: 0.25, scratch: scratch)
        XCTAssertEqual(differing(again, results[0]), 0, "a scratch holding old values")
        var worst: Float = 0
        for i in stride(from: 0, to: C, by: 7) {
            for j in i..<C {
                var s: Float = 0, size: Float = 0
                for t in 0..<T { s += x[t * C + i] * x[t * C + j]; size += abs(x[t * C + i] * x[t * C + j]) }
                worst = max(worst, abs(again[i * C + j] - 0.25 * s) / (0.25 * size))
            }
        }
        XCTAssertLessThan(worst, 1e-5)
    }
}
