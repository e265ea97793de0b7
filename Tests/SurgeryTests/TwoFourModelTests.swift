import Foundation
import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// Block-by-block passes against the training tape, and hardware-valid 2:4 patterns on the
/// fixtures: stories260K and tiny-llama (no biases), tiny-opt (biases, which belong to no group).
final class TwoFourModelTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func model(_ name: String) throws -> CausalLM { try loadModel(ModelFiles.open(Fixtures.fixture(name))) }

    /// Random windows (the tiny fixtures are random-init; stories260K gets its own vocabulary's ids).
    func randomCalibration(_ m: CausalLM, count: Int, length: Int, seed: UInt64) throws -> Calibration {
        var rng = SeededRandom(seed: seed)
        let V = UInt64(m.config.vocabSize)
        let windows = (0..<count).map { _ in (0..<length).map { _ in Int32(rng.next() % V) } }
        return try Calibration(windows: windows, offsets: Array(0..<count), source: "random")
    }

    /// H collected block by block (the blocks' calibration pass: inference kernels, keys in scratch; nothing
    /// pruned) equals the activation factor of the training pass (training kernels, Saved records).
    func testBlockForwardMatchesTrainingTape() throws {
        for name in ["tiny-llama", "tiny-opt", "stories260K"] {
            let m = try model(name)
            let calib = try randomCalibration(m, count: 3, length: 24, seed: 3)
            let full = try Curvature.estimate(model: m, calibration: calib, method: .activations)
            let bm = m
            let acc = KFACAccumulator(wantG: false)
            acc.alphaA = 1 / Float(calib.tokenCount)
            let scratch = BlockScratch()
            for window in calib.windows {
                var x = try bm.blockInput(window)
                for b in 0..<bm.blockCount { try bm.forwardBlock(b, &x, T: window.count, observer: acc, scratch: scratch) }
            }
            let (A, _) = acc.finish()
            XCTAssertEqual(Set(A.keys), Set(m.blockLinearNames), name)
            for layer in m.blockLinearNames {
                let a = try XCTUnwrap(A[layer]).data, f = try XCTUnwrap(full.A[layer]).data
                let scale = f.map(abs).max() ?? 1
                let diff = zip(a, f).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(diff, 1e-5 * max(scale, 1), "\(name) \(layer)")
            }
            var x = try bm.blockInput(calib.windows[0])
            XCTAssertThrowsError(try bm.forwardBlock(bm.blockCount, &x, T: 24, observer: nil, scratch: scratch))
            XCTAssertThrowsError(try bm.forwardBlock(0, &x, T: 23, observer: nil, scratch: scratch))
        }
    }

    /// Hardware-valid 2:4 on every layer; every group of 4 inputs of every row holds exactly two zeros,
    /// except in rows removed whole as dead (no gradient: surgeon.md §2); biases are in no group.
    /// Returns the number of dead rows.
    @discardableResult
    static func assertExactTwoFour(_ m: CausalLM, dense: [String: Linear], label: String) throws -> Int {
        var deadRows = 0
        for layer in m.blockLinearNames {
            let l = try XCTUnwrap(m.linear(layer))
            let w = l.denseWeight.data, C = l.inFeatures
            XCTAssertTrue(isValid2of4(weight: w, rows: l.outFeatures, cols: C), "\(label) \(layer)")
            for r in 0..<l.outFeatures {
                let row = w[(r * C)..<((r + 1) * C)]
                if row.allSatisfy({ $0 == 0 }) { deadRows += 1; continue }
                for g in stride(from: 0, to: C, by: 4) {
                    XCTAssertEqual((g..<(g + 4)).filter { w[r * C + $0] == 0 }.count, 2, "\(label) \(layer) row \(r) group \(g / 4)")
                }
                if let bias = l.bias, let before = dense[layer]?.bias {
                    XCTAssertNotEqual(bias[r], 0, "\(label) \(layer): biases are in no group")
                    if label.contains("wanda") || label.contains("magnitude") { XCTAssertEqual(bias[r], before[r]) }
                }
            }
        }
        return deadRows
    }

    func testTwoFourIsHardwareValidOnEveryLayer() throws {
        for name in ["tiny-llama", "tiny-opt"] {
            for method in [PruningMethod.surgeon, .sparsegpt, .wanda, .magnitude] {
                let m = try model(name)
                let calib = try randomCalibration(m, count: 4, length: 32, seed: 7)
                let dense = Dictionary(uniqueKeysWithValues: m.blockLinearNames.compactMap { n in m.linear(n).map { (n, $0) } })
                let c = try Compressor(model: m, method: method, structure: .twoFour, targetSparsity: 0.5, shots: 2,
                                       dampG: DefaultDamping.elementG, dampA: DefaultDamping.elementA,
                                       calibration: method.needsData ? calib : nil)
                try c.run()
                let dead = try Self.assertExactTwoFour(m, dense: dense, label: "\(name) \(method.rawValue)")
                let total = m.blockLinearNames.reduce(0) { acc, n in acc + (m.linear(n).map { $0.outFeatures * $0.inFeatures } ?? 0) }
                let biases = m.blockLinearNames.reduce(0) { acc, n in acc + (m.linear(n)?.bias?.count ?? 0) }
                let exact = Double(total / 2) / Double(total + biases)
                if dead == 0 {
                    XCTAssertEqual(c.actualSparsity(), exact, accuracy: 1e-12, "\(name) \(method)")
                } else {
                    print("\(name) \(method.rawValue): \(dead) dead rows removed whole")
                    XCTAssertGreaterThan(c.actualSparsity(), exact)
                    XCTAssertEqual(c.actualSparsity(), exact, accuracy: 0.01)
                }
            }
        }
    }

    func testInvalidElementRecipes() throws {
        let m = try model("tiny-llama")
        let calib = try randomCalibration(m, count: 2, length: 16, seed: 1)
        XCTAssertThrowsError(try Compressor(model: m, method: .surgeon, structure: .twoFour, targetSparsity: 0.6, shots: 1,
                                            dampG: 0.1, dampA: 0.01, calibration: calib)) { XCTAssertTrue("\($0)".contains("0.5")) }
        XCTAssertThrowsError(try Compressor(model: m, method: .wanda, structure: .twoFour, targetSparsity: 0.3, shots: 1,
                                            dampG: 0.1, dampA: 0.01, calibration: calib)) { XCTAssertTrue("\($0)".contains("0.5")) }
        XCTAssertThrowsError(try Compressor(model: m, method: .sparsegpt, structure: .unstructured, targetSparsity: 0.5, shots: 1,
                                            dampG: 0.1, dampA: 0.01, calibration: nil)) { XCTAssertTrue("\($0)".contains("calibration")) }
    }
}
