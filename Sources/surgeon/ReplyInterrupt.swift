import Foundation
import Synchronization

/// Ctrl-C in chat: during a reply it stops the reply and the chat goes back to the prompt; at the
/// prompt (or a second time before a reply has stopped, e.g. during a long prompt) it ends the
/// chat with status 130, as a shell reports a Ctrl-C.
///
/// The handler does only async-signal-safe work: one compare-exchange of a lock-free atomic, and
/// to end the chat a write(2) of a newline and _exit(2). The reply loop reads the atomic between
/// tokens (`ChatSession.shouldStop`).
enum ReplyInterrupt {
    /// 0: at the prompt; 1: replying; 2: replying, asked to stop. Stored by `install` before the
    /// handler is set, so the handler's access is a plain atomic operation (the global's one-time
    /// initialization has already run); the handler uses literals, not other statics, for the same reason.
    private static let state = Atomic<Int32>(0)

    static func install() {
        state.store(0, ordering: .sequentiallyConsistent)
        signal(SIGINT) { _ in
            let savedErrno = errno
            let (asked, _) = ReplyInterrupt.state.compareExchange(expected: 1, desired: 2, ordering: .sequentiallyConsistent)
            if !asked {
                var newline: UInt8 = 10
                _ = write(STDERR_FILENO, &newline, 1)
                _exit(130)
            }
            errno = savedErrno
        }
    }

    /// A reply starts: Ctrl-C now stops it.
    static func beginReply() {
        state.store(1, ordering: .sequentiallyConsistent)
    }

    /// The reply ended (back at the prompt: Ctrl-C now ends the chat); true when Ctrl-C asked it to stop.
    @discardableResult
    static func endReply() -> Bool {
        state.exchange(0, ordering: .sequentiallyConsistent) == 2
    }

    /// Whether Ctrl-C asked the current reply to stop.
    static var stopRequested: Bool {
        state.load(ordering: .relaxed) == 2
    }
}
