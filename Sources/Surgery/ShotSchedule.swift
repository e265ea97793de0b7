import Foundation

/// How the shots of a multi-shot run reach the target sparsity.
public enum ShotSchedule: String, Codable, Sendable, CaseIterable {
    /// The paper's: shot t of T prunes to t·s/T, whatever happens (surgeon.md §6).
    case linear
    /// Steps that adapt to the held-out loss: a shot whose held-out loss rises past the bound is
    /// undone and the same target retried in smaller steps; the step grows again while shots go
    /// well (`AdaptiveSchedule`).
    case adaptive
}

/// The adaptive schedule's parameters (compression.json `adaptive`).
///
/// A shot from sparsity s₀ to s₁ = s₀ + Δ is accepted when the held-out loss (mean next-token
/// cross-entropy on windows the curvature never sees) rises by at most
///
///     bound(Δ) = Δ · max(minRate, rateFactor · (L(s₀) − L(0)) / s₀, stepRateFactor · r)   (nats; s₀ = 0: minRate)
///
/// — a rise rate no steeper than `rateFactor` times the average rate so far, and never refused
/// below `minRate` nats per unit of sparsity. With `stepRateFactor` set, also `stepRateFactor` times
/// r, the rate of the last accepted step (its rise over its step): a loss curve that steepens
/// smoothly (unstructured and 2:4 near 50%, where the average rate falls far behind the local one)
/// is followed, while a jump to many times the previous step's rate is still refused. A rejected
/// shot is undone (the weights and state of s₀ restored, the curvature kept: it was measured there)
/// and retried with Δ/2, down to `minStep`;
/// a shot at `minStep` is accepted whatever it costs (and marked so). After a shot that rose by at
/// most half its bound the step grows by `growth`, up to `maxStep`. A shot that would leave less
/// than half a step before a stop takes the rest with it (within `maxStep`).
///
/// With a `grid` g = 1/n, no shot crosses a multiple of g: a run to s stops on every multiple of g
/// below s with exactly the model a run to that multiple ends with (the step rule never looks at the
/// target), so one run to 30% gives the default results at 10% and 20% too.
public struct AdaptiveSchedule: Codable, Sendable, Equatable {
    public var firstStep: Double
    public var minStep: Double
    public var maxStep: Double
    public var growth: Double
    /// Nats per unit of sparsity (0.1 nat for a 2.5% step with 4).
    public var minRate: Double
    public var rateFactor: Double
    /// Shots land on every multiple of this (1/n for a whole n; absent in older files: no grid).
    public var grid: Double?
    /// Multiple of the last accepted step's rise rate the bound also allows (absent: not used, as in
    /// older files).
    public var stepRateFactor: Double?

    public init(firstStep: Double, minStep: Double, maxStep: Double, growth: Double = 1.5, minRate: Double = 4,
                rateFactor: Double = 3, grid: Double? = nil, stepRateFactor: Double? = nil) {
        self.firstStep = firstStep
        self.minStep = minStep
        self.maxStep = maxStep
        self.growth = growth
        self.minRate = minRate
        self.rateFactor = rateFactor
        self.grid = grid
        self.stepRateFactor = stepRateFactor
    }

    enum CodingKeys: String, CodingKey {
        case growth, grid
        case firstStep = "first_step", minStep = "min_step", maxStep = "max_step", minRate = "min_rate", rateFactor = "rate_factor"
        case stepRateFactor = "step_rate_factor"
    }

    /// The bound on the held-out loss rise of a step of `step` from sparsity `from`, where the
    /// held-out loss is `loss` and was `denseLoss` before the first shot, and the last accepted step
    /// rose at `lastRate` nats per unit of sparsity (nil before the first).
    public func bound(step: Double, from: Double, loss: Double, denseLoss: Double, lastRate: Double? = nil) -> Double {
        var rate = from > 0 ? max(minRate, rateFactor * max(0, loss - denseLoss) / from) : minRate
        if let stepRateFactor, let lastRate, lastRate.isFinite { rate = max(rate, stepRateFactor * lastRate) }
        return step * rate
    }

    /// The rise rate (nats per unit of sparsity) of the last accepted attempt, nil before the first.
    public static func lastRate(_ attempts: [ScheduleAttempt]) -> Double? {
        guard let a = attempts.last(where: { $0.verdict != .rejected }), a.to > a.from else { return nil }
        return max(0, a.rise) / (a.to - a.from)
    }

    /// The step after an accepted shot that rose by `rise` against `bound`.
    public func stepAfterAccepting(step: Double, rise: Double, bound: Double) -> Double {
        rise <= bound / 2 ? min(maxStep, step * growth) : step
    }

    /// Where a shot from `from` may end at the latest: the next multiple of the grid above `from`, or
    /// `target` when that comes first. Grid points are k/n (n = 1/grid), so 0.3 is the double of "0.3".
    public func nextStop(from: Double, target: Double) -> Double {
        guard let grid, grid > 0 else { return target }
        let n = (1 / grid).rounded()
        let k = (from * n * (1 + 1e-9)).rounded(.down) + 1
        let point = k / n
        return point < target * (1 - 1e-9) ? point : target
    }

    /// The end of the next shot from `from` with step `step`: at most the next stop, and the stop itself
    /// when less than half the step would be left before it and the stretched shot stays within
    /// `maxStep` (no sliver of a shot: a whole shot's curvature for a fraction of a step), or when
    /// less than half the smallest step would be left.
    public func shotEnd(from: Double, step: Double, target: Double) -> Double {
        let stop = nextStop(from: from, target: target)
        let to = min(stop, from + step)
        let left = stop - to
        if left < minStep / 2 { return stop }
        return left < step / 2 && stop - from <= maxStep * (1 + 1e-9) ? stop : to
    }

    /// The step of the retry after a rejected one, or nil when `step` was already the smallest.
    public func stepAfterRejecting(step: Double) -> Double? {
        step <= minStep * (1 + 1e-9) ? nil : max(minStep, step / 2)
    }

    /// Checks the values (throws `invalidRecipe(.adaptive, ...)`).
    public func validate() throws {
        func bad(_ s: String) -> SurgeryError { .invalidRecipe(.adaptive, s) }
        guard minStep > 0, minStep <= firstStep, firstStep <= maxStep, maxStep < 1 else {
            throw bad("the steps must satisfy 0 < min_step ≤ first_step ≤ max_step < 1 (got \(minStep), \(firstStep), \(maxStep))")
        }
        guard growth >= 1, growth <= 4 else { throw bad("growth must be between 1 and 4 (got \(growth))") }
        guard minRate > 0, minRate.isFinite else { throw bad("min_rate must be finite and > 0 (got \(minRate))") }
        guard rateFactor >= 1, rateFactor.isFinite else { throw bad("rate_factor must be finite and ≥ 1 (got \(rateFactor))") }
        if let f = stepRateFactor, !(f >= 1 && f.isFinite) {
            throw bad("step_rate_factor must be finite and ≥ 1 (got \(f))")
        }
        if let grid {
            let n = 1 / grid
            guard grid > 0, grid < 1, n.isFinite, abs(n - n.rounded()) < 1e-6 else {
                throw bad("grid must be 1/n for a whole n ≥ 2, e.g. 0.1 (got \(grid))")
            }
        }
    }
}

/// The safe default recipe (docs/results.md "Every calibration seed"): what `compress` runs when
/// no schedule flags are given.
public enum DefaultSchedule {
    /// Step of the first shot: 2.5% for rows and columns (single 5% first shots wrecked SmolLM2 on
    /// some calibration draws), 10% for unstructured and 2:4.
    public static func firstStep(_ structure: Structure) -> Double {
        structure == .rowsColumns ? 0.025 : 0.1
    }

    /// The adaptive schedule for a structure.
    public static func adaptive(_ structure: Structure) -> AdaptiveSchedule {
        let first = firstStep(structure)
        return structure == .rowsColumns
            ? AdaptiveSchedule(firstStep: first, minStep: first / 8, maxStep: 0.05, grid: 0.1)
            : AdaptiveSchedule(firstStep: first, minStep: first / 8, maxStep: 0.1, minRate: 2, grid: 0.1, stepRateFactor: 3)
    }

    /// Windows per curvature estimate of the default surgeon run: half the calibration windows, the
    /// halves alternating from shot to shot (every window still counts; a shot costs half the passes).
    public static func curvatureWindows(nsamples: Int) -> Int? {
        nsamples >= 2 ? (nsamples + 1) / 2 : nil
    }

    /// Shots of the linear schedule (and of the adaptive one's first plan) for a target: steps of
    /// at most `firstStep`.
    public static func shots(_ structure: Structure, target: Double) -> Int {
        max(1, Int((target / firstStep(structure) - 1e-9).rounded(.up)))
    }

    /// The default schedule of a method: adaptive for the methods that update weights over several
    /// shots (the surgeon), linear for the others.
    public static func schedule(_ method: PruningMethod) -> ShotSchedule {
        method.traits.updatesWeights && !method.traits.isLayerwise ? .adaptive : .linear
    }
}
