import ArgumentParser
import Foundation
import Runtime

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "One-shot completion from token ids (--ids) or text (-p).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(name: .customLong("ids"), help: "Prompt token ids, comma-separated.")
    var ids: String?

    @Option(name: .short, help: "Number of tokens to generate.")
    var n: Int = 64

    @Option(name: .customLong("ctx"), help: "Context size (default: the model's maximum).")
    var ctx: Int?

    @Flag(help: "Print one JSON record instead of text.")
    var json = false

    func validate() throws {
        guard n >= 0 else { throw ValidationError("-n must be ≥ 0 (got \(n))") }
        if let ctx, ctx < 1 { throw ValidationError("--ctx must be ≥ 1 (got \(ctx))") }
        guard ids != nil else { throw ValidationError("give a prompt with --ids") }
    }

    func run() throws {
        try runReportingErrors {
            Parallel.setThreads(model.threads)
            let files = try ModelFiles.open(model.model)
            let lm = try loadModel(files)
            let prompt = try parseIDs(ids ?? "")
            guard !prompt.isEmpty else { throw ValidationError("--ids is empty") }
            let session = InferenceSession(model: lm, capacity: ctx)
            if prompt.count + n > session.cache.capacity {
                throw InferenceError.contextOverflow(needed: prompt.count + n, capacity: session.cache.capacity)
            }
            var sampler = Sampler(sampling.params)
            let stop = Set(lm.config.eosTokenIds.map { Int32($0) })
            let (out, stats) = try generate(session: session, prompt: prompt, maxTokens: n, sampler: &sampler, stop: stop) { id in
                if !json { print(id, terminator: " "); fflush(stdout) }
                return true
            }
            if json {
                print(jsonLine(["prompt_ids": prompt.map(Int.init), "ids": out.map(Int.init),
                                "prompt_tps": stats.promptTPS, "gen_tps": stats.generateTPS]))
            } else {
                if let last = out.last, stop.contains(last) { print(last) } else { print() }
            }
            printError(stats.summary)
        }
    }
}
