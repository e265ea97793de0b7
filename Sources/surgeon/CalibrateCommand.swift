import ArgumentParser
import Foundation
import Runtime
import Surgery
import Toolkit

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "K-FAC curvature of every block linear layer (A = E[a aᵀ], G = E[g gᵀ]) from our own forward and backward passes.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Calibration text file (e.g. wikitext-2 wiki.valid.raw).")
    var calib: String?
    @Option(name: .customLong("ids-file"), help: "Calibrate on exactly these windows: a JSON array of arrays of token ids.")
    var idsFile: String?
    @Option(help: "Number of windows.")
    var nsamples: Int = 32
    @Option(help: "Tokens per window.")
    var seqlen: Int = 512
    @Option(help: "Seed of the window offsets (and of sampled labels).")
    var seed: UInt64 = 100
    @Option(help: "Labels: empirical (the data's next tokens), sampled or sampled:k (from the model's softmax).")
    var fisher: String = "empirical"
    @Option(name: .shortAndLong, help: "Output safetensors file (A.<layer>, G.<layer>), written atomically.")
    var output: String
    @Flag(help: "Replace an existing output file.")
    var overwrite = false
    @Option(name: .customLong("compare-to"), help: "Factors file to compare the result with: prints the largest relative Frobenius difference over the factors.")
    var compareTo: String?

    func validate() throws {
        guard (calib == nil) != (idsFile == nil) else { throw ValidationError("give either --calib FILE or --ids-file FILE") }
        guard nsamples >= 1 else { throw ValidationError("--nsamples must be ≥ 1 (got \(nsamples))") }
        guard seqlen >= 2 else { throw ValidationError("--seqlen must be ≥ 2 (got \(seqlen))") }
        _ = try fisherLabels()
    }

    /// The Fisher labels of `--fisher` (checked in `validate`, before anything loads).
    func fisherLabels() throws -> FisherLabels {
        guard let labels = try? CalibrationInput.fisherLabels(fisher, seed: seed) else {
            throw ValidationError("--fisher must be \(ToolkitError.fisherLabelForms) (got \(fisher))")
        }
        return labels
    }

    /// The output checks, before anything loads: temporaries of dead runs removed, -o outside -m,
    /// an existing -o only with --overwrite, its directory writable.
    func prepareOutput() throws {
        var inputs = [model.model: "-m"], order = [model.model]   // -m checked first
        for (path, flag) in [(calib, "--calib"), (idsFile, "--ids-file"), (compareTo, "--compare-to")] { if let path { inputs[path] = flag; order.append(path) } }
        do {
            for line in try OutputSafety.prepare(output: output, inputs: order, overwrite: overwrite) { printError(line) }
        } catch let e as OutputError {
            throw CommandError(outputMessage(e, output: "-o", inputs: inputs))
        } catch ModelError.outputExists(let p) {
            throw CommandError("\(p) already exists; choose another -o or pass --overwrite")
        }
    }

    func run() throws {
        var flags = model.flags
        if let calib { flags.paths[calib] = "--calib" }
        if let idsFile { flags.paths[idsFile] = "--ids-file" }
        if let compareTo { flags.paths[compareTo] = "--compare-to" }
        flags.fisher = "--fisher"
        flags.output = "-o"
        flags.overwrite = "--overwrite"
        let labels = try fisherLabels()
        try runReportingErrors(flags) {
            // under mpirun: the ranks share the windows, rank 0 gathers the factors and writes them
            try World.start()
            let world = World.current   // on an error: runReportingErrors aborts the job
            if world.isRoot { try prepareOutput() }   // before anything loads
            Parallel.setThreads(model.threads)
            // weights in --dtype (default: the file's own type): a 16-bit model is not widened, its
            // activations, gradients and factors are float32
            let opened = try ModelLoader.open(model.model, requireTokenizer: calib != nil, dtype: model.dtype)
            guard seqlen <= opened.model.contextLength else {
                throw ToolkitError.badInput("--seqlen \(seqlen) exceeds the model's context of \(opened.model.contextLength)")
            }
            let calibration = try calib.map {
                try CalibrationInput.fromText(file: $0, tokenizer: opened.requireTokenizer(), nsamples: nsamples, seqlen: seqlen, seed: seed)
            } ?? CalibrationInput.fromIDsFile(idsFile ?? "", vocabSize: opened.model.config.vocabSize)
            let progress = world.isRoot ? Progress("calibrate", total: calibration.windows.count) : nil
            let t0 = now()
            let factors = try Curvature.estimate(model: opened.model, calibration: calibration, method: .kfac, labels: labels,
                                                 communicator: world, root: 0) {
                progress?.update($0, "\($1) windows")
            }
            let seconds = now() - t0
            if world.isRoot {   // the other ranks hold their share only
                // written to OUT.tmp-<pid> and renamed into place: a failed write (full disk) or an
                // interrupt leaves no partial file, and an existing one is replaced only when complete
                let tmp = (output as NSString).standardizingPath + ".tmp-\(getpid())"
                CleanupOnSignal.install(paths: [tmp])
                try writeAtomically(output, overwrite: overwrite, temporary: tmp) { tmp in
                    try factors.write(to: tmp, metadata: ["model": opened.files.path, "nsamples": String(calibration.windows.count),
                                                          "seqlen": String(seqlen), "seed": String(seed)])
                }
                if let compareTo {
                    let comparison = try FactorComparison(factors, reference: KFACFactors.read(path: compareTo))
                    if let worst = comparison.worst {
                        print(String(format: "largest relative Frobenius difference to %@: %.3e (%@, %d factors compared)",
                                     compareTo, worst.value, worst.name, comparison.relative.count))
                    }
                }
                let ranks = world.size > 1 ? " on \(world.size) ranks" : ""
                printError(String(format: "calibrate: %d windows, %d tokens%@ in %.1f s (%.0f tok/s forward+backward), peak RSS %.0f MiB%@ -> %@",
                                  calibration.windows.count, calibration.tokenCount, ranks, seconds, Double(calibration.tokenCount) / seconds,
                                  Double(peakRSSBytes()) / 1048576, ranks.isEmpty ? "" : " (rank 0)", output))
            }
            World.finish()
        }
    }
}
