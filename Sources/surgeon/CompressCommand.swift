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
    @Option(help: "surgeon, kobd, lobd, magnitude (all structures); sparsegpt, wanda (unstructured, 2:4).")
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
    @Option(help: "Weight updates of the structured surgeon: joint, independent or none.")
    var updates: String = "joint"
    @Option(help: "Fisher labels: empirical, sampled or sampled:k.")
    var fisher: String = "empirical"
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
    @Option(name: .customLong("eval-seqlen"), help: "Segment length of the evaluation.")
    var evalSeqlen: Int = 2048
    @Option(name: .customLong("eval-every"), help: "Evaluate after every k-th shot only (and after the last).")
    var evalEvery: Int = 1
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

    func validate() throws {
        guard Structure(rawValue: structure) != nil else { throw ValidationError("--structure must be rows-columns, unstructured or 2:4 (got \(structure))") }
        guard PruningMethod(rawValue: method) != nil else {
            throw ValidationError("--method must be one of \(PruningMethod.allCases.map(\.rawValue).joined(separator: ", ")) (got \(method))")
        }
        guard UpdateMode(rawValue: updates) != nil else { throw ValidationError("--updates must be joint, independent or none (got \(updates))") }
        guard sparsity >= 0 && sparsity < 1 else { throw ValidationError("--sparsity must be in [0, 1) (got \(sparsity))") }
        guard shots >= 1 && shots <= 1000 else { throw ValidationError("--shots must be between 1 and 1000 (got \(shots))") }
        guard nsamples >= 1 else { throw ValidationError("--nsamples must be ≥ 1 (got \(nsamples))") }
        guard seqlen >= 2 else { throw ValidationError("--seqlen must be ≥ 2 (got \(seqlen))") }
        for (n, v) in [("--damp-g", dampG), ("--damp-a", dampA)] {
            if let v, !(v >= 0 && v.isFinite) { throw ValidationError("\(n) must be a finite value ≥ 0 (got \(v))") }
        }
        if calib != nil && idsFile != nil { throw ValidationError("give --calib or --ids-file, not both") }
        if let evalChunks, evalChunks < 1 { throw ValidationError("--eval-chunks must be ≥ 1") }
        guard evalSeqlen >= 2 else { throw ValidationError("--eval-seqlen must be ≥ 2") }
        if let g = groupEntries, !(1...100_000).contains(g) { throw ValidationError("--group-entries must be between 1 and 100000 (got \(g))") }
        guard evalEvery >= 1 else { throw ValidationError("--eval-every must be ≥ 1 (got \(evalEvery))") }
        if let lowrank, !(1...4096).contains(lowrank) { throw ValidationError("--lowrank must be a rank between 1 and 4096 (got \(lowrank))") }
        if lowrank == nil && (lowrankLR != nil || lowrankStepsPerShot != nil || lowrankFinalEpochs != nil || lowrankLayers != nil) {
            throw ValidationError("the --lowrank-* options tune the low-rank correction: turn it on with --lowrank RANK (paper: 8)")
        }
        if let lowrankLR, !(lowrankLR > 0 && lowrankLR.isFinite) { throw ValidationError("--lowrank-lr must be finite and > 0 (got \(lowrankLR))") }
        if let k = lowrankStepsPerShot, k < 0 { throw ValidationError("--lowrank-steps-per-shot must be ≥ 0 (got \(k))") }
        if let e = lowrankFinalEpochs, e < 0 { throw ValidationError("--lowrank-final-epochs must be ≥ 0 (got \(e))") }
        if let l = lowrankLayers, LowRankLayers(rawValue: l) == nil {
            throw ValidationError("--lowrank-layers must be attn, mlp or all (got \(l))")
        }
    }

    func run() throws {
        try runReportingErrors(FlagNames(paths: [model.model: "-m"], seqlen: "--eval-seqlen", fisher: "--fisher", output: "-o", overwrite: "--overwrite")) {
            Parallel.setThreads(model.threads)
            let st = Structure(rawValue: structure) ?? .rowsColumns
            var o = CompressionOptions(method: PruningMethod(rawValue: method) ?? .surgeon, structure: st, sparsity: sparsity, shots: shots,
                                       dampG: dampG ?? (st == .rowsColumns ? 0.01 : 0.1), dampA: dampA ?? 0.01,
                                       updates: UpdateMode(rawValue: updates) ?? .joint, output: output)
            o.fisher = fisher
            o.calibFile = calib
            o.idsFile = idsFile
            o.nsamples = nsamples
            o.seqlen = seqlen
            o.seed = seed
            o.overwrite = overwrite
            o.resume = resume
            o.evalFile = evalFile
            o.evalChunks = evalChunks
            o.evalSeqlen = evalSeqlen
            o.evalEvery = evalEvery
            o.denseOutput = denseOutput
            o.groupEntries = groupEntries
            if let lowrank {
                let d = LowRankRecipe()
                o.lowrank = LowRankRecipe(rank: lowrank, learningRate: lowrankLR ?? d.learningRate,
                                          stepsPerShot: lowrankStepsPerShot ?? d.stepsPerShot, finalEpochs: lowrankFinalEpochs ?? d.finalEpochs,
                                          layers: lowrankLayers.flatMap(LowRankLayers.init(rawValue:)) ?? d.layers, seed: seed)
            }
            let opened = try ModelLoader.open(model.model, requireTokenizer: calib != nil || evalFile != nil)
            let job = CompressionJob(opened: opened, options: o)
            job.log = { printError($0) }
            CleanupOnSignal.install(paths: [(output as NSString).standardizingPath + ".tmp-\(getpid())"])
            let s = try job.run()
            var line = String(format: "compressed %@ -> %@: %@ %@, target %.4f, actual %.4f, %.1f s, peak RSS %.0f MiB",
                              model.model, output, method, structure, sparsity, s.report.actualSparsity, s.seconds,
                              Double(s.peakRSS) / 1048576)
            if let b = s.pplBefore, let a = s.pplAfter { line += String(format: ", perplexity %.4f -> %.4f", b, a) }
            printError(line)
            if json { print(jsonLine(s.json)) }
        }
    }
}
