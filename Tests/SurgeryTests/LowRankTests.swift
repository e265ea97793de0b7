import Foundation
import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// The first-order low-rank correction (surgeon.md §7): Adam, adapter gradients against finite
/// differences and against the chain rule through the full parameter gradient, masks kept by the
/// merge, the training loss going down, and the driver's hook.
final class LowRankTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    // MARK: Adam and the schedule

    /// Two steps against the explicit formulas (bias-corrected moments), and a quadratic minimized.
    func testAdamMatchesTheFormula() {
        var adam = Adam(count: 3)
        var p: [Float] = [1, -2, 0.5]
        let g1: [Float] = [0.3, -4, 0], g2: [Float] = [-0.1, 2, 0]
        adam.step(&p, gradient: g1, lr: 0.01)
        // step 1: m̂ = g, v̂ = g², so each coordinate moves by lr·g/(|g| + ε), a zero gradient not at all
        XCTAssertEqual(Double(p[0]), 1 - 0.01 * 0.3 / (0.3 + 1e-8), accuracy: 1e-6)
        XCTAssertEqual(Double(p[1]), -2 + 0.01 * 4 / (4 + 1e-8), accuracy: 1e-6)
        XCTAssertEqual(p[2], 0.5)
        let before = p
        adam.step(&p, gradient: g2, lr: 0.005)
        for i in 0..<2 {
            let m = 0.9 * (0.1 * Double(g1[i])) + 0.1 * Double(g2[i])
            let v = 0.999 * (0.001 * Double(g1[i] * g1[i])) + 0.001 * Double(g2[i] * g2[i])
            let expected = Double(before[i]) - 0.005 * (m / (1 - 0.81)) / ((v / (1 - 0.999 * 0.999)).squareRoot() + 1e-8)
            XCTAssertEqual(Double(p[i]), expected, accuracy: 1e-6, "coordinate \(i)")
        }
        // f(p) = Σ c_i (p_i − t_i)²
        var q: [Float] = [3, -1, 2], opt = Adam(count: 3)
        let t: [Float] = [0.5, 0.25, -1], c: [Float] = [1, 10, 0.1]
        for _ in 0..<2000 { opt.step(&q, gradient: (0..<3).map { 2 * c[$0] * (q[$0] - t[$0]) }, lr: 0.01) }
        for i in 0..<3 { XCTAssertEqual(q[i], t[i], accuracy: 1e-2) }
        XCTAssertEqual(LinearDecay(base: 1e-4, total: 4).rate(at: 0), 1e-4)
        XCTAssertEqual(LinearDecay(base: 1e-4, total: 4).rate(at: 3), 2.5e-5, accuracy: 1e-18)
        XCTAssertEqual(LinearDecay(base: 1e-4, total: 4).rate(at: 4), 0)
    }

    func testWindowOrders() {
        let s = LowRankTrainer.subset(count: 10, steps: 3, seed: 5)
        XCTAssertEqual(s.count, 3)
        XCTAssertEqual(Set(s).count, 3)
        XCTAssertEqual(s, LowRankTrainer.subset(count: 10, steps: 3, seed: 5))
        XCTAssertNotEqual(s, LowRankTrainer.subset(count: 10, steps: 3, seed: 6))
        XCTAssertEqual(Set(LowRankTrainer.subset(count: 4, steps: 8, seed: 1).prefix(4)), Set(0..<4))
        let e = LowRankTrainer.epochs(count: 5, epochs: 3, seed: 2)
        for k in 0..<3 { XCTAssertEqual(e[(5 * k)..<(5 * k + 5)].sorted(), Array(0..<5)) }
    }

    // MARK: gradients

    /// Masks of every kind on a tiny model: even layers lose ~25% of their rows and columns
    /// (zeroed in W, structure mask), odd layers ~50% of their entries (elements mask).
    func maskedAdapters(_ model: CausalLM, rank: Int, seed: UInt64) throws -> LowRankAdapters {
        var rng = SeededRandom(seed: seed)
        var masks: [(name: String, mask: AdapterMask)] = []
        for (i, name) in model.blockLinearNames.enumerated() {
            var lin = try XCTUnwrap(model.linear(name))
            let R = lin.outFeatures, C = lin.inFeatures
            var w = lin.denseWeight.data
            if i % 2 == 0 {
                let rows = (0..<R).filter { _ in rng.uniform() < 0.25 }, cols = (0..<C).filter { _ in rng.uniform() < 0.25 }
                for r in rows { for c in 0..<C { w[r * C + c] = 0 } }
                for c in cols { for r in 0..<R { w[r * C + c] = 0 } }
                masks.append((name, .structure(weight: w, rows: R, cols: C, removedRows: rows, removedCols: cols)))
            } else {
                for k in w.indices where rng.uniform() < 0.5 { w[k] = 0 }
                masks.append((name, .elements(weight: w)))
            }
            lin.setDense(Tensor(shape: [R, C], data: w))
            model.setLinear(name, lin)
        }
        let set = try LowRankAdapters(model: model, masks: masks, rank: rank, seed: seed)
        // B = 0 would make dA vanish: give B random values so both gradients are exercised
        for ad in set.adapters {
            for k in ad.b.indices { ad.b[k] = Float(rng.normal() * 0.05) }
            ad.maskParameters()
        }
        try set.install()
        return set
    }

    /// `gelu`: tiny-opt's weights with GELU instead of ReLU, whose kinks make finite differences unreliable.
    func checkGradients(_ fixture: String, gelu: Bool = false, finiteDifferences: Bool = true) throws {
        let files = try ModelFiles.open(Fixtures.fixture(fixture))
        var config = files.config
        if gelu { config.activation = "gelu" }
        let model = try loadModel(config: config, weights: files.weights)
        let ref = try SafetensorsFile(path: Fixtures.fixture("\(fixture)/reference.safetensors"))
        let tokens = Array(try ref.loadInts("input_ids").data.prefix(40))
        let set = try maskedAdapters(model, rank: 4, seed: 17)
        set.zeroGradients()
        let tape = model.makeTrainingTape()
        let loss = try set.accumulateGradients(tokens: tokens, tape: tape)

        // 1. the chain rule through the full weight gradient G_W of the installed model:
        //    dB = (M ⊙ G_W)·Aᵀ, dA = Bᵀ·(M ⊙ G_W), in float64
        let grads = Gradients(for: model)
        let loss2 = try model.forwardBackward(tokens: tokens, targets: nextTokenTargets(tokens), gradients: grads)
        XCTAssertEqual(loss, loss2, accuracy: 1e-6 * abs(loss))
        for ad in set.adapters {
            let G = try XCTUnwrap(grads[ad.name + ".weight"]).data
            let R = ad.rows, C = ad.cols, r = ad.rank
            var dB = [Double](repeating: 0, count: R * r), dA = [Double](repeating: 0, count: r * C)
            for i in 0..<R {
                for c in 0..<C where ad.mask.isLive(i, c, cols: C) {
                    let g = Double(G[i * C + c])
                    for k in 0..<r {
                        dB[i * r + k] += g * Double(ad.a[k * C + c])
                        dA[k * C + c] += Double(ad.b[i * r + k]) * g
                    }
                }
            }
            for (got, want, what) in [(ad.gradB, dB, "dB"), (ad.gradA, dA, "dA")] {
                let scale = want.map(abs).max() ?? 0
                XCTAssertGreaterThan(scale, 0, "\(fixture) \(ad.name) \(what)")
                let err = zip(got, want).map { abs(Double($0) - $1) }.max() ?? 0
                XCTAssertLessThan(err, 1e-4 * scale, "\(fixture) \(ad.name) \(what)")
            }
            // exactly zero on dead rows (dB) and dead columns (dA)
            if case .structure(let liveRows, let liveCols) = ad.mask {
                XCTAssertTrue(liveRows.contains(false) && liveCols.contains(false), "\(fixture) \(ad.name): the mask kills something")
                for i in 0..<R where !liveRows[i] { XCTAssertTrue((0..<r).allSatisfy { ad.gradB[i * r + $0] == 0 }, "\(ad.name) dB row \(i)") }
                for c in 0..<C where !liveCols[c] { XCTAssertTrue((0..<r).allSatisfy { ad.gradA[$0 * C + c] == 0 }, "\(ad.name) dA col \(c)") }
            }
        }

        guard finiteDifferences else { return }
        // 2. central finite differences of the loss of an independent forward (InferenceSession)
        Parallel.setThreads(1)
        defer { Parallel.setThreads(2) }
        let V = model.config.vocabSize
        func forwardLoss() throws -> Double {
            try set.install()
            return meanNextTokenLoss(try InferenceSession(model: model, capacity: tokens.count).logitsForAll(tokens), tokens: tokens, V: V)
        }
        XCTAssertEqual(try forwardLoss(), loss, accuracy: 1e-5 * abs(loss))
        var rng = SeededRandom(seed: 99)
        var checked = 0
        for ad in set.adapters.enumerated().filter({ $0.offset % 3 == 0 }).map(\.element) {
            for isA in [true, false] {
                let g = isA ? ad.gradA : ad.gradB
                let gMax = g.map(abs).max() ?? 0
                let candidates = g.indices.filter { abs(g[$0]) >= 0.3 * gMax }
                let i = candidates[Int(rng.next() % UInt64(candidates.count))]
                // a step moving the loss by ~3e-4: far above float32 noise, small against curvature
                let h = Float(min(5e-2, max(1e-4, 3e-4 / Double(abs(g[i])))))
                func central(_ h: Float) throws -> Double {
                    let v = isA ? ad.a[i] : ad.b[i]
                    let up = v + h, down = v - h
                    if isA { ad.a[i] = up } else { ad.b[i] = up }
                    let lu = try forwardLoss()
                    if isA { ad.a[i] = down } else { ad.b[i] = down }
                    let ld = try forwardLoss()
                    if isA { ad.a[i] = v } else { ad.b[i] = v }
                    return (lu - ld) / (Double(up) - Double(down))
                }
                let fd1 = try central(h), fd2 = try central(h / 2)
                let fd = (4 * fd2 - fd1) / 3   // Richardson: the h² error cancelled
                let scale = max(abs(fd), 1e-12)
                let what = "\(fixture) \(ad.name) \(isA ? "A" : "B")[\(i)] h=\(h): analytic \(g[i]), numeric \(fd1) (h), \(fd2) (h/2)"
                XCTAssertLessThan(abs(fd1 - fd2) / scale, 2e-2, "unstable: " + what)
                XCTAssertLessThan(abs(Double(g[i]) - fd) / scale, 5e-3, what)
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 8)
    }

    func testAdapterGradientsTinyLlama() throws { try checkGradients("tiny-llama") }
    func testAdapterGradientsTinyOPT() throws {
        try checkGradients("tiny-opt", finiteDifferences: false)
        try checkGradients("tiny-opt", gelu: true)
    }

    // MARK: merge and training on stories260K

    /// The zeros of every pruned layer (row-major indices).
    func zeros(_ m: CausalLM) throws -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for name in m.blockLinearNames {
            let w = try XCTUnwrap(m.linear(name)).denseWeight.data
            out[name] = w.indices.filter { w[$0] == 0 }
        }
        return out
    }

    /// After a pruning shot (magnitude: the mask is what matters here, and it needs no curvature pass;
    /// rows-columns 30%, 2:4, unstructured 50%): training lowers the loss on the
    /// training windows, changes the live weights, and the merge leaves every zero exactly zero
    /// (removed rows and columns included) and the 2:4 pattern valid.
    func testMergeKeepsMasksAndLowersTheLoss() throws {
        let helper = StoriesFixture()
        let (dense, _) = try helper.model()
        let windows = try helper.sampledText(dense, count: 4, length: 32, seed: 300)
        let recipe = LowRankRecipe(rank: 4, learningRate: 2e-3, stepsPerShot: 0, finalEpochs: 3, layers: .all, seed: 1)
        for (structure, target) in [(Structure.rowsColumns, 0.3), (.twoFour, 0.5), (.unstructured, 0.5)] {
            let (m, _) = try helper.model()
            let comp = try Compressor(model: m, method: .magnitude, structure: structure, targetSparsity: target, shots: 1,
                                      dampG: 0, dampA: 0, calibration: nil)
            try comp.run()
            let before = try zeros(m)
            let weightsBefore = try m.blockLinearNames.map { try XCTUnwrap(m.linear($0)).denseWeight.data }
            let lossBefore = try helper.heldOutLoss(m, windows)
            var trainer = LowRankTrainer(recipe: recipe)
            trainer.log = { print($0) }
            let order = LowRankTrainer.epochs(count: windows.count, epochs: recipe.finalEpochs, seed: 4)
            let firstLoss = try helper.heldOutLoss(m, [windows[order[0]]])
            let phase = try trainer.run(model: m, windows: windows, order: order, epochLength: windows.count,
                                        masks: try comp.lowRankMasks(recipe), seed: 4, label: "\(structure.rawValue) low-rank")
            let lossAfter = try helper.heldOutLoss(m, windows)
            print("\(structure.rawValue): training-window loss \(lossBefore) -> \(lossAfter), epochs \(phase.epochLosses)")
            XCTAssertEqual(phase.steps, 12)
            XCTAssertEqual(phase.epochLosses.count, 3)
            XCTAssertEqual(phase.layers, m.blockLinearNames.count)
            XCTAssertEqual(phase.firstLoss, firstLoss, accuracy: 1e-5 * firstLoss, "the first step sees the pruned model")
            XCTAssertLessThan(lossAfter, lossBefore - 1e-3, structure.rawValue)
            XCTAssertLessThan(phase.epochLosses[2], phase.epochLosses[0], structure.rawValue)
            XCTAssertEqual(try zeros(m), before, "\(structure.rawValue): the zeros are exactly the same")
            var changed = 0
            for (i, name) in m.blockLinearNames.enumerated() {
                let w = try XCTUnwrap(m.linear(name)).denseWeight.data
                changed += zip(w, weightsBefore[i]).filter { $0 != $1 }.count
                if structure == .rowsColumns {
                    let C = try XCTUnwrap(m.linear(name)).inFeatures
                    for r in comp.state.removedRows[name] ?? [] { XCTAssertTrue(w[(r * C)..<((r + 1) * C)].allSatisfy { $0 == 0 }) }
                    for c in comp.state.removedCols[name] ?? [] where c < C {
                        XCTAssertTrue(stride(from: c, to: w.count, by: C).allSatisfy { w[$0] == 0 })
                    }
                }
            }
            XCTAssertGreaterThan(changed, 0, "\(structure.rawValue): training changed live weights")
            if structure == .twoFour { _ = try TwoFourModelTests.assertExactTwoFour(m, dense: [:], label: "stories260K low-rank") }
        }
    }

    /// The driver's hook: a phase after every shot, the final epochs after the last one only,
    /// recorded in compression.json; sparsity and removed structure unchanged by the correction;
    /// files without the low-rank fields still decode.
    func testCompressorRunsTheCorrection() throws {
        let helper = StoriesFixture()
        let (dense, _) = try helper.model()
        let calib = try Calibration(windows: try helper.sampledText(dense, count: 6, length: 32, seed: 7), offsets: Array(0..<6))
        let recipe = LowRankRecipe(rank: 2, learningRate: 1e-3, stepsPerShot: 2, finalEpochs: 1, layers: .mlp, seed: 3)
        let (m, _) = try helper.model()
        let comp = try Compressor(model: m, method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2,
                                  dampG: 0.01, dampA: 0.01, calibration: calib, lowRank: recipe)
        var logs: [String] = []
        comp.log = { logs.append($0) }
        try comp.run()
        XCTAssertEqual(comp.state.shots.map { $0.lowrank?.steps }, [2, 2])
        XCTAssertEqual(comp.state.shots.map { $0.lowrankFinal?.steps }, [nil, 6])
        XCTAssertEqual(comp.state.shots[0].lowrank?.layers, m.blockLinearNames.filter { $0.contains(".mlp.") }.count)
        XCTAssertTrue(logs.contains { $0.hasPrefix("low-rank after shot 1: step 1/2") }, "\(logs)")
        XCTAssertEqual(comp.actualSparsity(), 0.2, accuracy: 0.01)
        for name in m.blockLinearNames {
            let l = try XCTUnwrap(m.linear(name))
            XCTAssertEqual(Set(l.removedRows).isSuperset(of: comp.state.removedRows[name] ?? []), true, name)
        }
        let report = comp.report(source: "stories260K")
        let data = try report.jsonData()
        let decoded = try JSONDecoder().decode(CompressionReport.self, from: data)
        XCTAssertEqual(decoded, report)
        XCTAssertEqual(decoded.recipe.lowrank, recipe)
        // an older file: no low-rank fields anywhere
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        var r = try XCTUnwrap(json["recipe"] as? [String: Any])
        r["lowrank"] = nil
        json["recipe"] = r
        json["shots"] = try XCTUnwrap(json["shots"] as? [[String: Any]]).map { s -> [String: Any] in
            var s = s
            s["lowrank"] = nil
            s["lowrank_final"] = nil
            return s
        }
        let old = try JSONDecoder().decode(CompressionReport.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertNil(old.recipe.lowrank)
        XCTAssertNil(old.shots.last?.lowrankFinal)
        // refused recipes
        XCTAssertThrowsError(try Compressor(model: m, method: .magnitude, structure: .rowsColumns, targetSparsity: 0.2, shots: 1,
                                            dampG: 0, dampA: 0, calibration: nil, lowRank: recipe)) {
            XCTAssertTrue("\($0)".contains("calibration"))
        }
        XCTAssertThrowsError(try Compressor(model: m, method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 1,
                                            dampG: 0, dampA: 0, calibration: calib, lowRank: LowRankRecipe(rank: 0)))
    }
}
