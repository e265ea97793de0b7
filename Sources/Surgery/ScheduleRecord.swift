import Foundation

/// Held-out losses of a run (mean next-token cross-entropy in nats on the held-out windows).
public struct HeldOutLosses: Codable, Sendable, Equatable {
    /// Before the first shot.
    public var dense: Double
    /// After the last accepted shot.
    public var current: Double

    public init(dense: Double, current: Double) {
        self.dense = dense
        self.current = current
    }

    /// How much the held-out loss has risen so far.
    public var rise: Double { current - dense }
}

/// One attempted shot of the adaptive schedule, accepted or not.
public struct ScheduleAttempt: Codable, Sendable, Equatable {
    public enum Verdict: String, Codable, Sendable {
        /// The held-out loss rose within the bound.
        case accepted
        /// It rose past the bound: the shot was undone and retried with a smaller step.
        case rejected
        /// It rose past the bound at the smallest step: kept, since no smaller step exists.
        case acceptedOverBound = "accepted_over_bound"
    }

    /// 1, 2, ... over all attempts of the run.
    public var attempt: Int
    /// Target sparsity before the attempt and the one it tried.
    public var from: Double
    public var to: Double
    public var lossBefore: Double
    public var lossAfter: Double
    /// The most the held-out loss could rise for the attempt to be accepted.
    public var bound: Double
    public var verdict: Verdict
    /// Whether the curvature was measured for this attempt (false: reused from the undone attempt).
    public var freshCurvature: Bool
    public var seconds: Double

    public var rise: Double { lossAfter - lossBefore }

    enum CodingKeys: String, CodingKey {
        case attempt, from, to, bound, verdict, seconds
        case lossBefore = "loss_before", lossAfter = "loss_after", freshCurvature = "fresh_curvature"
    }
}

/// Where the adaptive schedule stands (part of `CompressionState`, so a resumed run continues with
/// the same step).
public struct AdaptiveState: Codable, Sendable, Equatable {
    /// Step of the next attempt.
    public var step: Double
    /// Target sparsity of the last accepted shot (0 before the first).
    public var reached: Double
    public var attempts: [ScheduleAttempt]

    public init(step: Double, reached: Double = 0, attempts: [ScheduleAttempt] = []) {
        self.step = step
        self.reached = reached
        self.attempts = attempts
    }
}

/// The final check of every run with held-out windows: the held-out loss may rise by at most the
/// recipe's `max_loss_rise` over the whole run.
public struct GuardVerdict: Codable, Sendable, Equatable {
    public var rise: Double
    public var bound: Double
    public var passed: Bool { rise <= bound }

    public init(rise: Double, bound: Double) {
        self.rise = rise
        self.bound = bound
    }

    enum CodingKeys: String, CodingKey { case rise, bound, passed }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rise = try c.decode(Double.self, forKey: .rise)
        bound = try c.decode(Double.self, forKey: .bound)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rise, forKey: .rise)
        try c.encode(bound, forKey: .bound)
        try c.encode(passed, forKey: .passed)
    }
}
