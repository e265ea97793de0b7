import Foundation
import Runtime

/// Progress of long work on stderr: a redrawn bar on a terminal, plain lines otherwise,
/// with the elapsed time and an ETA.
public final class Progress {
    public let label: String
    public let total: Int
    private let start = now()
    private let tty = isatty(STDERR_FILENO) != 0
    private var lastLine = 0.0

    public init(_ label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
    }

    /// Reports `done` of `total` with an optional status text (e.g. a running perplexity).
    public func update(_ done: Int, _ status: String = "") {
        let elapsed = now() - start
        let frac = Double(done) / Double(total)
        let eta = done > 0 ? elapsed / frac - elapsed : .nan
        let tail = "\(done)/\(total) \(Progress.clock(elapsed)) elapsed, ETA \(Progress.clock(eta))" + (status.isEmpty ? "" : " | \(status)")
        if tty {
            let width = 24
            let filled = min(width, Int(frac * Double(width)))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            write("\r\u{1B}[2K\(label) [\(bar)] \(tail)" + (done >= total ? "\n" : ""))
        } else if done >= total || elapsed - lastLine >= 2 || done == 1 {
            lastLine = elapsed
            write("\(label): \(tail)\n")
        }
    }

    public func finish(_ status: String = "") { update(total, status) }

    static func clock(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "--:--" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%02d:%02d", t / 60, t % 60)
    }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
