import ArgumentParser
import Foundation
import Runtime
import Surgery
import Toolkit

struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Prune a model with the LLM Surgeon (or a baseline) and write the compressed model directory.",
        discussion: Self.defaultRecipeHelp)

    static let defaultRecipeHelp = """
        The default recipe (what runs when only --calib is given; measurements in docs/results.md, "Every \
        calibration seed"): 32 windows of 512 tokens plus 4 held-out windows; for the \
        surgeon the adaptive schedule, starting with steps of 2.5% (rows-columns) or 10% (unstructured, 2:4): \
        after each shot the held-out loss is measured, and a shot that raises it past the bound (a rise no steeper \
        than 3x the average so far, at least 4 nats per unit of sparsity; 2 for unstructured and 2:4) is undone and \
        retried with half the step; the step grows 1.5x after a shot well within its bound (up to 5% / 10%); \
        each shot's curvature reads the next half of the windows (--curvature-windows), and shots land on every 10%. \
        Every method's result is checked at the end: a held-out loss more than --max-loss-rise nats above the \
        dense model's is reported loudly, and refused with --strict. The paper's schedule: --shots N (linear unless \
        --schedule adaptive is given, which then starts with steps of target/N).
        """

    @OptionGroup var model: ModelOptions
    @Option(help: "rows-columns, unstructured or 2:4.")
    var structure: String = "rows-columns"
    @Option(help: ArgumentHelp(Self.methodHelp))
    var method: String = "surgeon"
    @Option(help: "Target sparsity: the fraction of the block linear layers' parameters removed.")
    var sparsity: Double
    @Option(help: "Number of pruning shots: the target grows by target/shots per shot, curvature recomputed each shot (the linear schedule, which --shots selects unless --schedule adaptive is given; with it, the first step is target/shots). Default: the adaptive schedule's steps of 2.5% (rows-columns) or 10% (unstructured, 2:4) for the surgeon, 1 for the other methods.")
    var shots: Int?
    @Option(help: "linear (the paper's: equal steps) or adaptive (undo and retry a shot that raises the held-out loss past the bound; grow the step while shots go well). Default: adaptive for the surgeon unless --shots is given, linear otherwise.")
    var schedule: String?
    @Option(name: .customLong("held-out"), help: "Calibration windows held out of the curvature to measure the held-out loss after each shot (default 4 when --calib or --ids-file is given; from an ids file, its last windows).")
    var heldOut: Int?
    @Option(name: .customLong("max-loss-rise"), help: "The guard: the most the held-out loss may rise over the whole run, in nats (default 1.0, perplexity ×2.72, when windows are held out).")
    var maxLossRise: Double?
    @Flag(help: "Refuse to write a result whose held-out loss rose past --max-loss-rise.")
    var strict = false
    @Option(help: "Calibration text (rows joined with a space; wikitext-2 train is not available offline: use wiki.valid.raw).")
    var calib: String?
    @Option(name: .customLong("ids-file"), help: "Calibrate on these windows: a JSON array of arrays of token ids.")
    var idsFile: String?
    @Option(help: "Calibration windows.")
    var nsamples: Int = 32
    @Option(name: .customLong("curvature-windows"), help: "Calibration windows each shot's curvature reads, taking the next block of windows every shot (default: half of --nsamples for the surgeon's adaptive schedule, all otherwise).")
    var curvatureWindows: Int?
    @Option(help: "Tokens per calibration window.")
    var seqlen: Int = 512
    @Option(help: "Seed of the calibration offsets.")
    var seed: UInt64 = 100
    @Option(name: .customLong("damp-g"), help: "Relative damping of G (default 0.01 rows-columns, 0.1 otherwise).")
    var dampG: Double?
    @Option(name: .customLong("damp-a"), help: "Relative damping of A (default 0.01).")
    var dampA: Double?
    @Option(help: "Weight updates of the structured surgeon: joint, independent or none (default joint).")
    var updates: String?
    @Option(help: "Fisher labels of G (surgeon, kobd): empirical, sampled or sampled:k (default empirical).")
    var fisher: String?
    @Option(name: .shortAndLong, help: "Output directory.")
    var output: String
    @Flag(help: "Replace an existing output directory.")
    var overwrite = false
    @Flag(help: "Continue an interrupted run from its last finished shot (checkpoint in OUTPUT.partial).")
    var resume = false
    @Option(name: .customLong("eval-file"), help: "Evaluate perplexity (paper protocol) before and after each shot on this text.")
    var evalFile: String?
    @Option(name: .customLong("eval-chunks"), help: "Segments of the evaluation text to use (default: all).")
    var evalChunks: Int?
    @Option(name: .customLong("eval-seqlen"), help: "Segment length of the evaluation (default 2048, at most the model's context).")
    var evalSeqlen: Int?
    @Option(name: .customLong("eval-every"), help: "Evaluate after every k-th shot only (and after the last; default: every shot on the linear schedule, every 10% on the adaptive one).")
    var evalEvery: Int?
    @Option(name: .customLong("group-entries"), help: "Masked entries solved jointly per group in the unstructured / 2:4 surgeon update (default 500; the paper's: 2000).")
    var groupEntries: Int?
    @Option(help: "Rank of the first-order low-rank correction after each shot (off unless given; paper: 8).")
    var lowrank: Int?
    @Option(name: .customLong("lowrank-lr"), help: "Adam learning rate of the low-rank correction, decaying linearly to 0 in each phase (default 1e-4).")
    var lowrankLR: Double?
    @Option(name: .customLong("lowrank-steps-per-shot"), help: "Low-rank steps (one calibration window each, a seeded random subset) after every shot (default 3).")
    var lowrankStepsPerShot: Int?
    @Option(name: .customLong("lowrank-final-epochs"), help: "Low-rank epochs over all calibration windows after the last shot (default 5).")
    var lowrankFinalEpochs: Int?
    @Option(name: .customLong("lowrank-layers"), help: "Layers with low-rank adapters: attn, mlp or all (default all).")
    var lowrankLayers: String?
    @Flag(name: .customLong("dense-output"), help: "Write plain dense weights (zeros included, readable by Hugging Face) instead of compressed storages.")
    var denseOutput = false
    @Flag(help: "Print one JSON record.")
    var json = false
    @Flag(help: "Write report.html (figures of the run, see `surgeon report`) into the output directory at the end.")
    var report = false
    @Option(name: .customLong("max-memory"), help: "Memory the surgery may use besides the model's weights, e.g. 4G or 512M (default: this machine's less a tenth and the model; peak RSS stays within the model + this + about 1G). When the curvature factors do not fit, they go to disk beside the output (--factor-storage).")
    var maxMemory: String?
    @Option(name: .customLong("factor-storage"), help: "How curvature factors that do not fit under --max-memory are kept: groups (one calibration pass per group of layers whose factors fit; the factors on disk), spill (one pass writing the factors' rows to disk beside the output; each factor built when needed), or auto: the faster by the plan (default).")
    var factorStorage: String?
    @Flag(name: .customLong("dry-run"), help: "Print what the run would need (memory, FLOPs, time on this machine) from the model's config and exit: nothing is loaded or written; -m may be a config.json.")
    var dryRun = false

    /// "surgeon, kobd, lobd, magnitude (all structures); sparsegpt, wanda (unstructured, 2:4)", from the traits.
    static let methodHelp: String = {
        var groups: [(structures: Set<Structure>, methods: [String])] = []
        for m in PruningMethod.allCases {
            let s = m.traits.structures
            if let i = groups.firstIndex(where: { $0.structures == s }) { groups[i].methods.append(m.rawValue) } else { groups.append((s, [m.rawValue])) }
        }
        return groups.map { g in
            let which = g.structures.count == Structure.allCases.count
                ? "all structures" : Structure.allCases.filter { g.structures.contains($0) }.map(\.rawValue).joined(separator: ", ")
            return "\(g.methods.joined(separator: ", ")) (\(which))"
        }.joined(separator: "; ") + "."
    }()

    /// Checks of what only the CLI knows (where windows come from, evaluation); the recipe's values
    /// are checked by `CompressionRecipe.validate`, which `recipe()` calls.
    func validate() throws {
        guard nsamples >= 1 else { throw ValidationError("--nsamples must be ≥ 1 (got \(nsamples))") }
        guard seqlen >= 2 else { throw ValidationError("--seqlen must be ≥ 2 (got \(seqlen))") }
        if calib != nil && idsFile != nil { throw ValidationError("give --calib or --ids-file, not both") }
        if let evalChunks, evalChunks < 1 { throw ValidationError("--eval-chunks must be ≥ 1") }
        if let evalSeqlen, evalSeqlen < 2 { throw ValidationError("--eval-seqlen must be ≥ 2") }
        if let evalEvery, evalEvery < 1 { throw ValidationError("--eval-every must be ≥ 1 (got \(evalEvery))") }
        if evalFile == nil && (evalChunks != nil || evalSeqlen != nil || evalEvery != nil) {
            throw ValidationError("--eval-chunks, --eval-seqlen and --eval-every tune the evaluation: give --eval-file FILE")
        }
        if let maxMemory, Self.bytes(maxMemory) == nil {
            throw ValidationError("--max-memory must be a size such as 4G, 512M or 2.5G (got \(maxMemory))")
        }
        _ = try storage()
        if let w = curvatureWindows {
            guard w >= 1 else { throw ValidationError("--curvature-windows must be ≥ 1 (got \(w))") }
            if idsFile == nil && w > nsamples { throw ValidationError("--curvature-windows \(w) is more than the --nsamples \(nsamples) windows") }
        }
        if let heldOut, heldOut < 0 { throw ValidationError("--held-out must be ≥ 0 (got \(heldOut))") }
        if calib == nil && idsFile == nil && (heldOut ?? 0) > 0 {
            throw ValidationError("--held-out takes its windows from the calibration data: give --calib FILE or --ids-file FILE")
        }
        if strict && (calib == nil && idsFile == nil || heldOut == 0) {
            throw ValidationError("--strict checks the held-out loss: give --calib FILE (or --ids-file) and do not set --held-out 0")
        }
        if lowrank == nil && (lowrankLR != nil || lowrankStepsPerShot != nil || lowrankFinalEpochs != nil || lowrankLayers != nil) {
            throw ValidationError("the --lowrank-* options tune the low-rank correction: turn it on with --lowrank RANK (paper: 8)")
        }
        try refuseNoOps(try recipe())   // refused here, with this command's usage, rather than after loading
    }

    /// Flags the recipe would carry without effect: refused, so a run is never other than it reads.
    func refuseNoOps(_ r: CompressionRecipe) throws {
        let traits = r.method.traits
        if let updates, !(traits.updatesWeights && r.structure == .rowsColumns) {
            let users = PruningMethod.allCases.filter { $0.traits.updatesWeights && $0.traits.structures.contains(.rowsColumns) }
            throw ValidationError("--updates \(updates) has no effect: only \(users.map(\.rawValue).joined(separator: ", ")) with --structure rows-columns update weights that way")
        }
        if let fisher, !traits.usesG {
            let users = PruningMethod.allCases.filter { $0.traits.usesG }.map(\.rawValue)
            throw ValidationError("--fisher \(fisher) has no effect: \(r.method.rawValue) does not use G, the factor the labels make; \(users.joined(separator: " and ")) do")
        }
        if groupEntries != nil, !(traits.updatesWeights && !traits.isLayerwise && r.structure != .rowsColumns) {
            throw ValidationError("--group-entries has no effect: it sizes the surgeon's joint update with --structure unstructured or 2:4")
        }
        if traits.isLayerwise && r.shots != 1 {
            throw ValidationError("\(r.method.rawValue) prunes in one layer-by-layer pass at the full target: --shots must be 1 (got \(r.shots))")
        }
        if maxLossRise != nil && r.heldOut == nil {
            throw ValidationError("--max-loss-rise has no effect without held-out windows: give --calib FILE (or --ids-file) and do not set --held-out 0")
        }
        if curvatureWindows != nil && (traits.curvature == .identity || traits.isLayerwise) {
            throw ValidationError("--curvature-windows has no effect: \(r.method.rawValue) does not estimate a curvature between shots")
        }
        if traits.isLayerwise && schedule == ShotSchedule.adaptive.rawValue {
            throw ValidationError("--schedule adaptive has no effect: \(r.method.rawValue) prunes in one layer-by-layer pass (its result is still checked against --max-loss-rise)")
        }
    }

    /// The flags as one typed recipe, validated (the only place the CLI builds one).
    func recipe() throws -> CompressionRecipe {
        guard let st = Structure(rawValue: structure) else {
            throw ValidationError("--structure must be rows-columns, unstructured or 2:4 (got \(structure))")
        }
        guard let m = PruningMethod(rawValue: method) else {
            throw ValidationError("--method must be one of \(PruningMethod.allCases.map(\.rawValue).joined(separator: ", ")) (got \(method))")
        }
        let updates = self.updates ?? UpdateMode.joint.rawValue, fisher = self.fisher ?? "empirical"
        guard let up = UpdateMode(rawValue: updates) else { throw ValidationError("--updates must be joint, independent or none (got \(updates))") }
        guard let labels = try? CalibrationInput.fisherLabels(fisher, seed: seed) else {
            throw ValidationError("--fisher must be \(ToolkitError.fisherLabelForms) (got \(fisher))")
        }
        var lowRank: LowRankRecipe?
        if let lowrank {
            guard lowrankLayers.map({ LowRankLayers(rawValue: $0) != nil }) ?? true else {
                throw ValidationError("--lowrank-layers must be attn, mlp or all (got \(lowrankLayers ?? ""))")
            }
            let d = LowRankRecipe()
            lowRank = LowRankRecipe(rank: lowrank, learningRate: lowrankLR ?? d.learningRate,
                                    stepsPerShot: lowrankStepsPerShot ?? d.stepsPerShot, finalEpochs: lowrankFinalEpochs ?? d.finalEpochs,
                                    layers: lowrankLayers.flatMap(LowRankLayers.init(rawValue:)) ?? d.layers, seed: seed)
        }
        let damping = DefaultDamping.forStructure(st)
        let plan: ShotSchedule
        if let schedule {
            guard let p = ShotSchedule(rawValue: schedule) else {
                throw ValidationError("--schedule must be linear or adaptive (got \(schedule))")
            }
            plan = p
        } else {
            // an explicit shot count asks for that many shots: the paper's (linear) schedule
            plan = shots != nil && !m.traits.isLayerwise ? .linear : DefaultSchedule.schedule(m)
        }
        let multiShot = !m.traits.isLayerwise && (plan == .adaptive || DefaultSchedule.schedule(m) == .adaptive)
        let shots = self.shots ?? (multiShot ? DefaultSchedule.shots(st, target: sparsity) : 1)
        var adaptive: AdaptiveSchedule?
        if plan == .adaptive && !m.traits.isLayerwise {
            var a = DefaultSchedule.adaptive(st)
            if self.shots != nil, sparsity > 0, shots >= 1 {   // the first step from --shots
                a.firstStep = sparsity / Double(shots)
                a.minStep = min(a.minStep, a.firstStep)
                a.maxStep = max(a.maxStep, a.firstStep)
            }
            adaptive = a
        }
        let hasData = calib != nil || idsFile != nil
        // without data an adaptive run still records its held-out windows: the job then asks for --calib
        let held = heldOut ?? (hasData || (plan == .adaptive && !m.traits.isLayerwise) ? 4 : 0)
        // the surgeon's unstructured / 2:4 joint update: 500 entries by default (the paper's 2000 costs
        // 16x more per entry: over 20 minutes per shot on SmolLM2 at 2 cores)
        let groups = groupEntries ?? (m.traits.updatesWeights && !m.traits.isLayerwise && st != .rowsColumns ? 500 : nil)
        // the default surgeon run reads half the windows per shot (alternate halves): half the passes per shot
        let needsCurvature = m.traits.curvature != .identity && !m.traits.isLayerwise
        let perShot = curvatureWindows ?? (needsCurvature && adaptive != nil ? DefaultSchedule.curvatureWindows(nsamples: nsamples) : nil)
        let r = CompressionRecipe(method: m, structure: st, targetSparsity: sparsity, shots: shots, dampG: dampG ?? damping.g,
                                  dampA: dampA ?? damping.a, updates: up, fisher: labels, lowrank: lowRank, groupEntries: groups,
                                  schedule: m.traits.isLayerwise ? nil : plan, adaptive: adaptive, heldOut: held > 0 ? held : nil,
                                  maxLossRise: held > 0 ? (maxLossRise ?? 1.0) : nil, curvatureWindows: perShot)
        do {
            try r.validate()
        } catch SurgeryError.invalidRecipe(let field, let message) {
            throw ValidationError("\(Self.flag(field.rawValue)): \(message)")
        }
        return r
    }

    func run() throws {
        let recipe = try recipe()
        if dryRun {
            // the plan is printed once under mpirun (by rank 0)
            guard (ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"] ?? "0") == "0" else { return }
            return try printPlan(recipe)
        }
        try runReportingErrors(FlagNames(paths: FlagNames.given([(model.model, "-m"), (calib, "--calib"), (idsFile, "--ids-file"), (evalFile, "--eval-file"), (output, "-o")]), seqlen: "--eval-seqlen", fisher: "--fisher", output: "-o", overwrite: "--overwrite")) {
            // under mpirun: every rank runs the job, rank 0 checks and writes the output and talks
            try World.start()
            let world = World.current   // on an error: runReportingErrors aborts the job
            if world.isRoot { try prepareOutput() }   // before anything loads
            Parallel.setThreads(model.threads)
            var o = CompressionOptions(recipe: recipe, output: output)
            o.calibFile = calib
            o.idsFile = idsFile
            o.nsamples = nsamples
            o.seqlen = seqlen
            o.seed = seed
            o.overwrite = overwrite
            o.resume = resume
            o.evalFile = evalFile
            o.evalChunks = evalChunks
            o.evalSeqlen = evalSeqlen ?? o.evalSeqlen
            o.evalEvery = evalEvery ?? (recipe.isAdaptive ? nil : 1)
            o.denseOutput = denseOutput
            let types = try ModelLoader.compressionDTypes(model.model, requested: model.dtype)
            o.dtype = types.output
            o.strict = strict
            o.maxMemory = maxMemory.flatMap(Self.bytes)
            o.factorStorage = try storage()
            let opened = try ModelLoader.open(model.model, requireTokenizer: calib != nil || evalFile != nil, dtype: types.load)
            let job = CompressionJob(opened: opened, options: o)
            job.communicator = world
            job.log = world.isRoot ? { printError($0) } : { _ in }
            let out = (output as NSString).standardizingPath
            CleanupOnSignal.install(paths: [out + ".tmp-\(getpid())", out + ".partial.tmp-\(getpid())", out + ".factors.tmp-\(getpid())"])
            let s: CompressionSummary
            do {
                s = try job.run()
            } catch let e as CompressionJobError {
                throw CommandError(Self.message(e))
            } catch SurgeryError.invalidRecipe(let field, let message) {
                throw CommandError("\(Self.flag(field.rawValue)): \(message)")
            } catch let e as OutputError {
                throw CommandError(outputMessage(e, output: "-o", inputs: [model.model: "-m"]))
            }
            guard world.isRoot else { return World.finish() }
            var line = String(format: "compressed %@ -> %@: %@ %@, target %.4f, actual %.4f, %.1f s, peak RSS %.0f MiB",
                              model.model, output, method, structure, sparsity, s.report.actualSparsity, s.seconds,
                              Double(s.peakRSS) / 1048576)
            if let b = s.pplBefore, let a = s.pplAfter { line += String(format: ", perplexity %.4f -> %.4f", b, a) }
            if world.size > 1 { line += " (rank 0 of \(world.size) ranks)" }
            printError(line)
            if report { try ReportCommand.writeAfterCompress(output: output, densePerplexity: s.pplBefore) }
            if json { print(jsonLine(s.json)) }
            World.finish()
        }
    }

    /// The output checks, before anything loads: temporaries of dead runs (of OUT and of its
    /// checkpoint) removed, -o outside -m, an existing -o only with --overwrite, its directory writable.
    func prepareOutput() throws {
        var inputs = [model.model: "-m"], order = [model.model]   // -m checked first
        for (path, flag) in [(calib, "--calib"), (idsFile, "--ids-file"), (evalFile, "--eval-file")] { if let path { inputs[path] = flag; order.append(path) } }
        do {
            let done = try OutputSafety.prepare(output: output, inputs: order, overwrite: overwrite)
                + OutputSafety.removeStaleTemporaries(of: (output as NSString).standardizingPath + ".partial")
            for line in done { printError(line) }
        } catch let e as OutputError {
            throw CommandError(outputMessage(e, output: "-o", inputs: inputs))
        } catch ModelError.outputExists(let p) {
            throw CommandError(Self.message(.outputExists(path: p)))
        }
    }

    /// `--factor-storage` (auto when absent).
    func storage() throws -> FactorStorage {
        guard let factorStorage else { return .auto }
        guard let s = FactorStorage(rawValue: factorStorage) else {
            throw ValidationError("--factor-storage must be auto, groups or spill (got \(factorStorage))")
        }
        return s
    }

    /// `--dry-run`: the plan of this run from the config alone.
    func printPlan(_ recipe: CompressionRecipe) throws {
        try runReportingErrors(FlagNames(paths: FlagNames.given([(model.model, "-m")]), seqlen: "--seqlen", fisher: "--fisher", output: "-o", overwrite: "--overwrite")) {
            let config = try CompressionPlan.config(of: model.model)
            Parallel.setThreads(model.threads)
            let held = recipe.heldOut ?? 0
            let windows = min(recipe.curvatureWindows ?? nsamples, nsamples)
            let plan = CompressionPlan.make(config: config, recipe: recipe, windows: windows, heldOut: held, seqlen: seqlen,
                                            dtype: model.dtype ?? (try? ModelLoader.compressionDTypes(model.model, requested: nil).load)
                                                ?? CompressionPlan.configDType(of: model.model) ?? .f32,
                                            threads: model.threads, speeds: .measure(),
                                            machineBytes: CompressionPlan.machineMemory(), maxMemory: maxMemory.flatMap(Self.bytes),
                                            storage: try storage())
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys]
                print(String(decoding: try e.encode(plan), as: UTF8.self))
            } else {
                print(plan.text(), terminator: "")
            }
        }
    }

    /// Bytes of a size flag: a number with an optional K, M, G or T (powers of 1024; "B" allowed after it).
    static func bytes(_ s: String) -> Int? {
        var t = s.trimmingCharacters(in: .whitespaces).uppercased()
        if t.hasSuffix("IB") { t.removeLast(2) } else if t.hasSuffix("B") { t.removeLast() }
        let units: [Character: Double] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024, "T": 1024 * 1024 * 1024 * 1024]
        var scale = 1.0
        if let u = t.last, let f = units[u] { scale = f; t.removeLast() }
        guard let v = Double(t), v.isFinite, v > 0, v * scale < 1e18 else { return nil }
        return Int(v * scale)
    }

    /// A job error in this command's flags.
    static func message(_ e: CompressionJobError) -> String {
        switch e {
        case .memoryLimit(let limit, let others, let largest):
            let gib = CompressionPlan.gib
            return "--max-memory \(gib(limit)) is too small: besides the model, one window's tape, the float64 work and the undo snapshot need about "
                + "\(gib(others)) and the largest input group's factors \(gib(largest)) more; allow at least \(gib(others + largest)) (--dry-run shows the plan)"
        case .scratchSpace(let dir, let needed, let free):
            let gib = CompressionPlan.gib
            return "the curvature pass would spill \(gib(needed)) of activations into \(dir), which has \(gib(free)) free: free disk space there, "
                + "write -o elsewhere, or pass --factor-storage groups (--dry-run shows the plan)"
        case .outputExists(let p):
            return "\(p) already exists; choose another -o or pass --overwrite"
        case .seqlenExceedsContext(let L, let ctx):
            return "--seqlen \(L) exceeds the model's context of \(ctx)"
        case .noCalibrationSource(let field, let m):
            let who = field == .method ? "method \(m.rawValue)" : field == .lowrank ? "--lowrank" : "the held-out loss (--schedule adaptive, --held-out, --max-loss-rise)"
            return "\(who) needs calibration data: --calib FILE (e.g. wiki.valid.raw) or --ids-file FILE"
        case .recipeMismatch(let dir, let diffs):
            let lines = diffs.map { "\(flag($0.key)): checkpoint \($0.checkpoint), now \($0.now)" }
            return "the checkpoint at \(dir) was made with another recipe (\(lines.joined(separator: "; "))); delete it or drop --resume"
        case .sourceMismatch(let dir, let diffs):
            return "the checkpoint at \(dir) was made from another model than -m (\(diffs.map(\.description).joined(separator: "; "))); "
                + "give -m the model it was made from, or delete it or drop --resume"
        case .sourceUnknown(let dir):
            return "the checkpoint at \(dir) does not record the model it was made from (an older version wrote it); delete it or drop --resume"
        case .badCheckpoint(let dir, let field, let detail):
            return "the checkpoint at \(dir) is damaged (\(field): \(detail)); delete it or drop --resume"
        case .guardFailed(let rise, let bound):
            return String(format: "the held-out loss rose by %.4f nats (perplexity ×%.2f), past --max-loss-rise %.4f; --strict: nothing was written. "
                          + "Use more shots (--shots) or a lower --sparsity, or raise --max-loss-rise", rise, exp(rise), bound)
        }
    }

    /// The flag that sets a recipe field (keys as in compression.json, dotted for nested parts).
    static func flag(_ key: String) -> String {
        let flags = [
            "method": "--method", "structure": "--structure", "target_sparsity": "--sparsity", "shots": "--shots",
            "damp_g": "--damp-g", "damp_a": "--damp-a", "updates": "--updates", "fisher": "--fisher",
            "group_entries": "--group-entries", "calibration": "--calib/--ids-file", "calibration.file": "--calib/--ids-file",
            "calibration.nsamples": "--nsamples", "calibration.seqlen": "--seqlen", "calibration.seed": "--seed",
            "calibration.offsets": "calibration offsets", "lowrank": "--lowrank", "lowrank.rank": "--lowrank",
            "lowrank.learning_rate": "--lowrank-lr", "lowrank.steps_per_shot": "--lowrank-steps-per-shot",
            "lowrank.final_epochs": "--lowrank-final-epochs", "lowrank.layers": "--lowrank-layers", "lowrank.seed": "--seed",
            "schedule": "--schedule", "adaptive": "--schedule adaptive", "held_out": "--held-out", "max_loss_rise": "--max-loss-rise",
            "calibration.held_out_offsets": "--held-out/--seed", "adaptive.first_step": "--shots",
            "curvature_windows": "--curvature-windows",
        ]
        return flags[key] ?? key
    }
}

/// A failure already worded in this command's flags (printed as `error: <message>`).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
