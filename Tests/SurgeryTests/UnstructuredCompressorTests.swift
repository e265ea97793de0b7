import Foundation
import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// End to end on stories260K, unstructured 50% and 2:4: the surgeon (2 shots), SparseGPT, Wanda and
/// the OBD baselines on the same calibration text (sampled from the model), held-out loss compared.
final class UnstructuredCompressorTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    let helper = StoriesFixture()

    /// Calibration and held-out text sampled once per test process (sampling is the slow part in debug builds).
    /// nonisolated(unsafe): XCTest runs the tests of this class one after another on one thread.
    nonisolated(unsafe) static var cached: (calib: Calibration, heldOut: [[Int32]], dense: Double)?

    func data() throws -> (calib: Calibration, heldOut: [[Int32]], dense: Double) {
        if let c = Self.cached { return c }
        let (dense, _) = try helper.model()
        let calib = try Calibration(windows: try helper.sampledText(dense, count: 16, length: 64, seed: 100),
                                    offsets: Array(0..<16), source: "sampled")
        let heldOut = try helper.sampledText(dense, count: 6, length: 64, seed: 9000)
        let d = (calib, heldOut, try helper.heldOutLoss(dense, heldOut))
        Self.cached = d
        return d
    }

    func run(_ method: PruningMethod, _ structure: Structure, calib: Calibration, target: Double = 0.5,
             shots: Int = 2) throws -> (CausalLM, Compressor, Double) {
        let (m, _) = try helper.model()
        let c = try Compressor(model: m, method: method, structure: structure, targetSparsity: target, shots: shots,
                               dampG: DefaultDamping.elementG, dampA: DefaultDamping.elementA,
                               calibration: method.needsData ? calib : nil)
        let start = Date()
        try c.run()
        return (m, c, Date().timeIntervalSince(start))
    }

    func compare(_ structure: Structure) throws {
        let (calib, heldOut, denseLoss) = try data()
        var loss: [PruningMethod: Double] = [:]
        var line = "\(structure.rawValue) 50% held-out loss: dense \(String(format: "%.4f", denseLoss))"
        for method in [PruningMethod.surgeon, .sparsegpt, .wanda, .kobd, .lobd, .magnitude] {
            let (m, c, seconds) = try run(method, structure, calib: calib)
            XCTAssertEqual(c.actualSparsity(), 0.5, accuracy: 0.01, "\(method)")
            XCTAssertEqual(c.state.completedShots, 2)
            XCTAssertEqual(c.state.shots.count, method.isLayerwise ? 1 : 2)
            if structure == .twoFour {
                try TwoFourModelTests.assertExactTwoFour(m, dense: [:], label: "stories260K \(method.rawValue)")
            }
            loss[method] = try helper.heldOutLoss(m, heldOut)
            line += ", \(method.rawValue) \(String(format: "%.4f", loss[method] ?? .nan)) (\(String(format: "%.1f", seconds)) s)"
        }
        print(line)
        let mag = try XCTUnwrap(loss[.magnitude])
        XCTAssertLessThan(try XCTUnwrap(loss[.surgeon]), mag)
        XCTAssertLessThan(try XCTUnwrap(loss[.sparsegpt]), mag)
        XCTAssertGreaterThan(try XCTUnwrap(loss[.surgeon]), denseLoss - 0.05)
    }

    func testUnstructuredHalfSparsity() throws { try compare(.unstructured) }

    func testTwoFour() throws { try compare(.twoFour) }

    /// `groupEntries` caps the joint solves: small groups still reach the target, keep the model
    /// better than magnitude's, differ from the default groups (the cap took effect), and are recorded.
    func testSmallerUpdateGroups() throws {
        let (calib, heldOut, _) = try data()
        var losses: [Double] = []
        for entries in [nil, 16] as [Int?] {
            let (m, _) = try helper.model()
            let c = try Compressor(model: m, method: .surgeon, structure: .unstructured, targetSparsity: 0.5, shots: 2,
                                   dampG: DefaultDamping.elementG, dampA: DefaultDamping.elementA, calibration: calib,
                                   groupEntries: entries)
            try c.run()
            XCTAssertEqual(c.recipe.groupEntries, entries)
            XCTAssertEqual(c.actualSparsity(), 0.5, accuracy: 0.01)
            losses.append(try helper.heldOutLoss(m, heldOut))
        }
        let (mag, _, _) = try run(.magnitude, .unstructured, calib: calib)
        let magLoss = try helper.heldOutLoss(mag, heldOut)
        XCTAssertLessThan(losses[1], magLoss)
        XCTAssertNotEqual(losses[0], losses[1])
        let (m, _) = try helper.model()
        XCTAssertThrowsError(try Compressor(model: m, method: .surgeon, structure: .unstructured, targetSparsity: 0.5, shots: 1,
                                            dampG: 0.1, dampA: 0.01, calibration: calib, groupEntries: 0))
    }

    /// The zeros of the weights are the mask: resuming from weights saved after shot 1 (written and
    /// reloaded) reproduces the uninterrupted run exactly (surgeon unstructured 20%, K-OBD 2:4).
    func testResumeFromSavedWeights() throws {
        let (_, files) = try helper.model()
        let calib = try data().calib
        for (method, structure, target) in [(PruningMethod.surgeon, Structure.unstructured, 0.2), (.kobd, .twoFour, 0.5)] {
            let (full, _, _) = try run(method, structure, calib: calib, target: target)
            let (m, _) = try helper.model()
            let c1 = try Compressor(model: m, method: method, structure: structure, targetSparsity: target, shots: 2,
                                    dampG: 0.1, dampA: 0.01, calibration: calib)
            _ = try c1.runShot(1)
            XCTAssertEqual(c1.actualSparsity(), target / 2, accuracy: 0.01)
            let dir = NSTemporaryDirectory() + "surgeon-resume-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try ModelWriter.write(model: m, source: files, to: dir)
            let reloaded = try loadModel(ModelFiles.open(dir))
            let c2 = try Compressor(model: reloaded, method: method, structure: structure, targetSparsity: target, shots: 2,
                                    dampG: 0.1, dampA: 0.01, calibration: calib, state: c1.state)
            try c2.run()
            for name in reloaded.blockLinearNames {
                XCTAssertEqual(reloaded.linear(name)?.denseWeight.data, full.linear(name)?.denseWeight.data, "\(structure) \(name)")
            }
        }
    }
}

/// stories260K with text sampled from the model itself (as in CompressorTests).
struct StoriesFixture {
    func model() throws -> (CausalLM, ModelFiles) {
        let f = try ModelFiles.open(Fixtures.fixture("stories260K"))
        return (try loadModel(f), f)
    }

    /// `count` sequences of `length` tokens sampled from the model (temperature 1) after BOS.
    func sampledText(_ model: CausalLM, count: Int, length: Int, seed: UInt64) throws -> [[Int32]] {
        try (0..<count).map { i in
            let s = InferenceSession(model: model, capacity: length)
            var sampler = Sampler(SamplingParams(temperature: 1, topK: 0, topP: 1, minP: 0, seed: seed &+ UInt64(i)))
            let (ids, _) = try generate(session: s, prompt: [1], maxTokens: length - 1, sampler: &sampler, stop: [])
            return [1] + ids
        }
    }

    func heldOutLoss(_ model: CausalLM, _ seqs: [[Int32]]) throws -> Double {
        var total = 0.0
        for s in seqs {
            total += meanNextTokenLoss(try InferenceSession(model: model).logitsForAll(s), tokens: s, V: model.config.vocabSize)
        }
        return total / Double(seqs.count)
    }
}
