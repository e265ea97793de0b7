import Foundation
import XCTest
import Runtime
import Toolkit
import TestSupport
@testable import surgeon

/// The CLI rough edges of issue 20, checked by running the built binary.
final class CommandLineTests: XCTestCase {
    let stories = Fixtures.fixture("stories260K")

    func testVersion() throws {
        let p = try SurgeonProcess.run(["--version"])
        XCTAssertEqual(p.status, 0)
        XCTAssertEqual(p.stdout, surgeonVersion + "\n")
    }

    /// "Once upona time": the text generated after a SentencePiece prompt kept no space. It must be
    /// decode(prompt + generated) without the prompt's text, in the JSON record and on stdout.
    func testGeneratedTextContinuesTheSentencePiecePrompt() throws {
        let args = ["generate", "-m", stories, "-p", "Once upon", "-n", "24", "--temp", "0"]
        let json = try SurgeonProcess.run(args + ["--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let promptIDs = try XCTUnwrap(record["prompt_ids"] as? [Int]).map(Int32.init)
        let ids = try XCTUnwrap(record["ids"] as? [Int]).map(Int32.init)
        let text = try XCTUnwrap(record["text"] as? String)
        let (tokenizer, _) = try ModelLoader.loadTokenizer(ModelFiles.open(stories))
        let full = tokenizer.decode(promptIDs + ids, skipSpecialTokens: true)
        let head = tokenizer.decode(promptIDs, skipSpecialTokens: true)
        XCTAssertEqual(head, "Once upon")
        XCTAssertTrue(full.hasPrefix(head))
        XCTAssertEqual(text, String(full.dropFirst(head.count)))
        XCTAssertTrue(text.hasPrefix(" "), "the first generated word keeps its space: \(text)")

        let plain = try SurgeonProcess.run(args)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(plain.stdout, "Once upon" + text + "\n")
    }

    /// -f FILE and -p - (standard input) give the same prompt as -p TEXT.
    func testPromptFromAFileAndFromStandardInput() throws {
        let args = ["generate", "-m", stories, "-n", "12", "--temp", "0"]
        let direct = try SurgeonProcess.run(args + ["-p", "Once upon a time"])
        XCTAssertEqual(direct.status, 0, direct.stderr)
        let file = Fixtures.tempDir() + "/prompt.txt"
        try Data("Once upon a time\n".utf8).write(to: URL(fileURLWithPath: file))
        for viaFile in [try SurgeonProcess.run(args + ["-f", file]), try SurgeonProcess.run(args + ["--prompt-file", file])] {
            XCTAssertEqual(viaFile.status, 0, viaFile.stderr)
            XCTAssertEqual(viaFile.stdout, direct.stdout)
        }
        let stdin = try SurgeonProcess.run(args + ["-p", "-"], stdin: "Once upon a time\n")
        XCTAssertEqual(stdin.status, 0, stdin.stderr)
        XCTAssertEqual(stdin.stdout, direct.stdout)
    }

    /// -n -1 generates until the end of the text or of the context; --seed -1 draws a seed and says it.
    func testNegativeNumbers() throws {
        let p = try SurgeonProcess.run(["generate", "-m", stories, "-p", "Once", "-n", "-1", "--ctx", "40", "--seed", "-1", "--json"])
        XCTAssertEqual(p.status, 0, p.stderr)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: Any])
        let promptCount = try XCTUnwrap(record["prompt_ids"] as? [Int]).count
        let ids = try XCTUnwrap(record["ids"] as? [Int])
        // ended by the end-of-text token (id 2) or by the context of 40
        XCTAssertTrue(ids.last == 2 || promptCount + ids.count == 40, "\(promptCount) + \(ids)")
        XCTAssertTrue(p.stderr.contains("sampling seed: "), p.stderr)

        let bad = try SurgeonProcess.run(["generate", "-m", stories, "-p", "Once", "-n", "-3"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("-n must be ≥ 0, or -1"), bad.stderr)
    }

    /// Every command's numeric options read a negative number and say the allowed range, instead
    /// of "Missing value for ...".
    func testNegativeNumbersReachEveryCommandsChecks() throws {
        let cases: [([String], String)] = [
            (["calibrate", "-m", stories, "--calib", "c.txt", "-o", "f.safetensors", "--nsamples", "-1"], "--nsamples must be ≥ 1 (got -1)"),
            (["perplexity", "-m", stories, "-f", "t.txt", "-c", "-5"], "-c must be ≥ 2 (got -5)"),
            (["bench", "-m", stories, "-r", "-1"], "-r must be ≥ 1 (got -1)"),
            (["chat", "-m", stories, "--top-k", "-3"], "--top-k must be ≥ 0 (got -3)"),
        ]
        for (args, expected) in cases {
            let p = try SurgeonProcess.run(args)
            XCTAssertNotEqual(p.status, 0, "\(args)")
            XCTAssertTrue(p.stderr.contains(expected), "\(args): \(p.stderr)")
            XCTAssertFalse(p.stderr.contains("Missing value"), "\(args): \(p.stderr)")
        }
    }

    /// Every file error names the flag, the path and the operation.
    func testFileErrorsNameTheirFlag() throws {
        let missing = Fixtures.tempDir() + "/missing.txt"
        let cases: [([String], String)] = [
            (["generate", "-m", stories, "-f", missing], "cannot read \(missing) given with -f: no such file or directory"),
            (["chat", "-m", stories, "--system-prompt-file", missing], "cannot read \(missing) given with --system-prompt-file"),
            (["perplexity", "-m", stories, "-f", missing], "cannot read \(missing) given with -f: no such file or directory"),
            (["calibrate", "-m", stories, "--ids-file", missing, "-o", Fixtures.tempDir() + "/f.safetensors"],
             "cannot read \(missing) given with --ids-file: no such file or directory"),
            (["generate", "-m", missing, "-p", "x"], "cannot read \(missing) given with -m: no such file or directory"),
        ]
        for (args, expected) in cases {
            let p = try SurgeonProcess.run(args)
            XCTAssertEqual(p.status, 1, "\(args): \(p.stderr)")
            XCTAssertTrue(p.stderr.contains(expected), "\(args): \(p.stderr)")
        }
    }

    /// /help lists the commands and is not sent to the model; neither is a mistyped command.
    func testChatHelpIsNotSentToTheModel() throws {
        let p = try SurgeonProcess.run(["chat", "-m", stories, "--chat-template", "none"], stdin: "/help\n/stat\n/stats\n")
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertEqual(p.stdout, "")
        XCTAssertTrue(p.stderr.contains(ChatInput.commandList), p.stderr)
        XCTAssertTrue(p.stderr.contains("[unknown command /stat;"), p.stderr)
        XCTAssertTrue(p.stderr.contains("total: 0 prompt, 0 generated]"), p.stderr)
    }

    /// A reply stops at -n tokens and says so.
    func testChatReplyLimit() throws {
        let p = try SurgeonProcess.run(["chat", "-m", stories, "--chat-template", "none", "--temp", "0", "-n", "3"],
                                       stdin: "Once upon a time\n/stats\n")
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertTrue(p.stderr.contains("[reply cut at 3 tokens: -n sets the limit, -1 for none]"), p.stderr)
        XCTAssertTrue(p.stderr.contains("generation: 3 tokens"), p.stderr)
    }

    /// Ctrl-C during a reply stops the reply, not the chat: the next line is still read, and end of
    /// input then ends the chat cleanly. (Greedy stories260K never says its end token here: the
    /// reply would run for the whole context, about 500 tokens.)
    func testCtrlCStopsTheReplyNotTheChat() throws {
        let p = try SurgeonProcess(["chat", "-m", stories, "--chat-template", "none", "--temp", "0", "-n", "-1", "-t", "1"])
        try p.send("Once upon a time\n")
        XCTAssertTrue(p.waitFor(timeout: 120) { p.stdout.count > 8 }, "no reply began: \(p.stderr)")
        kill(p.process.processIdentifier, SIGINT)
        XCTAssertTrue(p.waitFor(timeout: 60) { p.stderr.contains("[reply stopped]") }, "the reply did not stop: \(p.stderr)")
        try p.send("/stats\n")
        try p.closeInput()
        try p.wait(timeout: 60)
        XCTAssertTrue(p.exitedNormally, "ended by a signal: \(p.stderr)")
        XCTAssertEqual(p.status, 0, p.stderr)
        let stats = try XCTUnwrap(p.stderr.components(separatedBy: "[reply stopped]").last)
        XCTAssertTrue(stats.contains("[tokens in context: "), p.stderr)
        // the reply was cut short of the context it would have filled
        let generated = try XCTUnwrap(stats.range(of: #"generation: (\d+) tokens"#, options: .regularExpression).map {
            Int(stats[$0].split(separator: " ")[1])
        } ?? nil)
        XCTAssertLessThan(generated, 400, p.stderr)
    }

    /// Ctrl-C at the prompt ends the chat with status 130, as a shell reports a Ctrl-C.
    func testCtrlCAtThePromptEndsTheChat() throws {
        let p = try SurgeonProcess(["chat", "-m", stories, "--chat-template", "none"])
        try p.send("/stats\n")
        XCTAssertTrue(p.waitFor(timeout: 60) { p.stderr.contains("[tokens in context") }, p.stderr)
        kill(p.process.processIdentifier, SIGINT)
        try p.wait(timeout: 30)
        XCTAssertTrue(p.exitedNormally)
        XCTAssertEqual(p.status, 130)
    }
}
