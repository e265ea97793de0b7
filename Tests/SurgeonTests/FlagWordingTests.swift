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

    func testPathsNameTheFlagThatGaveThem() {
        let flags = FlagNames(paths: ["/m": "-m", "/t.txt": "-f"])
        XCTAssertEqual(errorMessage(ModelError.fileNotFound(path: "/t.txt"), flags: flags),
                       "/t.txt: no such file or directory. Check the path given with -f.")
        XCTAssertEqual(errorMessage(ModelError.fileNotFound(path: "/m/config.json"), flags: flags),
                       "\(ModelError.fileNotFound(path: "/m/config.json"))")
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
