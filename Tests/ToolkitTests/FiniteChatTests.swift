import Foundation
import XCTest
import Runtime
import Toolkit
import TestSupport

/// Issue 20, defect 7 in chat: a model whose finite weights overflow float32 fails the reply
/// with an error naming the logits, before any text is streamed.
final class FiniteChatTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// An overflowing copy of stories260K, removed when the test ends.
    func overflowingCopy() throws -> String {
        let dir = try OverflowingModel.copy()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        return dir
    }

    func testAReplyFromNonFiniteLogitsIsAnErrorNotText() throws {
        let opened = try ModelLoader.open(try overflowingCopy(), requireTokenizer: true)
        let chat = try ChatSession(opened: opened, template: .none, systemPrompt: nil, sampling: .greedy, contextLength: 64)
        var streamed = ""
        XCTAssertThrowsError(try chat.send("Once upon a time") { streamed += $0 }) { e in
            guard let err = e as? NonFiniteError, case .logits(_, nil) = err.quantity else { return XCTFail("\(e)") }
        }
        XCTAssertEqual(streamed, "")
    }
}
