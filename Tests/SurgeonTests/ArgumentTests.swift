import ArgumentParser
import XCTest
@testable import surgeon

/// Issue 20: negative numbers reported "Missing value for ..."; they are now read, accepted where
/// llama.cpp users expect them (`-n -1`, `--seed -1`) and otherwise refused naming the range.
final class ArgumentTests: XCTestCase {
    func message<C: ParsableCommand>(_ type: C.Type, _ args: [String]) -> String? {
        do {
            _ = try parse(type, args)
            return nil
        } catch {
            return type.message(for: error)
        }
    }

    /// Parses as `surgeon` does: negative numbers joined to their options first.
    func parse<C: ParsableCommand>(_ type: C.Type, _ args: [String]) throws -> C {
        try type.parse(joiningNegativeNumbers(args))
    }

    func testNegativeNumbersAreJoinedToTheirOptions() throws {
        XCTAssertEqual(joiningNegativeNumbers(["generate", "-n", "-1", "--seed", "-1", "--temp", "-0.5", "-c", "-2e3"]),
                       ["generate", "-n=-1", "--seed=-1", "--temp=-0.5", "-c=-2e3"])
        // values that are no negative number, options already with a value, and anything after -- are left alone
        XCTAssertEqual(joiningNegativeNumbers(["-p", "-", "-p", "-x", "--seed=-1", "-1", "--", "-n", "-1"]),
                       ["-p", "-", "-p", "-x", "--seed=-1", "-1", "--", "-n", "-1"])
        XCTAssertEqual(joiningNegativeNumbers(["-m", "m", "-n"]), ["-m", "m", "-n"])
        XCTAssertEqual(joiningNegativeNumbers(["-sys", "-1", "-5", "-1"]), ["-sys", "-1", "-5", "-1"])
        XCTAssertEqual(try parse(ChatCommand.self, ["-m", "m", "-sys", "-1"]).systemPrompt, "-1")
    }

    func testGenerateTakesMinusOneForUntilTheEnd() throws {
        XCTAssertEqual(try parse(GenerateCommand.self, ["-m", "m", "-p", "hi", "-n", "-1"]).n, -1)
        XCTAssertEqual(try parse(GenerateCommand.self, ["-m", "m", "-p", "hi"]).n, 64)
        let m = try XCTUnwrap(message(GenerateCommand.self, ["-m", "m", "-p", "hi", "-n", "-2"]))
        XCTAssertTrue(m.contains("-n must be ≥ 0, or -1 for until the end of the text or of the context (got -2)"), m)
        XCTAssertFalse(m.contains("Missing value"), m)
    }

    func testPromptTextMayStartWithADash() throws {
        XCTAssertEqual(try parse(GenerateCommand.self, ["-m", "m", "-p", "-5 degrees and falling"]).prompt, "-5 degrees and falling")
        XCTAssertEqual(try parse(GenerateCommand.self, ["-m", "m", "-p", "-"]).prompt, "-")
        XCTAssertEqual(try parse(GenerateCommand.self, ["-m", "m", "--prompt-file", "p.txt"]).promptFile, "p.txt")
        XCTAssertEqual(try parse(GenerateCommand.self, ["-m", "m", "-f", "p.txt"]).promptFile, "p.txt")
        let m = try XCTUnwrap(message(GenerateCommand.self, ["-m", "m", "-p", "x", "-f", "p.txt"]))
        XCTAssertTrue(m.contains("give the prompt once"), m)
    }

    func testChatReplyLimit() throws {
        XCTAssertEqual(try parse(ChatCommand.self, ["-m", "m"]).n, ChatCommand.defaultReplyLimit)
        XCTAssertEqual(try parse(ChatCommand.self, ["-m", "m", "-n", "-1"]).n, -1)
        let m = try XCTUnwrap(message(ChatCommand.self, ["-m", "m", "-n", "0"]))
        XCTAssertTrue(m.contains("-n must be ≥ 1, or -1 for no limit (got 0)"), m)
        let help = ChatCommand.helpMessage(columns: 1000)
        XCTAssertTrue(help.contains("-1: until the model stops or the context is full. (default: \(ChatCommand.defaultReplyLimit))"), help)
        XCTAssertTrue(help.contains("Commands: /help, /reset, /stats, /quit. Ctrl-C during a reply stops the reply"), help)
    }

    func testSeedMinusOneIsRandomOtherNegativesSayTheRange() throws {
        let a = try parse(GenerateCommand.self, ["-m", "m", "-p", "x", "--seed", "-1"]).sampling.seed
        XCTAssertTrue(a.drawn)
        XCTAssertEqual(try parse(GenerateCommand.self, ["-m", "m", "-p", "x", "--seed", "7"]).sampling.seed, SamplingSeed(7))
        XCTAssertEqual(try parse(GenerateCommand.self, ["-m", "m", "-p", "x"]).sampling.params.seed, 42)
        let m = try XCTUnwrap(message(GenerateCommand.self, ["-m", "m", "-p", "x", "--seed", "-5"]))
        XCTAssertTrue(m.contains("--seed must be an integer from 0 to 18446744073709551615, or -1 for a random seed (got -5)"), m)
        let t = try XCTUnwrap(message(ChatCommand.self, ["-m", "m", "--temp", "-1"]))
        XCTAssertTrue(t.contains("--temp must be ≥ 0 (got -1.0)"), t)
        let k = try XCTUnwrap(message(ChatCommand.self, ["-m", "m", "--top-k", "-3"]))
        XCTAssertTrue(k.contains("--top-k must be ≥ 0 (got -3)"), k)
    }

    func testChatInput() {
        XCTAssertEqual(ChatInput("  /help "), .help)
        XCTAssertEqual(ChatInput("/?"), .help)
        XCTAssertEqual(ChatInput("/reset"), .reset)
        XCTAssertEqual(ChatInput("/stats"), .stats)
        XCTAssertEqual(ChatInput("/exit"), .quit)
        XCTAssertEqual(ChatInput("   "), .empty)
        XCTAssertEqual(ChatInput("/stat"), .unknownCommand("/stat"))
        XCTAssertEqual(ChatInput("/usr/bin is a directory?"), .message("/usr/bin is a directory?"))
        XCTAssertEqual(ChatInput("help me"), .message("help me"))
        for command in ["/help", "/reset", "/stats", "/quit"] { XCTAssertTrue(ChatInput.commandList.contains(command)) }
    }
}
