import CFuzzer
import Foundation
import Runtime
import TestSupport
import Tokenize

/// What every fuzz target shares: a scratch directory for inputs that the loaders read from a
/// path, the seed-writing mode, and the work done on whatever loaded (a forward pass, a
/// tokenizer round trip) so that a loader accepting an inconsistent file shows up as a crash.
/// Errors are the expected outcome of a bad input and are swallowed; traps, sanitizer reports,
/// timeouts and oversized allocations are findings.
public enum Harness {
    /// Per-process scratch directory: `$SURGEON_FUZZ_SCRATCH/<pid>` (scripts/fuzz.sh sets it
    /// under /dev/shm and removes it), else the temporary directory.
    public static let scratch: String = {
        let env = ProcessInfo.processInfo.environment
        let base = env["SURGEON_FUZZ_SCRATCH"] ?? NSTemporaryDirectory()
        let dir = (base as NSString).appendingPathComponent("surgeon-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// The shared fixtures (`$SURGEON_FIXTURES`, else ../shared/fixtures beside the package).
    public static let fixtures: String = {
        ProcessInfo.processInfo.environment["SURGEON_FIXTURES"] ?? Fixtures.fixtures.path
    }()

    /// A directory `name` inside the scratch directory (created once).
    public static func directory(_ name: String) -> String {
        let d = (scratch as NSString).appendingPathComponent(name)
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Writes `bytes` to `path` (replacing it).
    public static func write(_ bytes: Data, to path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: bytes)
    }

    /// The target's `main` (SwiftPM links an executable's `main` to `<module>_main`): libFuzzer's
    /// driver with `testOne` as `LLVMFuzzerTestOneInput`.
    public static func main(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                            _ testOne: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32 {
        var c = argc
        var v: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&c, &v, testOne)
    }

    /// `LLVMFuzzerInitialize`: with `SURGEON_FUZZ_SEEDS=DIR` set, writes the target's seed corpus
    /// into DIR and exits (scripts/fuzz.sh does this before fuzzing).
    public static func initialize(seeds: (String) throws -> Void) {
        guard let dir = ProcessInfo.processInfo.environment["SURGEON_FUZZ_SEEDS"] else { return }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try seeds(dir)
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("seed writing failed: \(error)\n".utf8))
            exit(1)
        }
    }

    /// `SURGEON_FUZZ_VERBOSE=1`: print each input's outcome (to check that the seeds load).
    static let verbose = ProcessInfo.processInfo.environment["SURGEON_FUZZ_VERBOSE"] != nil

    /// `LLVMFuzzerTestOneInput`: runs `body` on the input, swallowing thrown errors.
    public static func run(_ data: UnsafePointer<UInt8>?, _ size: Int, _ body: (Data) throws -> Void) -> Int32 {
        let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
        do {
            try body(bytes)
            if verbose { FileHandle.standardError.write(Data("input of \(size) bytes: loaded\n".utf8)) }
        } catch {
            if verbose { FileHandle.standardError.write(Data("input of \(size) bytes: \(error)\n".utf8)) }
        }
        return 0
    }

    /// The input cut at NUL bytes into at most `count` parts (several files from one input).
    public static func parts(_ bytes: Data, count: Int) -> [Data] { FuzzCrashers.parts(bytes, count: count) }

    /// What a command does with a freshly loaded model: a two-token forward and the logits.
    public static func exercise(_ model: CausalLM) throws {
        let v = model.config.vocabSize
        let session = InferenceSession(model: model, capacity: 4)
        let logits = try session.feed([0, Int32(v - 1)])
        _ = logits.reduce(0, +)
    }

    /// What the commands do with a tokenizer: encode text (special tokens parsed or not), decode
    /// every id it has (bounded) and a few it does not, stream-decode the encoding.
    public static func exercise(_ t: any Tokenizer) {
        let samples = ["Hello world", " Once upon a time, 12345 \n\n\t", "héllo wörld 日本語 🙂", "<|im_start|>user\nhi<|im_end|>",
                       "<s></s><unk>", ""]
        for s in samples {
            for parse in [false, true] {
                let ids = t.encode(s, addSpecialTokens: true, parseSpecialTokens: parse)
                _ = t.decode(ids)
                _ = t.decode(ids, skipSpecialTokens: true)
                var d = StreamingDetokenizer(tokenizer: t)
                for id in ids { _ = d.append(id) }
                _ = d.finish()
            }
        }
        let n = min(t.vocabSize, 2048)
        let ids = (0..<n).map { Int32($0) } + [-1, Int32(t.vocabSize), Int32.max, Int32.min]
        for id in ids {
            _ = t.piece(for: id)
            _ = t.isSpecial(id)
        }
        _ = t.decode(ids)
        for (piece, _) in t.specialTokens.prefix(64) { _ = t.tokenId(for: piece) }
        _ = t.stopIds
    }
}
