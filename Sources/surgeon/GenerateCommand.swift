import ArgumentParser
import Foundation
import Runtime
import Tokenize
import Toolkit

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "One-shot completion of a text (-p TEXT, -f FILE, or -p - for standard input) or of token ids (--ids).")

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(name: .customLong("ids"), help: "Prompt token ids, comma-separated.")
    var ids: String?

    @Option(name: .shortAndLong, parsing: .unconditional,
            help: "Prompt text (encoded with the model's tokenizer and its default special tokens); - reads it from standard input.")
    var prompt: String?

    @Option(name: [.customShort("f"), .customLong("prompt-file")], help: "Read the prompt text from this file (one trailing newline dropped).")
    var promptFile: String?

    @Option(name: .short, help: "Number of tokens to generate; -1: until the end of the text or of the context.")
    var n: Int = 64

    @Option(name: .customLong("ctx"), help: "Context size (default: what the prompt and -n need, up to the model's maximum).")
    var ctx: Int?

    @Flag(help: "Print one JSON record instead of text.")
    var json = false

    func validate() throws {
        guard n >= -1 else { throw ValidationError("-n must be ≥ 0, or -1 for until the end of the text or of the context (got \(n))") }
        if let ctx, ctx < 1 { throw ValidationError("--ctx must be ≥ 1 (got \(ctx))") }
        guard [ids != nil, prompt != nil, promptFile != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give the prompt once: -p TEXT, -p - (standard input), -f FILE, or --ids 1,2,3")
        }
    }

    /// The prompt's text (nil for --ids), read before the model loads so a bad -f fails at once.
    func promptText() throws -> String? {
        if let promptFile { return try PromptText.read(file: promptFile) }
        if prompt == "-" { return try PromptText.readStandardInput() }
        return prompt
    }

    func run() throws {
        var flags = model.flags
        flags.context = "--ctx"
        flags.generated = "-n"
        flags.ids = "--ids"
        if let promptFile { flags.paths[promptFile] = "-f" }
        if prompt == "-" { flags.paths[PromptText.standardInput] = "-p -" }
        try runReportingErrors(flags) {
            let text = try promptText()
            Parallel.setThreads(model.threads)
            let opened = try ModelLoader.open(model.model, requireTokenizer: text != nil, dtype: model.dtype)
            let lm = opened.model
            let tokenizer = opened.tokenizer
            let prompt = try text.map { tokenizer?.encode($0, addSpecialTokens: true) ?? [] } ?? parseIDs(ids ?? "")
            guard !prompt.isEmpty else { throw ValidationError("the prompt is empty") }
            // The KV cache is sized by what this run uses, not by the context the file declares.
            let context = lm.contextLength, asked = n < 0 ? context : min(n, context)   // min: no overflow for huge -n
            let session = InferenceSession(model: lm, capacity: ctx ?? min(prompt.count + asked, context))
            let capacity = session.cache.capacity
            let sum = prompt.count.addingReportingOverflow(max(n, 1))   // -1 needs room for one token at least
            let needed = sum.overflow ? Int.max : sum.partialValue
            if needed > capacity { throw InferenceError.contextOverflow(needed: needed, capacity: capacity) }
            let maxTokens = n < 0 ? capacity - prompt.count : n
            var sampler = Sampler(sampling.params)
            sampling.reportDrawnSeed()
            let stop = opened.stopIds
            let textMode = text != nil
            // the continuation is decoded after the prompt: SentencePiece keeps its first space
            var detok = tokenizer.map { StreamingDetokenizer(tokenizer: $0, skipSpecialTokens: true, after: prompt) }
            if textMode && !json { print(text ?? "", terminator: ""); flushStdout() }
            let (out, stats) = try generate(session: session, prompt: prompt, maxTokens: maxTokens, sampler: &sampler, stop: stop) { id in
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
                if let tokenizer, textMode {
                    record["text"] = StreamingDetokenizer.continuation(of: prompt, out, tokenizer: tokenizer)
                }
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
