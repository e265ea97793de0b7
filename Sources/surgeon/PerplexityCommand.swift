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
    @Option(help: "Segment length (paper default 2048; llamacpp default: -c).")
    var seqlen: Int?
    @Option(name: .customShort("c"), help: "Context of the llamacpp protocol (default 512).")
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
            let opened = try ModelLoader.open(model.model, requireTokenizer: true)
            let tokenizer = try opened.requireTokenizer()
            let reference = try compareTo.map { try ModelLoader.open($0).model }
            let L = seqlen ?? ctx ?? (proto == .paper ? 2048 : 512)
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
            printError(line)
            if json {
                var rec: [String: Any] = ["ppl": r.ppl, "stderr": r.stderr, "tokens": r.tokens, "segments": r.segments,
                                          "seqlen": r.seqlen, "protocol": r.protocolName, "seconds": r.seconds, "scored": r.scored]
                if let kl = r.kl { rec["kl_mean"] = kl.mean; rec["kl_p99"] = kl.p99; rec["top1_agree"] = kl.top1Agreement }
                print(jsonLine(rec))
            } else {
                print(line)
            }
        }
    }
}
