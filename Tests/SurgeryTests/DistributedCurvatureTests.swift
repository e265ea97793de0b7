import Foundation
import XCTest
import Runtime
@testable import Surgery
import TestSupport

final class DistributedCurvatureTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// Windows are dealt round-robin and every rank keeps the scales of all windows (1/(N·L)), so the
    /// ranks' shares sum to the one-process factors (tiny-llama, 5 windows over 2 and 3 ranks, 1e-5
    /// relative Frobenius per factor); each shared A is reduced once, every G once.
    func testRankSharesSumToTheOneProcessFactors() throws {
        let model = try Fixtures.model("tiny-llama")
        let V = model.config.vocabSize
        let windows: [[Int32]] = (0..<5).map { s in (0..<16).map { Int32((3 * s + 7 * $0 + 1) % V) } }
        let cal = try Calibration(windows: windows, offsets: Array(0..<5))
        let full = try Curvature.estimate(model: model, calibration: cal, method: .kfac)
        for size in [2, 3] {
            var sumA: [String: [Float]] = [:], sumG: [String: [Float]] = [:]
            for rank in 0..<size {
                let comm = RecordingRank(rank: rank, size: size)
                let share = try Curvature.estimate(model: model, calibration: cal, method: .kfac, communicator: comm)
                // distinct A storages (q/k/v share one, gate/up one) plus one G per layer
                let distinctA = Set(model.blockLinearNames.compactMap { share.A[$0]?.data.withUnsafeBytes { $0.baseAddress } }).count
                XCTAssertEqual(comm.reduced, distinctA + model.blockLinearNames.count)
                XCTAssertEqual(share.metadata["ranks"], String(size))
                for (name, t) in share.A { sumA[name] = zip(sumA[name] ?? [Float](repeating: 0, count: t.data.count), t.data).map(+) }
                for (name, t) in share.G { sumG[name] = zip(sumG[name] ?? [Float](repeating: 0, count: t.data.count), t.data).map(+) }
            }
            for layer in model.blockLinearNames {
                let a = try XCTUnwrap(sumA[layer]), g = try XCTUnwrap(sumG[layer])
                XCTAssertLessThanOrEqual(relativeFrobenius(a, try XCTUnwrap(full.A[layer]).data), 1e-5, "A.\(layer) over \(size)")
                XCTAssertLessThanOrEqual(relativeFrobenius(g, try XCTUnwrap(full.G[layer]).data), 1e-5, "G.\(layer) over \(size)")
            }
        }
    }

    /// More ranks than windows: a clear error on every rank, before any pass (no rank would wait).
    func testMoreRanksThanWindowsIsRefused() throws {
        let model = try Fixtures.model("tiny-llama")
        let cal = try Calibration(windows: [[1, 2, 3, 4], [5, 6, 7, 8]], offsets: [0, 4])
        XCTAssertThrowsError(try Curvature.estimate(model: model, calibration: cal, method: .kfac,
                                                    communicator: RecordingRank(rank: 2, size: 3))) {
            XCTAssertEqual($0 as? CurvatureError, .tooFewWindows(windows: 2, ranks: 3))
        }
    }

    /// The comparison itself: zero against itself, the formula on a known difference, missing factors refused.
    func testFactorComparison() throws {
        let a = Tensor(shape: [2, 2], data: [1, 0, 0, 1]), b = Tensor(shape: [2, 2], data: [1, 0, 0, 1.1])
        let f1 = KFACFactors(method: .kfac, A: ["l": a], G: ["l": a], tokens: 1)
        let f2 = KFACFactors(method: .kfac, A: ["l": b], G: ["l": a], tokens: 1)
        XCTAssertEqual(try FactorComparison(f1, reference: f1).worst?.value, 0)
        let c = try FactorComparison(f2, reference: f1)
        XCTAssertEqual(c.worst?.name, "A.l")
        XCTAssertEqual(try XCTUnwrap(c.worst?.value), 0.1 / 2.0.squareRoot(), accuracy: 1e-7)
        XCTAssertThrowsError(try FactorComparison(KFACFactors(method: .kfac, A: [:], G: ["l": a], tokens: 1), reference: f1))
    }
}
