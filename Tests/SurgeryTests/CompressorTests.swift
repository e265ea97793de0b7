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
        XCTAssertEqual(report.recipe.method, .surgeon)
        XCTAssertEqual(report.layers.count, surgeon.blockLinearNames.count)
        XCTAssertEqual(report.actualSparsity, comp.actualSparsity(), accuracy: 1e-12)
    }

    /// An adaptive run keeps the last estimate for retries, but never while a new one is
    /// accumulated: two sets of factors at once doubled the surgery's peak.
    func testAFreshEstimateDoesNotHoldThePreviousOne() throws {
        let (m, _) = try model()
        var calib = try Calibration(windows: try sampledText(m, count: 4, length: 32, seed: 5), offsets: [0, 1, 2, 3])
        calib.heldOut = try sampledText(m, count: 2, length: 32, seed: 50)
        let rule = AdaptiveSchedule(firstStep: 0.1, minStep: 0.05, maxStep: 0.1, minRate: 1000)
        let recipe = CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2, dampG: 0.01, dampA: 0.01,
                                       schedule: .adaptive, adaptive: rule, heldOut: 2)
        let c = try Compressor(model: m, recipe: recipe, calibration: calib)
        var estimates = 0, heldDuring = 0
        c.curvatureProgress = { [unowned c] done, _ in
            if done == 1 { estimates += 1; if c.lastCurvature != nil { heldDuring += 1 } }
        }
        try c.run()
        XCTAssertEqual(c.state.adaptive?.attempts.count, 2, "two kept shots of 10%")
        XCTAssertEqual(estimates, 2, "one fresh estimate per kept shot")
        XCTAssertEqual(heldDuring, 0, "no estimate ran beside the previous one")
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

    /// The traits reproduce what the methods did before they were declared: data, gradients,
    /// updates, layer-wise passes and the structures each supports.
    func testMethodTraits() throws {
        XCTAssertEqual(PruningMethod.allCases.filter { !$0.needsData }, [.magnitude])
        XCTAssertEqual(PruningMethod.allCases.filter(\.needsGradients), [.surgeon, .kobd])
        XCTAssertEqual(PruningMethod.allCases.filter(\.isLayerwise), [.sparsegpt, .wanda])
        XCTAssertEqual(PruningMethod.allCases.filter { $0.traits.updatesWeights }, [.surgeon, .sparsegpt])
        XCTAssertEqual(PruningMethod.allCases.filter { $0.traits.structures.contains(.rowsColumns) }, [.surgeon, .kobd, .lobd, .magnitude])
        XCTAssertTrue(PruningMethod.allCases.allSatisfy { $0.traits.structures.isSuperset(of: [.unstructured, .twoFour]) })
        XCTAssertEqual(PruningMethod.allCases.map { $0.traits.curvature }, [.kfac, .kfac, .activations, .identity, .activations, .activations])
        // an unsupported structure is refused by the recipe, naming the field and the methods that can
        let r = CompressionRecipe(method: .wanda, structure: .rowsColumns, targetSparsity: 0.2, shots: 1, dampG: 0.01, dampA: 0.01)
        XCTAssertThrowsError(try r.validate()) { error in
            guard case .invalidRecipe(let field, let message)? = error as? SurgeryError else { return XCTFail("\(error)") }
            XCTAssertEqual(field, .structure)
            XCTAssertTrue(message.contains("surgeon, kobd, lobd, magnitude"), message)
        }
        // layer-wise methods have no global costs
        let layer = PrunableLayer(name: "l", linear: Linear(dense: Tensor(shape: [2, 2], data: [1, 2, 3, 4])))
        XCTAssertThrowsError(try structuredAnalysis(layer, g: nil, a: nil, method: .sparsegpt, dampG: 0, dampA: 0))
        XCTAssertThrowsError(try elementCosts(layer, live: LiveParts(layer, g: nil, a: nil), g: nil, a: nil, method: .wanda, dampG: 0, dampA: 0))
    }

    /// compression.json keeps its keys and string values: an earlier file decodes into the typed
    /// recipe and encodes back to the same JSON.
    func testRecipeJSONIsUnchanged() throws {
        let old = """
        {"calibration":{"file":"wiki.valid.raw","nsamples":2,"offsets":[5,9],"seed":100,"seqlen":64},"damp_a":0.01,"damp_g":0.1,\
        "fisher":"sampled(k=3, seed=7)","group_entries":500,"method":"sparsegpt","shots":1,"structure":"2:4","target_sparsity":0.5,\
        "updates":"joint"}
        """
        let r = try JSONDecoder().decode(CompressionRecipe.self, from: Data(old.utf8))
        XCTAssertEqual(r.method, .sparsegpt)
        XCTAssertEqual(r.structure, .twoFour)
        XCTAssertEqual(r.fisher, .sampled(3, seed: 7))
        XCTAssertEqual(r.updates, .joint)
        XCTAssertEqual(r.calibration?.offsets, [5, 9])
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        XCTAssertEqual(String(decoding: try e.encode(r), as: UTF8.self), old)
        let rc = try JSONDecoder().decode(CompressionRecipe.self, from: Data(#"{"damp_a":0.01,"damp_g":0.01,"fisher":"empirical","method":"surgeon","shots":2,"structure":"rows-columns","target_sparsity":0.2,"updates":"none"}"#.utf8))
        XCTAssertEqual(rc, CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2, dampG: 0.01,
                                             dampA: 0.01, updates: UpdateMode.none))
        XCTAssertThrowsError(try JSONDecoder().decode(CompressionRecipe.self, from: Data(old.replacingOccurrences(of: "k=3", with: "k=x").utf8)))
    }

    /// Recipe differences name every differing field (nested ones part by part) with both values.
    func testRecipeDifferences() {
        let base = CompressionRecipe(method: .surgeon, structure: .unstructured, targetSparsity: 0.5, shots: 2, dampG: 0.1, dampA: 0.01,
                                     calibration: CalibrationRecord(file: "a.txt", nsamples: 4, seqlen: 64, seed: 1, offsets: [1, 2, 3, 4, 5]),
                                     lowrank: LowRankRecipe(rank: 8))
        XCTAssertEqual(base.differences(from: base), [])
        var now = base
        now.dampA = 0.02
        now.updates = .independent
        now.groupEntries = 100
        now.calibration?.seed = 2
        now.calibration?.offsets = [1, 2, 3, 4, 6]
        now.lowrank?.learningRate = 1e-3
        XCTAssertEqual(now.differences(from: base).map(\.description), [
            "damp_a: checkpoint 0.01, now 0.02", "updates: checkpoint joint, now independent",
            "group_entries: checkpoint default (2000), now 100", "calibration.seed: checkpoint 1, now 2",
            "calibration.offsets: checkpoint 5 offsets, window 4 at 5, now 5 offsets, window 4 at 6",
            "lowrank.learning_rate: checkpoint 0.0001, now 0.001",
        ])
        now = base
        now.lowrank = nil
        now.calibration = nil
        XCTAssertEqual(now.differences(from: base).map(\.key), ["calibration", "lowrank"])
    }

    /// `validate()` is the one check of a recipe's values; each refusal names its field.
    func testRecipeValidationNamesTheField() {
        let ok = CompressionRecipe(method: .surgeon, structure: .twoFour, targetSparsity: 0.5, shots: 2, dampG: 0.1, dampA: 0.01)
        XCTAssertNoThrow(try ok.validate())
        func field(_ change: (inout CompressionRecipe) -> Void) -> RecipeField? {
            var r = ok
            change(&r)
            do { try r.validate() } catch SurgeryError.invalidRecipe(let f, _) { return f } catch { XCTFail("\(error)") }
            return nil
        }
        XCTAssertEqual(field { $0.targetSparsity = 1 }, .targetSparsity)
        XCTAssertEqual(field { $0.targetSparsity = 0.6 }, .targetSparsity)           // 2:4 removes at most half
        XCTAssertEqual(field { $0.method = .wanda; $0.targetSparsity = 0.4 }, .targetSparsity)   // layer-wise 2:4: exactly half
        XCTAssertEqual(field { $0.shots = 0 }, .shots)
        XCTAssertEqual(field { $0.dampG = -1 }, .dampG)
        XCTAssertEqual(field { $0.dampA = .nan }, .dampA)
        XCTAssertEqual(field { $0.fisher = .sampled(0, seed: 1) }, .fisher)
        XCTAssertEqual(field { $0.groupEntries = 0 }, .groupEntries)
        XCTAssertEqual(field { $0.method = .sparsegpt; $0.structure = .rowsColumns }, .structure)
        XCTAssertEqual(field { $0.lowrank = LowRankRecipe(rank: 0) }, .lowrank)
        XCTAssertNil(field { $0.method = .wanda })
    }
}
