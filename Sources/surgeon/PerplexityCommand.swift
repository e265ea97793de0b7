import ArgumentParser
import Foundation
import Runtime
import Tokenize
import Toolkit

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity on a text file: the paper protocol (SparseGPT/Wanda/LLM Surgeon) or llama-perplexity's.")

    @OptionGroup var model: ModelOptions
    @Option(name: .short, help: "Text file, e.g. wikitext-2 wiki.test.raw.")
    var f: String
    @Option(help: "Segment length (paper default: min(2048, the model's context); llamacpp default: -c).")
    var seqlen: Int?
    @Option(name: .customShort("c"), help: "Context of the llamacpp protocol (default: min(512, the model's context)).")
    var ctx: Int?
    @Option(help: "Evaluate only the first K segments.")
    var chunks: Int?
    @Option(name: .customLong("protocol"), help: "paper or llamacpp.")
    var protocolName: String = "paper"
    @Option(name: .customLong("compare-to"), help: "A reference (dense) model: adds KL(reference ‖ model) and top-1 agreement.")
    var compareTo: String?
    @Flag(help: "Print one JSON record.")
    var json = false

    func validate() throws {
        guard PerplexityProtocol(rawValue: protocolName) != nil else { throw ValidationError("--protocol must be paper or llamacpp (got \(protocolName))") }
        if let seqlen, seqlen < 2 { throw ValidationError("--seqlen must be ≥ 2 (got \(seqlen))") }
        if let ctx, ctx < 2 { throw ValidationError("-c must be ≥ 2 (got \(ctx))") }
        if let chunks, chunks < 1 { throw ValidationError("--chunks must be ≥ 1 (got \(chunks))") }
    }

    func run() throws {
        var flags = model.flags
        flags.paths[f] = "-f"
        if let compareTo { flags.paths[compareTo] = "--compare-to" }
        flags.seqlen = seqlen == nil && ctx != nil ? "-c" : "--seqlen"
        try runReportingErrors(flags) {
            Parallel.setThreads(model.threads)
            let proto = PerplexityProtocol(rawValue: protocolName) ?? .paper
            let opened = try ModelLoader.open(model.model, requireTokenizer: true, dtype: model.dtype)
            let tokenizer = try opened.requireTokenizer()
            let reference = try compareTo.map { try ModelLoader.open($0, dtype: model.dtype).model }
            let L = seqlen ?? ctx ?? PerplexityCommand.defaultSeqlen(proto, context: opened.model.contextLength)
            let tokens = try EvalText.tokens(file: f, protocol: proto, tokenizer: tokenizer)
            var ev = PerplexityEvaluator(model: opened.model, seqlen: L, protocol: proto,
                                         bos: proto == .llamacpp && tokenizer.addsBOS ? tokenizer.bosId : nil, reference: reference)
            ev.logitRows = 256
            let total = min(chunks ?? Int.max, tokens.count / L)
            let progress = Progress("perplexity", total: max(total, 1))
            let r = try ev.run(tokens: tokens, maxSegments: chunks) { done, _, ppl in
                progress.update(done, String(format: "PPL %.4f", ppl))
            }
            var line = String(format: "PPL = %.4f +/- %.5f | %d tokens, %d segments of %d, %d scored, protocol %@, %.1f s",
                              r.ppl, r.stderr, r.tokens, r.segments, r.seqlen, r.scored, r.protocolName, r.seconds)
            if let kl = r.kl {
                line += String(format: " | KL mean %.6f, p99 %.6f, top-1 agree %.4f", kl.mean, kl.p99, kl.top1Agreement)
            }
            // the result once, on stdout (the progress went to stderr)
            print(json ? try PerplexityRecord(r).json() : line)
        }
    }

    /// The segment length when neither --seqlen nor -c is given: the protocol's usual length
    /// (2048 for the paper, 512 for llama.cpp), cut to the model's context.
    static func defaultSeqlen(_ proto: PerplexityProtocol, context: Int) -> Int {
        min(proto == .paper ? 2048 : 512, context)
    }
}

/// The `--json` record of a perplexity run. Encoding refuses NaN/Inf (JSONEncoder's default), so a
/// non-finite value is an error, never `{}`.
struct PerplexityRecord: Encodable {
    var ppl, stderr, seconds: Double
    var tokens, segments, seqlen, scored: Int
    var `protocol`: String
    var klMean, klP99, top1Agree: Double?

    init(_ r: PerplexityResult) {
        ppl = r.ppl
        stderr = r.stderr
        seconds = r.seconds
        tokens = r.tokens
        segments = r.segments
        seqlen = r.seqlen
        scored = r.scored
        `protocol` = r.protocolName
        klMean = r.kl?.mean
        klP99 = r.kl?.p99
        top1Agree = r.kl?.top1Agreement
    }

    enum CodingKeys: String, CodingKey {
        case ppl, stderr, seconds, tokens, segments, seqlen, scored, `protocol`
        case klMean = "kl_mean", klP99 = "kl_p99", top1Agree = "top1_agree"
    }

    /// One line of JSON, keys sorted.
    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
