import Foundation
import Runtime
import Surgery
import Tokenize

/// Everything `surgeon compress` was asked to do: the recipe (built and validated once by the
/// caller) and how the job gets its windows, evaluates and writes.
public struct CompressionOptions {
    /// What the run does; its `calibration` record is filled in by the job from the windows it reads.
    public var recipe: CompressionRecipe
    /// Calibration text (windows sampled at seeded offsets), or a JSON file of token-id windows.
    public var calibFile: String?
    public var idsFile: String?
    public var nsamples: Int = 32
    public var seqlen: Int = 512
    /// Seed of the calibration offsets.
    public var seed: UInt64 = 100
    public var output: String
    public var overwrite = false
    public var resume = false
    public var evalFile: String?
    public var evalChunks: Int?
    public var evalSeqlen: Int = 2048
    /// Evaluate after every k-th shot (and after the last); nil: every shot on the linear schedule,
    /// only where the adaptive one lands on its grid.
    public var evalEvery: Int? = 1
    /// Keep plain dense weights (zeros included) instead of compressed storages, for other tools.
    public var denseOutput = false
    /// The memory the job may use besides the model's weights, in bytes (nil: this machine's memory
    /// less a tenth and the model). When the K-FAC factors do not fit in what the rest leaves
    /// (`CompressionPlan`), the curvature pass runs per layer group or spills (`factorStorage`) into a
    /// scratch directory beside the output (`OUT.factors.tmp-<pid>`).
    public var maxMemory: Int?
    /// How factors past the memory limit are kept: layer groups, a spilled pass, or whichever the
    /// plan predicts faster (`FactorStorage`).
    public var factorStorage: FactorStorage = .auto
    /// The type the output's weights are written in: the compressed storages' values, the dense
    /// layers, embedding and lm_head (f16/bf16 round each weight once, when the output is written).
    public var dtype: WeightDType = .f32
    /// Refuse (write nothing) when the held-out loss rose past the recipe's `maxLossRise`; otherwise
    /// the run is written and the breach reported loudly.
    public var strict = false

    public init(recipe: CompressionRecipe, output: String) {
        self.recipe = recipe
        self.output = output
    }
}

/// The one-line summary `--json` prints.
public struct CompressionSummary {
    public var report: CompressionReport
    public var pplBefore: Double?
    public var pplAfter: Double?
    public var seconds: Double
    public var peakRSS: Int
    public var output: String

    public var json: [String: Any] {
        var d: [String: Any] = ["method": report.recipe.method.rawValue, "structure": report.recipe.structure.rawValue,
                                "target_sparsity": report.recipe.targetSparsity, "actual_sparsity": report.actualSparsity,
                                "seconds": seconds, "peak_rss_bytes": peakRSS, "output": output]
        d["ppl_before"] = pplBefore ?? NSNull()
        d["ppl_after"] = pplAfter ?? NSNull()
        if let h = report.heldOut {
            d["held_out_loss_before"] = h.dense
            d["held_out_loss_after"] = h.current
        }
        if let g = report.guardVerdict { d["guard_passed"] = g.passed }
        if let a = report.attempts { d["attempts"] = a.count; d["rejected"] = a.filter { $0.verdict == .rejected }.count }
        return d
    }
}

/// Runs a compression end to end: calibration data, the shots (with per-shot checkpoints in
/// `OUT.partial/` for `--resume`), optional evaluation, and the atomic write of OUT.
public final class CompressionJob {
    public let opened: OpenedModel
    public let options: CompressionOptions
    public var log: (String) -> Void = { _ in }
    public var progressFactory: (String, Int) -> Progress = { Progress($0, total: $1) }
    /// The ranks of an MPI job (`World.current`): every rank runs the job on the whole model; rank 0
    /// alone evaluates, logs, checkpoints and writes (the others return its summary unwritten).
    public var communicator: Communicator = SingleProcess()

    public init(opened: OpenedModel, options: CompressionOptions) {
        self.opened = opened
        self.options = options
    }

    public var checkpointDir: String { (options.output as NSString).standardizingPath + ".partial" }

    public func run() throws -> CompressionSummary {
        let start = now()
        let o = options
        let fm = FileManager.default
        let root = communicator.isRoot
        if root {
            // the output: never the model read (nor inside it), debris of dead runs cleared, writable
            try OutputSafety.checkPlacement(output: o.output, inputs: [opened.files.path])
            for line in OutputSafety.removeStaleTemporaries(of: o.output) + OutputSafety.removeStaleTemporaries(of: checkpointDir)
                + OutputSafety.removeStaleTemporaries(of: factorScratchBase) { log(line) }
            if fm.fileExists(atPath: o.output) && !o.overwrite { throw CompressionJobError.outputExists(path: o.output) }
            try OutputSafety.checkWritable(output: o.output)
        }
        let (calibration, recipe) = try loadCalibration()
        let source = try SourceIdentity.of(opened.files)
        // evaluation data
        var evaluate: ((CausalLM) throws -> Double)?
        if let evalFile = o.evalFile, root {
            let tokens = try EvalText.tokens(file: evalFile, protocol: .paper, tokenizer: opened.requireTokenizer())
            let L = min(o.evalSeqlen, opened.model.contextLength)
            evaluate = { model in
                try PerplexityEvaluator(model: model, seqlen: L, protocol: .paper).run(tokens: tokens, maxSegments: o.evalChunks).ppl
            }
        }
        // resume
        var model = opened.model
        var state = CompressionState()
        if o.resume {
            if let (m, s) = try loadCheckpoint(expecting: recipe, source: source) {
                model = m
                state = s
                log("resuming after shot \(s.completedShots) of \(recipe.shots) from \(checkpointDir)")
            } else {
                log("resume: no checkpoint at \(checkpointDir); starting from shot 1")
            }
        } else if root && fm.fileExists(atPath: checkpointDir) {
            try fm.removeItem(atPath: checkpointDir)
        }
        let pplBefore = try evaluate.map { try $0(opened.model) }
        if let p = pplBefore, state.completedShots == 0 { log(String(format: "perplexity before: %.4f", p)) }
        let comp = try Compressor(model: model, recipe: recipe, calibration: calibration, state: state)
        comp.evaluate = evaluate
        comp.evaluateEvery = o.evalEvery ?? (recipe.isAdaptive ? Int.max : 1)
        comp.log = log
        if communicator.size > 1 {
            let ownership = try CompressionPlan.ownership(config: model.config, recipe: recipe, ranks: communicator.size)
            try comp.distribute(over: communicator, ownership: ownership)
            let counts = (0..<communicator.size).map { r in comp.layerNames.filter { ownership.rank(of: $0) == r }.count }
            log("layers over \(communicator.size) ranks (by FLOPs per shot): " + counts.enumerated().map { "rank \($0.offset) \($0.element)" }.joined(separator: ", "))
        }
        let storage = try factorStorage(recipe: recipe, calibration: calibration)
        comp.factorBudget = storage.budget
        comp.spillFactors = storage.spill
        comp.scratchDirectory = factorScratchBase + ".tmp-\(getpid())"
        defer { if let dir = comp.scratchDirectory { try? fm.removeItem(atPath: dir) } }
        // progress: shots of the linear plan, or thousandths of the target on the adaptive schedule
        let adaptive = recipe.isAdaptive
        let total = adaptive ? 1000 : recipe.shots
        let done = { (s: CompressionState) in
            adaptive ? Int(((s.adaptive?.reached ?? 0) / recipe.targetSparsity * 1000).rounded()) : s.completedShots
        }
        let shotProgress = root ? progressFactory("compress", total) : nil
        shotProgress?.update(done(state))
        try comp.run { report, state in
            let of = adaptive ? String(format: "(%.2f%% of %.2f%%)", 100 * report.targetSparsity, 100 * recipe.targetSparsity) : "/\(recipe.shots)"
            var line = String(format: "shot %d%@: target %.4f, actual %.4f, %.1f s", report.shot, of, report.targetSparsity,
                              report.actualSparsity, report.seconds)
            for phase in [report.lowrank, report.lowrankFinal].compactMap({ $0 }) {
                line += String(format: ", low-rank %d steps (%.1f s): first loss %.4f, last-epoch mean %.4f", phase.steps,
                               phase.seconds, phase.firstLoss, phase.epochLosses.last ?? phase.firstLoss)
            }
            if let l = report.heldOutLoss { line += String(format: ", held-out loss %.4f", l) }
            if let p = report.perplexity { line += String(format: ", perplexity %.4f", p) }
            log(line)
            if root && done(state) < total { try saveCheckpoint(model: model, state: state, recipe: comp.recipe, source: source) }
            shotProgress?.update(done(state))
        }
        if communicator.size > 1 {
            var rss = [Double](repeating: 0, count: communicator.size)
            rss[communicator.rank] = Double(peakRSSBytes())
            try communicator.allReduceSum(&rss)
            log("peak RSS per rank: " + rss.map { String(format: "%.0f", $0 / 1048576) }.joined(separator: ", ") + " MiB")
        }
        guard root else {   // rank 0 writes the output
            return CompressionSummary(report: comp.report(source: opened.files.path), pplBefore: nil, pplAfter: nil,
                                      seconds: now() - start, peakRSS: peakRSSBytes(), output: o.output)
        }
        if let v = comp.guardVerdict {
            let what = String(format: "held-out loss rose by %.4f nats (perplexity ×%.2f) over the run; the bound is %.4f", v.rise, exp(v.rise), v.bound)
            if v.passed {
                log("guard: " + what)
            } else if o.strict {
                if fm.fileExists(atPath: checkpointDir) { try fm.removeItem(atPath: checkpointDir) }
                throw CompressionJobError.guardFailed(rise: v.rise, bound: v.bound)
            } else {
                log("WARNING: the compressed model is degraded past the bound: " + what + ". It is written anyway (strict refuses it).")
            }
        }
        if !o.denseOutput {
            // serve the zeros: compacted / 2:4 / sparse storages where they beat dense
            let masks = recipe.structure == .rowsColumns
                ? Dictionary(uniqueKeysWithValues: comp.layerNames.map { ($0, (rows: comp.state.removedRows[$0] ?? [], cols: comp.state.removedCols[$0] ?? [])) })
                : nil
            let decisions = try compressStorages(model: model, structuredMasks: masks, policy: StoragePolicy(dtype: o.dtype))
            let bytes = decisions.reduce(0) { $0 + $1.bytes }, dense = decisions.reduce(0) { $0 + $1.denseBytes }
            log(String(format: "storage: pruned layers take %.1f MiB instead of %.1f MiB dense (%.3f)", Double(bytes) / 1048576,
                       Double(dense) / 1048576, Double(bytes) / Double(max(dense, 1))))
        } else if o.dtype != .f32 {
            try compressStorages(model: model, policy: StoragePolicy(allowed: [], dtype: o.dtype))   // every layer dense in o.dtype
        }
        var report = comp.report(source: opened.files.path)
        report.dtype = o.dtype.rawValue
        report.ranks = communicator.size > 1 ? communicator.size : nil
        for i in report.layers.indices { report.layers[i].dtype = model.linear(report.layers[i].name)?.weight.valueDType.rawValue }
        try writeAtomically(o.output, overwrite: o.overwrite) { tmp in
            try ModelWriter.write(model: model, source: opened.files, to: tmp, extraFiles: ["compression.json": try report.jsonData()],
                                  metadata: ["compression": "surgeon"], dtype: o.dtype)
        }
        if fm.fileExists(atPath: checkpointDir) { try fm.removeItem(atPath: checkpointDir) }
        return CompressionSummary(report: report, pplBefore: pplBefore, pplAfter: comp.state.shots.last?.perplexity,
                                  seconds: now() - start, peakRSS: peakRSSBytes(), output: o.output)
    }

    /// Where grouped curvature passes keep their factors: `OUT.factors` + `.tmp-<pid>`.
    public var factorScratchBase: String { (options.output as NSString).standardizingPath + ".factors" }

    /// Bytes the factors may take under `maxMemory` (nil: they all fit), and whether the pass spills
    /// instead of running per layer group (the plan's choice, or `factorStorage`; spilling needs its
    /// bytes free on the output's disk). Throws `memoryLimit` when neither way fits.
    func factorStorage(recipe: CompressionRecipe, calibration: Calibration?) throws -> (budget: Int?, spill: Bool) {
        let machine = CompressionPlan.machineMemory()
        guard options.maxMemory != nil || machine > 0 else { return (nil, false) }
        let c = opened.model.config
        let windows = min(recipe.curvatureWindows ?? Int.max, calibration?.windows.count ?? 1)
        func plan(_ storage: FactorStorage, speeds: MachineSpeeds) -> CompressionPlan {
            CompressionPlan.make(config: c, recipe: recipe, windows: windows, heldOut: calibration?.heldOut.count ?? 0,
                                 seqlen: calibration?.windows.first?.count ?? options.seqlen, dtype: options.dtype, threads: Parallel.threads,
                                 speeds: speeds, machineBytes: machine, maxMemory: options.maxMemory, storage: storage)
        }
        var p = plan(options.factorStorage, speeds: MachineSpeeds(sgemm: 1, float64: 1))
        if p.factorStorage != .memory && options.factorStorage == .auto {
            p = plan(.auto, speeds: .measure())   // groups or spill: by this machine's speed
        }
        if p.factorStorage == .spill {
            let dir = (factorScratchBase as NSString).deletingLastPathComponent
            let free = (try? FileManager.default.attributesOfFileSystem(forPath: dir.isEmpty ? "." : dir))?[.systemFreeSize] as? Int
            if let free, free < p.spillBytes + p.spillBytes / 10 {
                if options.factorStorage == .spill || plan(.groups, speeds: MachineSpeeds(sgemm: 1, float64: 1)).factorBudget == nil {
                    throw CompressionJobError.scratchSpace(directory: dir, needed: p.spillBytes, free: free)
                }
                p = plan(.groups, speeds: MachineSpeeds(sgemm: 1, float64: 1))
            }
        }
        if p.factorBudget == nil {
            let largest = CompressionPlan.factorUnits(p.layers).map(\.bytes).max() ?? 0
            let limit = options.maxMemory ?? machine - machine / 10 - p.modelBytes
            throw CompressionJobError.memoryLimit(limit: limit, others: p.peakBytes - p.factorBytes - p.modelBytes, largest: largest)
        }
        switch p.factorStorage {
        case .spill: return (p.factorBudget, true)
        case .groups: return (p.factorBudget, false)
        case .memory: return (nil, false)
        }
    }

    /// The calibration windows the recipe needs (its method's curvature or the low-rank correction),
    /// and the recipe with their record filled in.
    func loadCalibration() throws -> (calibration: Calibration?, recipe: CompressionRecipe) {
        let o = options
        var recipe = o.recipe
        let heldOut = recipe.heldOut ?? 0
        guard recipe.method.needsData || recipe.lowrank != nil || heldOut > 0 else { return (nil, recipe) }
        let calibration: Calibration
        if let ids = o.idsFile {
            calibration = try CalibrationInput.fromIDsFile(ids, vocabSize: opened.model.config.vocabSize, heldOut: heldOut)
        } else if let file = o.calibFile {
            guard o.seqlen <= opened.model.contextLength else {
                throw CompressionJobError.seqlenExceedsContext(seqlen: o.seqlen, context: opened.model.contextLength)
            }
            calibration = try CalibrationInput.fromText(file: file, tokenizer: opened.requireTokenizer(), nsamples: o.nsamples,
                                                        seqlen: o.seqlen, seed: o.seed, heldOut: heldOut)
        } else {
            throw CompressionJobError.noCalibrationSource(needs: recipe.method.needsData ? .method : recipe.lowrank != nil ? .lowrank : .heldOut,
                                                          method: recipe.method)
        }
        recipe.calibration = CalibrationRecord(file: o.calibFile ?? o.idsFile ?? "", nsamples: calibration.windows.count,
                                               seqlen: calibration.windows.first?.count ?? 0, seed: o.idsFile == nil ? o.seed : nil,
                                               offsets: calibration.offsets,
                                               heldOutOffsets: calibration.heldOut.isEmpty ? nil : calibration.heldOutOffsets)
        log("calibration: \(calibration.windows.count) windows of \(calibration.windows.first?.count ?? 0) tokens from \(calibration.source)"
            + (calibration.heldOut.isEmpty ? "" : ", \(calibration.heldOut.count) more held out"))
        return (calibration, recipe)
    }

    /// Weights after the last finished shot plus the state, the recipe and the source model's
    /// identity, written atomically.
    func saveCheckpoint(model: CausalLM, state: CompressionState, recipe: CompressionRecipe, source: SourceIdentity) throws {
        // as held (between shots every block linear is dense, in the run's weight type: a 16-bit run's
        // checkpoint is half the bytes of float32), each block linear made when written
        let items = storedParameterLazyItems(model, dtype: nil)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let stateJSON = try enc.encode(CheckpointFile(recipe: recipe, source: source, state: state))
        try writeAtomically(checkpointDir, overwrite: true) { tmp in
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            try SafetensorsWriter.write(lazy: items, to: tmp + "/weights.safetensors")
            try stateJSON.write(to: URL(fileURLWithPath: tmp + "/state.json"))
        }
    }

    /// The checkpoint's weights and state when it was made from `source` with `recipe` in every
    /// field and its own fields are consistent; otherwise refused, naming each differing field
    /// with both values (recipe, then source) or the damaged field.
    func loadCheckpoint(expecting recipe: CompressionRecipe, source: SourceIdentity) throws -> (CausalLM, CompressionState)? {
        let dir = checkpointDir
        guard FileManager.default.fileExists(atPath: dir + "/state.json") else { return nil }
        let file = try CheckpointFile.read(directory: dir)
        let differences = recipe.differences(from: file.recipe)
        guard differences.isEmpty else { throw CompressionJobError.recipeMismatch(checkpoint: dir, differences: differences) }
        guard let recorded = file.source else { throw CompressionJobError.sourceUnknown(checkpoint: dir) }
        let sourceDifferences = source.differences(from: recorded)
        guard sourceDifferences.isEmpty else { throw CompressionJobError.sourceMismatch(checkpoint: dir, differences: sourceDifferences) }
        try file.validate(directory: dir, model: opened.model)
        let weights = try SafetensorsFile(path: dir + "/weights.safetensors")
        weights.weightDType = opened.files.weights.weightDType   // a 16-bit run resumes in 16 bits
        let model = try loadModel(config: opened.model.config, weights: weights)
        return (model, file.state)
    }
}
