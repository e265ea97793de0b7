import Foundation
import Runtime
import Tokenize
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

    /// The path as given and its flag, for `path` itself or a file within or beside it (a model
    /// directory's config.json, an output's `OUT.tmp-<pid>/` or `OUT.partial/`); nil for a path no
    /// flag gave. Relative and absolute spellings of one path match.
    func source(of path: String) -> (given: String, flag: String)? {
        if let flag = paths[path] { return (path, flag) }
        let p = absolute(path)
        // the longest given path first: -o out/x is a closer source of out/x/y than -m out
        for (given, flag) in paths.sorted(by: { $0.key.count > $1.key.count }) {
            let g = absolute(given)
            if p == g || [g + "/", g + ".tmp-", g + ".partial", g + ".old-"].contains(where: { p.hasPrefix($0) }) {
                return (given, flag)
            }
        }
        return nil
    }

    /// Paths with the flags that gave them, leaving out flags not given; a path given twice keeps its first flag.
    static func given(_ pairs: [(path: String?, flag: String)]) -> [String: String] {
        Dictionary(pairs.compactMap { p in p.path.map { ($0, p.flag) } }, uniquingKeysWith: { first, _ in first })
    }

    private func absolute(_ path: String) -> String {
        let p = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return (p as NSString).standardizingPath
    }
}

/// The message printed for `error`: worded with the command's flags where the error is one the
/// CLI knows to be caused by a flag, else the error's own description.
func errorMessage(_ error: any Error, flags: FlagNames) -> String {
    if let failure = fileFailure(error) { return fileMessage(failure, flags: flags) }
    switch error {
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

/// The failed file operation inside `error`, when it is one: a model or tokenizer file that cannot
/// be read, a `FileOperationError`, or a file error Foundation threw.
func fileFailure(_ error: any Error) -> FileOperationError? {
    switch error {
    case ModelError.fileNotFound(let p): return FileOperationError(.read, path: p, code: ENOENT)
    case ModelError.unreadable(let p, let r): return FileOperationError(.read, path: p, code: 0, detail: lowercasedFirst(r))
    case TokenizerError.fileUnreadable(let p, let r): return FileOperationError(.read, path: p, code: 0, detail: lowercasedFirst(r))
    default: return FileOperationError(foundation: error)
    }
}

/// "cannot write out.tmp-7/model.safetensors (for -o out): no space left on device; free some space
/// or choose another -o": the operation, the path with the flag that gave it, the reason, what to do.
func fileMessage(_ f: FileOperationError, flags: FlagNames) -> String {
    var path = f.path
    if path.isEmpty, f.operation == .write, let out = flags.output, let given = flags.paths.first(where: { $0.value == out })?.key {
        path = given   // a write error that names no file (a failed write(2)): the output's
    }
    var s = "cannot \(f.operation.rawValue) \(path.isEmpty ? "a file" : path)"
    var flag: String?
    if let source = flags.source(of: path) {
        flag = source.flag
        s += source.given == path ? " given with \(source.flag)" : " (for \(source.flag) \(source.given))"
    } else if f.operation == .write, let out = flags.output {
        flag = out   // a command writes only its output
        s += " (for \(out))"
    }
    s += ": \(f.reason)"
    if let advice = fileAdvice(f, flag: flag) { s += "; \(advice)" }
    return s
}

/// What to do about a failed file operation, in the flag's words where a flag gave the path.
private func fileAdvice(_ f: FileOperationError, flag: String?) -> String? {
    let another = flag.map { "choose another \($0)" } ?? "choose another path"
    switch (f.operation, f.code) {
    case (.read, ENOENT): return "check the path"
    case (.read, EACCES), (.read, EPERM): return "check its permissions"
    case (.read, EISDIR): return "give a file, not a directory"
    case (.write, ENOSPC), (.write, EDQUOT): return "free some space or \(another)"
    case (.write, EROFS): return another
    case (.write, EACCES), (.write, EPERM): return "\(another) (a writable location) or check the permissions"
    case (.write, ENOENT): return "its directory does not exist: create it or \(another)"
    case (.write, EISDIR), (.write, EEXIST): return another
    default: return nil
    }
}

private func lowercasedFirst(_ s: String) -> String { s.prefix(1).lowercased() + s.dropFirst() }

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
