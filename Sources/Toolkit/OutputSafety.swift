import Foundation
import Runtime

/// Why an output path is refused before any work. Messages name parameters (`output`, `model`);
/// the CLI words them with its flags.
public enum OutputError: Error, CustomStringConvertible, Equatable {
    /// The output is the input model itself or a path inside it (writing would replace or mix
    /// into the model being read). Paths as resolved, symlinks followed.
    case insideInput(output: String, input: String)
    /// The input model lies inside the output (replacing the output would delete it).
    case containsInput(output: String, input: String)
    /// The output's directory cannot hold it: `blocker` (the output's nearest existing ancestor)
    /// is not a directory, or is not writable; `reason` says which.
    case notWritable(output: String, blocker: String, reason: String)

    public var description: String {
        switch self {
        case .insideInput(let o, let i):
            return "the output \(o) is the input model \(i) or inside it; write the output elsewhere (overwrite does not allow this)"
        case .containsInput(let o, let i):
            return "the input model \(i) lies inside the output \(o), which replacing it would delete; write the output elsewhere"
        case .notWritable(let o, let b, let r):
            return "cannot write the output \(o): \(b) \(r)"
        }
    }
}

/// Checks and housekeeping of an output path, done before a command loads anything; the writes
/// themselves go through `writeAtomically` (a temporary sibling `OUT.tmp-<pid>` renamed into place).
public enum OutputSafety {
    /// `path` made absolute and standardized, every symlink of its longest existing prefix
    /// resolved (the rest, not yet created, appended as given).
    public static func resolved(_ path: String) -> String {
        var absolute = path
        if !absolute.hasPrefix("/") { absolute = FileManager.default.currentDirectoryPath + "/" + absolute }
        var existing = (absolute as NSString).standardizingPath
        var rest: [String] = []
        while true {
            if let real = realPath(existing) {
                return rest.reversed().reduce(real) { ($0 as NSString).appendingPathComponent($1) }
            }
            let parent = (existing as NSString).deletingLastPathComponent
            if parent == existing || parent.isEmpty { return (absolute as NSString).standardizingPath }
            rest.append((existing as NSString).lastPathComponent)
            existing = parent
        }
    }

    private static func realPath(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    /// Refuses an output equal to or inside any input (a model directory or file), and an input
    /// inside the output; compared as resolved real paths.
    public static func checkPlacement(output: String, inputs: [String]) throws {
        let o = resolved(output)
        for input in inputs {
            let i = resolved(input)
            if o == i || o.hasPrefix(i.hasSuffix("/") ? i : i + "/") { throw OutputError.insideInput(output: output, input: input) }
            if i.hasPrefix(o.hasSuffix("/") ? o : o + "/") { throw OutputError.containsInput(output: output, input: input) }
        }
    }

    /// Refuses an output whose directory cannot be created or written: its nearest existing
    /// ancestor must be a writable directory.
    public static func checkWritable(output: String) throws {
        let fm = FileManager.default
        var dir = ((resolved(output)) as NSString).deletingLastPathComponent
        while !fm.fileExists(atPath: dir) {
            let parent = (dir as NSString).deletingLastPathComponent
            if parent == dir { break }
            dir = parent
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw OutputError.notWritable(output: output, blocker: dir, reason: "is not a directory")
        }
        if access(dir, W_OK | X_OK) != 0 {
            let reason = errno == EROFS ? "is on a read-only file system" : "is not writable (\(String(cString: strerror(errno))))"
            throw OutputError.notWritable(output: output, blocker: dir, reason: reason)
        }
    }

    /// Whether process `pid` exists (kill(pid, 0) fails with ESRCH only when it does not).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return true }   // 0 and negatives name process groups: never treat as dead
        return kill(pid, 0) == 0 || errno != ESRCH
    }

    /// Removes what dead processes left beside `output`: temporaries `OUT.tmp-<pid>` (files or
    /// directories), and `OUT.old-<pid>` (the previous output, moved aside just before the rename):
    /// put back as OUT when OUT is missing, else removed. Entries of live processes are kept.
    /// Returns a line per entry dealt with.
    @discardableResult
    public static func removeStaleTemporaries(of output: String) -> [String] {
        let fm = FileManager.default
        let target = (output as NSString).standardizingPath
        let dir = (target as NSString).deletingLastPathComponent
        let base = (target as NSString).lastPathComponent
        guard !base.isEmpty, let names = try? fm.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return [] }
        var done: [String] = []
        for name in names.sorted() {
            for kind in [".tmp-", ".old-"] where name.hasPrefix(base + kind) {
                guard let pid = Int32(name.dropFirst(base.count + kind.count)), pid != getpid(), !isAlive(pid) else { continue }
                let path = (dir as NSString).appendingPathComponent(name)
                if kind == ".old-" && !fm.fileExists(atPath: target) {
                    if (try? fm.moveItem(atPath: path, toPath: target)) != nil { done.append("restored \(target) from \(path) (left by dead process \(pid))") }
                } else if (try? fm.removeItem(atPath: path)) != nil {
                    done.append("removed \(path) (left by dead process \(pid))")
                }
            }
        }
        return done
    }

    /// The checks every writing command runs before loading: stale temporaries removed, the output
    /// placed outside the inputs, an existing output refused unless `overwrite`, its directory writable.
    /// Returns the housekeeping lines of `removeStaleTemporaries`.
    @discardableResult
    public static func prepare(output: String, inputs: [String], overwrite: Bool) throws -> [String] {
        try checkPlacement(output: output, inputs: inputs)
        let done = removeStaleTemporaries(of: output)
        if FileManager.default.fileExists(atPath: output) && !overwrite {
            throw ModelError.outputExists(path: (output as NSString).standardizingPath)
        }
        try checkWritable(output: output)
        return done
    }
}
