import Foundation
import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// End to end on the real (tiny) stories260K model: text sampled from the model itself serves as
/// calibration and held-out data.
final class CompressorTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func model() throws -> (CausalLM, ModelFiles) {
        let f = try ModelFiles.open(Fixtures.fixture("stories260K"))
        return (try loadModel(f), f)
    }

    /// `count` sequences of `length` tokens sampled from the model (temperature 1) after BOS.
    func sampledText(_ model: CausalLM, count: Int, length: Int, seed: UInt64) throws -> [[Int32]] {
        var out: [[Int32]] = []
        for i in 0..<count {
            let s = InferenceSession(model: model, capacity: length)
            var sampler = Sampler(SamplingParams(temperature: 1, topK: 0, topP: 1, minP: 0, seed: seed &+ UInt64(i)))
            let (ids, _) = try generate(session: s, prompt: [1], maxTokens: length - 1, sampler: &sampler, stop: [])
            out.append([1] + ids)
        }
        return out
    }

    func heldOutLoss(_ model: CausalLM, _ seqs: [[Int32]]) throws -> Double {
        var total = 0.0
        for s in seqs {
            total += meanNextTokenLoss(try InferenceSession(model: model).logitsForAll(s), tokens: s, V: model.config.vocabSize)
        }
        return total / Double(seqs.count)
    }

    func compress(_ method: PruningMethod, calib: Calibration, sparsity: Double = 0.2, shots: Int = 2,
                  updates: UpdateMode = .joint) throws -> (CausalLM, Compressor) {
        let (m, _) = try model()
        let c = try Compressor(model: m, method: method, structure: .rowsColumns, targetSparsity: sparsity, shots: shots,
                               dampG: 0.01, dampA: 0.01, updates: updates, calibration: calib)
        try c.run()
        return (m, c)
    }

    func testStructuredSurgeonBeatsMagnitudeAndReloads() throws {
        let (dense, files) = try model()
        let calibSeqs = try sampledText(dense, count: 16, length: 64, seed: 100)
        let heldOut = try sampledText(dense, count: 6, length: 64, seed: 9000)
        let calib = try Calibration(windows: calibSeqs, offsets: Array(0..<16), source: "sampled")
        let denseLoss = try heldOutLoss(dense, heldOut)

        let (surgeon, comp) = try compress(.surgeon, calib: calib)
        let (magnitude, compMag) = try compress(.magnitude, calib: calib)
        for c in [comp, compMag] {
            XCTAssertEqual(c.state.shots.count, 2)
            XCTAssertEqual(c.state.shots[0].targetSparsity, 0.1, accuracy: 1e-12)
            XCTAssertEqual(c.actualSparsity(), 0.2, accuracy: 0.01, "actual sparsity within 1% of the target")
        }
        // removed rows and columns are exactly zero
        for name in surgeon.blockLinearNames {
            let l = try XCTUnwrap(surgeon.linear(name))
            let w = l.denseWeight.data
            for r in comp.state.removedRows[name] ?? [] { XCTAssertTrue(w[(r * l.inFeatures)..<((r + 1) * l.inFeatures)].allSatisfy { $0 == 0 }) }
            for c in comp.state.removedCols[name] ?? [] where c < l.inFeatures {
                XCTAssertTrue((0..<l.outFeatures).allSatisfy { w[$0 * l.inFeatures + c] == 0 })
            }
        }
        let sLoss = try heldOutLoss(surgeon, heldOut), mLoss = try heldOutLoss(magnitude, heldOut)
        print("held-out loss: dense \(denseLoss), surgeon \(sLoss), magnitude \(mLoss)")
        XCTAssertLessThan(sLoss, mLoss)
        XCTAssertGreaterThan(sLoss, denseLoss - 0.05)

        // written and reloaded, the model computes the same logits
        let dir = NSTemporaryDirectory() + "surgeon-e2e-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeAtomically(dir, overwrite: false) { tmp in
            try ModelWriter.write(model: surgeon, source: files, to: tmp,
                                  extraFiles: ["compression.json": try comp.report(source: files.path).jsonData()])
        }
        let again = try loadModel(ModelFiles.open(dir))
        XCTAssertEqual(try InferenceSession(model: again).logitsForAll(heldOut[0]), try InferenceSession(model: surgeon).logitsForAll(heldOut[0]))
        let report = try CompressionReport.read(path: dir + "/compression.json")
        XCTAssertEqual(report.recipe.method, "surgeon")
        XCTAssertEqual(report.layers.count, surgeon.blockLinearNames.count)
        XCTAssertEqual(report.actualSparsity, comp.actualSparsity(), accuracy: 1e-12)
    }

    /// Resuming from the state after shot 1 reproduces the uninterrupted run exactly.
    func testResumeReproducesTheRun() throws {
        let (dense, _) = try model()
        let calib = try Calibration(windows: try sampledText(dense, count: 4, length: 32, seed: 5), offsets: [0, 1, 2, 3])
        let (full, _) = try compress(.surgeon, calib: calib)
        let (m, _) = try model()
        let c1 = try Compressor(model: m, method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2,
                                dampG: 0.01, dampA: 0.01, calibration: calib)
        _ = try c1.runShot(1)
        let c2 = try Compressor(model: m, method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2,
                                dampG: 0.01, dampA: 0.01, calibration: calib, state: c1.state)
        try c2.run()
        for name in m.blockLinearNames {
            XCTAssertEqual(m.linear(name)?.denseWeight.data, full.linear(name)?.denseWeight.data, name)
        }
    }

    func testInvalidRecipes() throws {
        let (m, _) = try model()
        XCTAssertThrowsError(try Compressor(model: m, method: .surgeon, structure: .rowsColumns, targetSparsity: 1.2, shots: 2,
                                            dampG: 0.01, dampA: 0.01, calibration: nil))
        XCTAssertThrowsError(try Compressor(model: m, method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2,
                                            dampG: 0.01, dampA: 0.01, calibration: nil)) {
            XCTAssertTrue("\($0)".contains("calibration"))
        }
        XCTAssertNoThrow(try Compressor(model: m, method: .magnitude, structure: .rowsColumns, targetSparsity: 0.2, shots: 1,
                                        dampG: 0, dampA: 0, calibration: nil))
    }
}
