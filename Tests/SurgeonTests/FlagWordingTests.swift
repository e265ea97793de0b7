import Foundation
import XCTest
import Runtime
import Toolkit
@testable import surgeon

/// Errors from below the CLI name the running command's flags, and only flags it has.
final class FlagWordingTests: XCTestCase {
    let generate = FlagNames(paths: ["/m": "-m"], context: "--ctx", generated: "-n", ids: "--ids")

    func testContextOverflowNamesTheCommandsFlags() {
        let e = InferenceError.contextOverflow(needed: 9, capacity: 8)
        XCTAssertEqual(errorMessage(e, flags: generate), "the sequence needs 9 positions but the context holds 8; "
                       + "shorten the prompt, lower -n, or raise --ctx (up to the model's max_position_embeddings)")
        XCTAssertEqual(errorMessage(e, flags: FlagNames(promptLength: "-p", generated: "-n")),
                       "the sequence needs 9 positions but the context holds 8; lower -p or lower -n")
        XCTAssertEqual(errorMessage(e, flags: FlagNames()), "\(e)")
    }

    /// Issue 20: file errors named the wrong flag, said "cannot be read" for writes and dumped raw
    /// NSError text for a full or read-only disk. Every one names the operation, the path and its flag.
    func testFileErrorsNameTheOperationThePathAndItsFlag() {
        let flags = FlagNames(paths: ["/m": "-m", "/t.txt": "-f", "/ids.json": "--ids-file", "/o": "-o"], output: "-o")
        XCTAssertEqual(errorMessage(ModelError.fileNotFound(path: "/t.txt"), flags: flags),
                       "cannot read /t.txt given with -f: no such file or directory; check the path")
        XCTAssertEqual(errorMessage(FileOperationError(.read, path: "/ids.json", code: EACCES), flags: flags),
                       "cannot read /ids.json given with --ids-file: permission denied; check its permissions")
        XCTAssertEqual(errorMessage(ModelError.fileNotFound(path: "/m/config.json"), flags: flags),
                       "cannot read /m/config.json (for -m /m): no such file or directory; check the path")
        XCTAssertEqual(errorMessage(ModelError.unreadable(path: "/m/model.safetensors", reason: "Permission denied"), flags: flags),
                       "cannot read /m/model.safetensors (for -m /m): permission denied")
        XCTAssertEqual(errorMessage(FileOperationError(.write, path: "/o.tmp-12/model.safetensors", code: ENOSPC), flags: flags),
                       "cannot write /o.tmp-12/model.safetensors (for -o /o): no space left on device; free some space or choose another -o")
        XCTAssertEqual(errorMessage(FileOperationError(.write, path: "/o", code: EROFS), flags: flags),
                       "cannot write /o given with -o: read-only file system; choose another -o")
        // a write error naming no file is the output's; a path no flag gave is still named
        XCTAssertEqual(errorMessage(POSIXError(.ENOSPC), flags: flags),
                       "cannot write /o given with -o: no space left on device; free some space or choose another -o")
        XCTAssertEqual(errorMessage(ModelError.fileNotFound(path: "/elsewhere"), flags: flags),
                       "cannot read /elsewhere: no such file or directory; check the path")
    }

    /// Foundation's own errors (a real full disk: /dev/full; a read-only volume) are worded, not dumped.
    func testFoundationFileErrorsAreWorded() throws {
        let flags = FlagNames(paths: ["/dev/full": "-o"], output: "-o")
        XCTAssertThrowsError(try Data(count: 4096).write(to: URL(fileURLWithPath: "/dev/full"))) { e in
            XCTAssertEqual(errorMessage(e, flags: flags),
                           "cannot write /dev/full given with -o: no space left on device; free some space or choose another -o")
        }
        let ro = CocoaError(.fileWriteVolumeReadOnly, userInfo: [NSFilePathErrorKey: "/ro/out/config.json"])
        XCTAssertEqual(errorMessage(ro, flags: FlagNames(paths: ["/ro/out": "-o"], output: "-o")),
                       "cannot write /ro/out/config.json (for -o /ro/out): read-only file system; choose another -o")
    }

    func testRelativeAndAbsoluteSpellingsOfAPathMatch() {
        let cwd = FileManager.default.currentDirectoryPath
        let flags = FlagNames(paths: FlagNames.given([("out", "-o"), (nil, "--calib"), ("./data/c.txt", "--calib"), ("out", "-m")]))
        XCTAssertEqual(flags.paths, ["out": "-o", "./data/c.txt": "--calib"])
        XCTAssertEqual(flags.source(of: cwd + "/out.tmp-5/x")?.flag, "-o")
        XCTAssertEqual(flags.source(of: cwd + "/data/c.txt")?.flag, "--calib")
        XCTAssertNil(flags.source(of: cwd + "/outer"))
    }

    func testToolkitAndEvalErrors() {
        XCTAssertTrue(errorMessage(ToolkitError.noTokenizer("/m"), flags: generate).hasSuffix("pass token ids with --ids instead"))
        XCTAssertFalse(errorMessage(ToolkitError.noTokenizer("/m"), flags: FlagNames(paths: ["/m": "-m"])).contains("--"))
        XCTAssertEqual(errorMessage(ToolkitError.badFisherLabels("x"), flags: FlagNames(fisher: "--fisher")),
                       "--fisher must be empirical, sampled or sampled:k with 1 ≤ k ≤ 1000 (got x)")
        XCTAssertEqual(errorMessage(ToolkitError.messageTooLong(tokens: 9, context: 8), flags: FlagNames(context: "--ctx")),
                       "the message needs 9 tokens but the context holds 8; shorten it or raise --ctx")
        XCTAssertEqual(errorMessage(EvalError.badSeqlen(4096, max: 512), flags: FlagNames(seqlen: "--seqlen")),
                       "--seqlen 4096 must be between 2 and the model's context length 512")
        XCTAssertEqual(errorMessage(EvalError.tooFewTokens(tokens: 5, seqlen: 64), flags: FlagNames(seqlen: "-c")),
                       "the text has 5 tokens, fewer than one segment of 64: use a longer file or a smaller -c")
        XCTAssertEqual(errorMessage(ModelError.outputExists(path: "/o"), flags: FlagNames(output: "-o", overwrite: "--overwrite")),
                       "/o already exists; choose another -o or pass --overwrite")
    }

    func testEverySamplingSettingHasItsFlag() {
        XCTAssertEqual([SamplingError.Setting.temperature, .topK, .topP, .minP, .repeatPenalty, .repeatLastN].map(samplingFlag),
                       ["--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n"])
    }
}
