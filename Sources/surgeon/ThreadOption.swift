import ArgumentParser
import Foundation

/// `-t/--threads`: the worker count of every model-running command. It defaults to the cores this
/// process may use; more workers than cores make them wait on each other at every parallel region
/// (82 → 1.5 tok/s at `-t 16` on 2 cores), so asking for more is allowed but warned about.
enum ThreadOption {
    /// The largest worker count accepted.
    static let maximum = 256

    /// Cores available to this process (its CPU affinity and quota, as Foundation reports them).
    static var availableCores: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// The default worker count: one per available core.
    static var defaultCount: Int { min(availableCores, maximum) }

    /// Refuses a count outside 1...maximum; warns on stderr when it is above the available cores.
    static func validate(_ threads: Int) throws {
        guard threads >= 1 && threads <= maximum else {
            throw ValidationError("--threads must be between 1 and \(maximum) (got \(threads))")
        }
        if let warning = warning(threads: threads, cores: availableCores) { printError(warning) }
    }

    /// The warning for `threads` workers on `cores` cores, nil when they fit.
    static func warning(threads: Int, cores: Int) -> String? {
        guard threads > cores else { return nil }
        return "warning: -t \(threads) is more than the \(cores) core\(cores == 1 ? "" : "s") available; "
            + "workers beyond the cores wait on each other and make every step slower (the default is \(min(cores, maximum)))"
    }
}
