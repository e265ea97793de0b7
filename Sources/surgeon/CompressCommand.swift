import ArgumentParser
import Foundation
import Runtime
import Surgery
import Toolkit

struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Prune a model with the LLM Surgeon (or a baseline) and write the compressed model directory.")

    @OptionGroup var model: ModelOptions
    @Option(help: "rows-columns, unstructured or 2:4.")
    var structure: String = "rows-columns"
    @Option(help: ArgumentHelp(Self.methodHelp))
    var method: String = "surgeon"
    @Option(help: "Target sparsity: the fraction of the block linear layers' parameters removed.")
    var sparsity: Double
    @Option(help: "Number of pruning shots (the target grows linearly, curvature recomputed each shot).")
    var shots: Int = 1
    @Option(help: "Calibration text (rows joined with a space; wikitext-2 train is not available offline: use wiki.valid.raw).")
    var calib: String?
    @Option(name: .customLong("ids-file"), help: "Calibrate on these windows: a JSON array of arrays of token ids.")
    var idsFile: String?
    @Option(help: "Calibration windows.")
    var nsamples: Int = 32
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
    @Option(name: .customLong("eval-every"), help: "Evaluate after every k-th shot only (and after the last; default 1).")
    var evalEvery: Int?
    @Option(name: .customLong("group-entries"), help: "Masked entries solved jointly per group in the unstructured / 2:4 surgeon update (default 2000, the paper's; smaller is faster, cost grows with its square).")
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
        let r = CompressionRecipe(method: m, structure: st, targetSparsity: sparsity, shots: shots, dampG: dampG ?? damping.g,
                                  dampA: dampA ?? damping.a, updates: up, fisher: labels, lowrank: lowRank, groupEntries: groupEntries)
        do {
            try r.validate()
        } catch SurgeryError.invalidRecipe(let field, let message) {
            throw ValidationError("\(Self.flag(field.rawValue)): \(message)")
        }
        return r
    }

    func run() throws {
        let recipe = try recipe()
        try runReportingErrors(FlagNames(paths: FlagNames.given([(model.model, "-m"), (calib, "--calib"), (idsFile, "--ids-file"), (evalFile, "--eval-file"), (output, "-o")]), seqlen: "--eval-seqlen", fisher: "--fisher", output: "-o", overwrite: "--overwrite")) {
            try prepareOutput()   // before anything loads
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
            o.evalEvery = evalEvery ?? o.evalEvery
            o.denseOutput = denseOutput
            let opened = try ModelLoader.open(model.model, requireTokenizer: calib != nil || evalFile != nil)
            let job = CompressionJob(opened: opened, options: o)
            job.log = { printError($0) }
            let out = (output as NSString).standardizingPath
            CleanupOnSignal.install(paths: [out + ".tmp-\(getpid())", out + ".partial.tmp-\(getpid())"])
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
            var line = String(format: "compressed %@ -> %@: %@ %@, target %.4f, actual %.4f, %.1f s, peak RSS %.0f MiB",
                              model.model, output, method, structure, sparsity, s.report.actualSparsity, s.seconds,
                              Double(s.peakRSS) / 1048576)
            if let b = s.pplBefore, let a = s.pplAfter { line += String(format: ", perplexity %.4f -> %.4f", b, a) }
            printError(line)
            if report { try ReportCommand.writeAfterCompress(output: output, densePerplexity: s.pplBefore) }
            if json { print(jsonLine(s.json)) }
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

    /// A job error in this command's flags.
    static func message(_ e: CompressionJobError) -> String {
        switch e {
        case .outputExists(let p):
            return "\(p) already exists; choose another -o or pass --overwrite"
        case .seqlenExceedsContext(let L, let ctx):
            return "--seqlen \(L) exceeds the model's context of \(ctx)"
        case .noCalibrationSource(let field, let m):
            return "\(field == .method ? "method \(m.rawValue)" : "--lowrank") needs calibration data: --calib FILE (e.g. wiki.valid.raw) or --ids-file FILE"
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
        ]
        return flags[key] ?? key
    }
}

/// A failure already worded in this command's flags (printed as `error: <message>`).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
