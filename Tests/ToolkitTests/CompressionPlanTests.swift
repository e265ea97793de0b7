import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// `compress --dry-run`'s plan against what a run really builds: the layer shapes and biases of the
/// loaded fixtures, and the bytes of the K-FAC factors a curvature pass makes (shared A per input group).
final class CompressionPlanTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    let recipe = CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.3, shots: 3, dampG: 0.01, dampA: 0.01)
    let speeds = MachineSpeeds(sgemm: 1e11, float64: 1e10)

    func testLayersAndFactorBytesEqualWhatARunBuilds() throws {
        for name in ["tiny-llama", "tiny-opt", "tiny-qwen2", "tiny-mistral", "stories260K"] {
            let model = try Fixtures.model(name)
            let plan = CompressionPlan.make(config: model.config, recipe: recipe, windows: 2, heldOut: 0, seqlen: 16, dtype: .f32,
                                            threads: 2, speeds: speeds, machineBytes: 0)
            XCTAssertEqual(plan.layers.map(\.name), model.blockLinearNames, name)
            for l in plan.layers {
                let lin = try XCTUnwrap(model.linear(l.name), l.name)
                XCTAssertEqual([l.rows, l.cols], [lin.outFeatures, lin.inFeatures], l.name)
                XCTAssertEqual(l.bias, lin.bias != nil, l.name)
            }
            let windows: [[Int32]] = [Array(0..<16), Array(3..<19)].map { $0.map { Int32($0 % model.config.vocabSize) } }
            let cal = try Calibration(windows: windows, offsets: [0, 3])
            let f = try Curvature.estimate(model: model, calibration: cal, method: .kfac)
            var bytes = 0
            for l in plan.layers {
                let a = try XCTUnwrap(f.A[l.name]), g = try XCTUnwrap(f.G[l.name])
                XCTAssertEqual(g.shape, [l.gSide, l.gSide], l.name)
                if let side = l.aSide {
                    XCTAssertEqual(a.shape, [side, side], l.name)
                    bytes += 4 * side * (side + 1)   // the pass's float64 upper triangle
                } else {
                    let leader = try XCTUnwrap(model.config.architecture.descriptor.inputGroup(of: l.name))
                    XCTAssertEqual(a.data, f.A[leader]?.data, "\(l.name) shares \(leader)'s A")
                }
                bytes += 4 * l.gSide * (l.gSide + 1)
            }
            XCTAssertEqual(plan.factorBytes, bytes, name)
            XCTAssertEqual(plan.blockLinearBytes, model.blockLinearNames.reduce(0) { $0 + 4 * (model.linear($1).map { $0.outFeatures * $0.inFeatures } ?? 0) })
            XCTAssertTrue(plan.peakBytes > plan.modelBytes + plan.factorBytes)
            XCTAssertTrue(plan.passFlops > 0 && plan.seconds > 0 && plan.seconds.isFinite)
        }
    }

    /// A distributed run's ownership: every layer owned, each input group by one rank, and the ranks'
    /// shares of the per-shot float64 FLOPs (`shotFlops`) summing to the plan's costing and updates
    /// with the largest at most an even split plus the largest unit (Graham's bound for list scheduling).
    func testOwnershipKeepsInputGroupsWholeAndBalancesFlops() throws {
        for name in ["tiny-llama", "tiny-opt", "stories260K"] {
            let c = try Fixtures.model(name).config
            let d = c.architecture.descriptor
            for ranks in [1, 2, 3] {
                let o = try CompressionPlan.ownership(config: c, recipe: recipe, ranks: ranks)
                let ls = CompressionPlan.layers(c)
                XCTAssertEqual(Set(o.owner.keys), Set(ls.map(\.name)), name)
                var cost: [String: Double] = [:], unit: [String: Double] = [:]
                let steps = CompressionPlan.plannedSteps(recipe)
                for l in ls {
                    let leader = try XCTUnwrap(d.inputGroup(of: l.name))
                    XCTAssertEqual(o.rank(of: l.name), o.rank(of: leader), l.name)
                    let f = CompressionPlan.shotFlops(l, recipe: recipe, step: steps.max() ?? 0, meanTarget: CompressionPlan.meanShotTarget(steps))
                    cost[l.name] = f.costing + f.update
                    unit[leader, default: 0] += f.costing + f.update
                }
                let plan = CompressionPlan.make(config: c, recipe: recipe, windows: 2, heldOut: 0, seqlen: 16, dtype: .f32,
                                                threads: 2, speeds: speeds, machineBytes: 0)
                let loads = o.loads(cost), total = loads.reduce(0, +)
                XCTAssertEqual(total, plan.costingFlops + plan.updateFlops, accuracy: 1e-6 * total, name)
                XCTAssertLessThanOrEqual(loads.max() ?? 0, total / Double(ranks) + (unit.values.max() ?? 0) + 1, "\(name) \(ranks)")
            }
        }
    }

    /// The planned steps are the schedule's without undone attempts: linear target/shots; the default
    /// adaptive one from 2.5%, growing 1.5x, landing on 10%.
    func testPlannedSteps() throws {
        XCTAssertEqual(CompressionPlan.plannedSteps(recipe).count, 3)
        var r = recipe
        r.schedule = .adaptive
        r.adaptive = DefaultSchedule.adaptive(.rowsColumns)
        r.heldOut = 4
        r.targetSparsity = 0.1
        let steps = CompressionPlan.plannedSteps(r)
        XCTAssertEqual(steps.count, 3)
        for (x, y) in zip(steps, [0.025, 0.0375, 0.0375]) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        XCTAssertEqual(steps.reduce(0, +), 0.1, accuracy: 1e-12)
    }

    /// The plan of a 7B config without weights: it does not fit in 24 GB, and says why.
    func testConfigAloneIsEnoughAndTooLargeIsSaid() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cfg: [String: Any] = ["architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
                                  "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
                                  "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
                                  "rms_norm_eps": 1e-5, "hidden_act": "silu", "torch_dtype": "bfloat16"]
        try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir + "/config.json"))
        // the type the model would load in (a dry-run on a bare config plans in it)
        XCTAssertEqual(CompressionPlan.configDType(of: dir + "/config.json"), .bf16)
        XCTAssertEqual(CompressionPlan.configDType(of: dir), .bf16)
        XCTAssertNil(CompressionPlan.configDType(of: Fixtures.fixture("stories260K") + "/model.safetensors"))
        let c = try CompressionPlan.config(of: dir + "/config.json")
        XCTAssertEqual(try CompressionPlan.config(of: dir).hiddenSize, 4096, "a directory with only config.json")
        let plan = CompressionPlan.make(config: c, recipe: recipe, windows: 128, heldOut: 0, seqlen: 2048, dtype: .f32, threads: 2,
                                        speeds: speeds, machineBytes: 24 << 30)
        // 32 blocks: A 3 × 4096 + 11008 sides, G 3 × 4096 + 2 × 4096 + 2 × 11008; float64 upper triangles, 4·n(n+1) bytes
        let perBlock = 3 * 4096 * 4097 + 11008 * 11009 + 5 * 4096 * 4097 + 2 * 11008 * 11009
        XCTAssertEqual(plan.factorBytes, 4 * 32 * perBlock)
        XCTAssertFalse(plan.fits)
        XCTAssertTrue(plan.text().contains("fits: NO"), plan.text())
    }

    /// A job under a memory limit (besides the model) that leaves room for a third of the factors runs
    /// the curvature in layer groups, or in one spilling pass, ends with the same weights as an
    /// unlimited one and leaves no scratch behind; a limit without room for one input group's factors
    /// is refused before any pass, writing nothing.
    func testMaxMemoryRunsInLayerGroupsOrSpillsWithTheSameResult() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func options(_ out: String, _ limit: Int?, _ storage: FactorStorage = .auto) -> CompressionOptions {
            var o = CompressionOptions(recipe: CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 1,
                                                                 dampG: 0.01, dampA: 0.01), output: dir + "/" + out)
            o.calibFile = Fixtures.wikiValid
            o.nsamples = 3
            o.seqlen = 32
            o.maxMemory = limit
            o.factorStorage = storage
            return o
        }
        let opened = try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true)
        let plan = CompressionPlan.make(config: opened.model.config, recipe: options("x", nil).recipe, windows: 3, heldOut: 0, seqlen: 32,
                                        dtype: .f32, threads: Parallel.threads, speeds: speeds, machineBytes: 0)
        let others = plan.peakBytes - plan.factorBytes - plan.modelBytes
        var lines: [String] = []
        let job = CompressionJob(opened: opened, options: options("grouped", others + plan.factorBytes / 3, .groups))
        job.log = { lines.append($0) }
        _ = try job.run()
        XCTAssertTrue(lines.contains { $0.contains("layer group 3 of") }, lines.joined(separator: "\n"))
        lines = []
        let spilling = CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true),
                                      options: options("spilled", others + plan.factorBytes / 3, .spill))
        spilling.log = { lines.append($0) }
        _ = try spilling.run()
        XCTAssertTrue(lines.contains { $0.contains("bytes of activations spilled") }, lines.joined(separator: "\n"))
        _ = try CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true), options: options("plain", nil)).run()
        let b = try loadModel(ModelFiles.open(dir + "/plain"))
        for out in ["grouped", "spilled"] {
            let a = try loadModel(ModelFiles.open(dir + "/" + out))
            for n in a.blockLinearNames { XCTAssertEqual(a.linear(n)?.denseWeight.data, b.linear(n)?.denseWeight.data, "\(out) \(n)") }
        }
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains(".factors") })
        XCTAssertThrowsError(try CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true),
                                                options: options("tiny", others / 2)).run()) {
            guard case CompressionJobError.memoryLimit? = $0 as? CompressionJobError else { return XCTFail("\($0)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/tiny"))
    }
}
