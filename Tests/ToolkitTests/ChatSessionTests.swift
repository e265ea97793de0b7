import XCTest
@testable import Runtime
import Tokenize
@testable import Toolkit
import TestSupport

final class ChatSessionTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testSmolLM2AnswersParisAndKeepsTheConversation() throws {
        let opened = try ModelLoader.open(Fixtures.smolGGUF, requireTokenizer: true)
        let chat = try ChatSession(opened: opened, template: try XCTUnwrap(opened.chatTemplate), systemPrompt: nil,
                                   sampling: .greedy, contextLength: 512)
        var streamed = ""
        let reply = try chat.send("What is the capital of France?") { streamed += $0 }
        XCTAssertEqual(reply, "The capital of France is Paris.")
        XCTAssertEqual(streamed, reply)
        XCTAssertEqual(chat.messages.count, 2)
        // the second turn reuses the cached conversation: only the new tokens are run
        let before = chat.session.position
        _ = try chat.send("And of Germany?") { _ in }
        XCTAssertLessThan(chat.last.promptTokens, before)
        XCTAssertEqual(chat.messages.count, 4)
        chat.reset()
        XCTAssertEqual(chat.session.position, 0)
    }

    /// A long conversation in a small context drops the oldest turns instead of failing.
    func testOldestTurnsAreDroppedWhenTheContextIsFull() throws {
        let opened = try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true)
        let chat = try ChatSession(opened: opened, template: .none, systemPrompt: nil, sampling: .greedy, contextLength: 64)
        chat.maxReplyTokens = 12
        var notices: [String] = []
        chat.notice = { notices.append($0) }
        for i in 0..<8 { _ = try chat.send("Once upon a time there was a cat number \(i).") { _ in } }
        XCTAssertFalse(notices.isEmpty)
        XCTAssertLessThanOrEqual(chat.session.position, 64)
        // a single message longer than the context is a clear error
        XCTAssertThrowsError(try chat.send(String(repeating: "a long story ", count: 100)) { _ in }) {
            XCTAssertTrue("\($0)".contains("context"), "\($0)")
        }
    }

    /// Ctrl-C in chat (issue 20): `shouldStop` ends the reply between tokens, the conversation
    /// keeps what was said, and the next turn continues it exactly as after a reply cut by the limit.
    func testStoppedReplyKeepsTheConversationGoing() throws {
        let opened = try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true)
        let stopped = try ChatSession(opened: opened, template: .none, systemPrompt: nil, sampling: .greedy, contextLength: 256)
        var asked = 0
        stopped.shouldStop = { asked += 1; return asked > 5 }
        var streamed = ""
        let reply = try stopped.send("Once upon a time") { streamed += $0 }
        XCTAssertEqual(stopped.last.generatedTokens, 5)
        XCTAssertEqual(stopped.lastEnd, .stopped)
        XCTAssertEqual(streamed, reply)
        XCTAssertEqual(stopped.messages.count, 2)

        let limited = try ChatSession(opened: opened, template: .none, systemPrompt: nil, sampling: .greedy, contextLength: 256)
        limited.maxReplyTokens = 5
        XCTAssertEqual(try limited.send("Once upon a time") { _ in }, reply)
        XCTAssertEqual(limited.lastEnd, .limit)
        stopped.shouldStop = { false }
        limited.maxReplyTokens = 20
        stopped.maxReplyTokens = 20
        XCTAssertEqual(try stopped.send("The cat") { _ in }, try limited.send("The cat") { _ in })
        XCTAssertEqual(stopped.session.position, limited.session.position)

        // a stop asked before the first token: an empty reply, and the chat still goes on
        stopped.shouldStop = { true }
        XCTAssertEqual(try stopped.send("A dog") { _ in }, "")
        XCTAssertEqual(stopped.last.generatedTokens, 0)
        stopped.shouldStop = { false }
        _ = try stopped.send("A bird") { _ in }
        XCTAssertGreaterThan(stopped.last.generatedTokens, 0)
    }
}
