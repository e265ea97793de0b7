import ArgumentParser
import Foundation
import Runtime
import Tokenize
import Toolkit

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "One-shot completion from token ids (--ids) or text (-p).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(name: .customLong("ids"), help: "Prompt token ids, comma-separated.")
    var ids: String?

    @Option(name: .shortAndLong, help: "Prompt text (encoded with the model's tokenizer and its default special tokens).")
    var prompt: String?

    @Option(name: .short, help: "Number of tokens to generate.")
    var n: Int = 64

    @Option(name: .customLong("ctx"), help: "Context size (default: what the prompt and -n need, up to the model's maximum).")
    var ctx: Int?

    @Flag(help: "Print one JSON record instead of text.")
    var json = false

    func validate() throws {
        guard n >= 0 else { throw ValidationError("-n must be ≥ 0 (got \(n))") }
        if let ctx, ctx < 1 { throw ValidationError("--ctx must be ≥ 1 (got \(ctx))") }
        guard (ids == nil) != (prompt == nil) else { throw ValidationError("give a prompt with either -p TEXT or --ids 1,2,3") }
    }

    func run() throws {
        var flags = model.flags
        flags.context = "--ctx"
        flags.generated = "-n"
        flags.ids = "--ids"
        try runReportingErrors(flags) {
            Parallel.setThreads(model.threads)
            let opened = try ModelLoader.open(model.model, requireTokenizer: self.prompt != nil)
            let lm = opened.model
            let tokenizer = opened.tokenizer
            let prompt = try self.prompt.map { tokenizer?.encode($0, addSpecialTokens: true) ?? [] } ?? parseIDs(ids ?? "")
            guard !prompt.isEmpty else { throw ValidationError("the prompt is empty") }
            // The KV cache is sized by what this run uses, not by the context the file declares.
            let session = InferenceSession(model: lm, capacity: ctx ?? prompt.count + min(n, lm.contextLength))
            if prompt.count + n > session.cache.capacity {
                throw InferenceError.contextOverflow(needed: prompt.count + n, capacity: session.cache.capacity)
            }
            var sampler = Sampler(sampling.params)
            let stop = opened.stopIds
            let textMode = self.prompt != nil
            var detok = tokenizer.map { StreamingDetokenizer(tokenizer: $0, skipSpecialTokens: true) }
            if textMode && !json { print(self.prompt ?? "", terminator: ""); flushStdout() }
            let (out, stats) = try generate(session: session, prompt: prompt, maxTokens: n, sampler: &sampler, stop: stop) { id in
                if !json {
                    if textMode { print(detok?.append(id) ?? "", terminator: "") } else { print(id, terminator: " ") }
                    flushStdout()
                }
                return true
            }
            if textMode && !json { print(detok?.finish() ?? "", terminator: "") }
            if json {
                var record: [String: Any] = ["prompt_ids": prompt.map(Int.init), "ids": out.map(Int.init),
                                             "prompt_tps": stats.promptTPS, "gen_tps": stats.generateTPS]
                if let tokenizer, textMode { record["text"] = tokenizer.decode(out, skipSpecialTokens: true) }
                print(jsonLine(record))
            } else if !textMode, let last = out.last, stop.contains(last) {
                print(last)
            } else {
                print()
            }
            printError(stats.summary)
        }
    }
}
