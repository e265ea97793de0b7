import Runtime
import Toolkit

/// The flags of one command that error messages may name. Runtime and Toolkit errors carry
/// values and speak of parameters ("a larger context"); here they become flags ("raise --ctx"),
/// but only flags the running command has.
struct FlagNames {
    /// Paths as given, each with the flag that gave it (`-m`, `-f`, `--calib`, ...).
    var paths: [String: String] = [:]
    /// Context size in tokens (`--ctx`).
    var context: String?
    /// Prompt length of a synthetic prompt (`-p` of bench).
    var promptLength: String?
    /// Number of tokens to generate (`-n`).
    var generated: String?
    /// Segment length of an evaluation (`--seqlen`).
    var seqlen: String?
    /// Prompt token ids instead of text (`--ids`).
    var ids: String?
    /// Fisher labels (`--fisher`).
    var fisher: String?
    /// Output path and the flag that allows replacing it (`-o`, `--overwrite`).
    var output: String?
    var overwrite: String?
}

/// The message printed for `error`: worded with the command's flags where the error is one the
/// CLI knows to be caused by a flag, else the error's own description.
func errorMessage(_ error: any Error, flags: FlagNames) -> String {
    switch error {
    case ModelError.fileNotFound(let p):
        if let flag = flags.paths[p] { return "\(p): no such file or directory. Check the path given with \(flag)." }
    case ModelError.outputExists(let p):
        if let overwrite = flags.overwrite {
            return "\(p) already exists; choose another \(flags.output ?? "output path") or pass \(overwrite)"
        }
    case InferenceError.contextOverflow(let n, let c):
        let hints = [flags.promptLength.map { "lower \($0)" } ?? "shorten the prompt",
                     flags.generated.map { "lower \($0)" }, flags.context.map { "raise \($0)" }].compactMap { $0 }
        if hints.count > 1 {
            return "the sequence needs \(n) positions but the context holds \(c); \(alternatives(hints))"
                + (flags.context != nil ? " (up to the model's max_position_embeddings)" : "")
        }
    case EvalError.tooFewTokens(let t, let s):
        if let seqlen = flags.seqlen {
            return "the text has \(t) tokens, fewer than one segment of \(s): use a longer file or a smaller \(seqlen)"
        }
    case EvalError.badSeqlen(let s, let m):
        if let seqlen = flags.seqlen { return "\(seqlen) \(s) must be between 2 and the model's context length \(m)" }
    case ToolkitError.noTokenizer(let p):
        if let ids = flags.ids {
            return "\(p) has no tokenizer (expected \(ToolkitError.tokenizerSources)); pass token ids with \(ids) instead"
        }
    case ToolkitError.badFisherLabels(let s):
        if let fisher = flags.fisher { return "\(fisher) must be \(ToolkitError.fisherLabelForms) (got \(s))" }
    case ToolkitError.messageTooLong(let n, let c):
        if let ctx = flags.context { return "the message needs \(n) tokens but the context holds \(c); shorten it or raise \(ctx)" }
    default:
        break
    }
    return "\(error)"
}

/// "a or b", "a, b, or c".
private func alternatives(_ items: [String]) -> String {
    guard items.count > 2, let last = items.last else { return items.joined(separator: " or ") }
    return items.dropLast().joined(separator: ", ") + ", or " + last
}

/// The sampling flags (see `SamplingOptions`) of each sampling setting.
func samplingFlag(_ setting: SamplingError.Setting) -> String {
    switch setting {
    case .temperature: return "--temp"
    case .topK: return "--top-k"
    case .topP: return "--top-p"
    case .minP: return "--min-p"
    case .repeatPenalty: return "--repeat-penalty"
    case .repeatLastN: return "--repeat-last-n"
    }
}
