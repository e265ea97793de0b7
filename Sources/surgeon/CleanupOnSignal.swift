import Foundation
import Synchronization

/// Removes half-written output on Ctrl-C / SIGTERM so an interrupted run leaves no partial OUT.
///
/// The signal handler does only async-signal-safe work: it write(2)s the signal number into a
/// pipe (no allocation, no locks, no Swift state beyond one atomic load of the pipe's descriptor)
/// and returns. A watcher thread blocked on the pipe's other end then removes the paths, says so
/// on stderr and exits with 128 + the signal number, as the default action's status would say.
enum CleanupOnSignal {
    /// Write end of the pipe (-1 before `install`). Initialized by `install` before any handler is
    /// set, so the handler's access is a plain atomic load (the global's one-time initialization
    /// has already run).
    private static let pipeWriteEnd = Atomic<Int32>(-1)

    static func install(paths: [String]) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return }   // no pipe: keep the default action, without cleanup
        let readEnd = ends[0]
        pipeWriteEnd.store(ends[1], ordering: .sequentiallyConsistent)
        Thread {
            var sig: Int32 = 0
            while true {
                let n = read(readEnd, &sig, MemoryLayout<Int32>.size)
                if n == MemoryLayout<Int32>.size { break }
                if n < 0 && errno == EINTR { continue }
                return   // the pipe failed: nothing to act on
            }
            for p in paths { try? FileManager.default.removeItem(atPath: p) }
            FileHandle.standardError.write(Data("\ninterrupted: no output written (a finished shot's checkpoint, if any, is kept for --resume)\n".utf8))
            _exit(128 + sig)
        }.start()
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { s in
                // async-signal-safe: errno saved and restored around one write(2) of 4 bytes
                // (below PIPE_BUF, so it arrives whole)
                let savedErrno = errno
                var s = s
                _ = write(CleanupOnSignal.pipeWriteEnd.load(ordering: .relaxed), &s, MemoryLayout<Int32>.size)
                errno = savedErrno
            }
        }
    }
}
