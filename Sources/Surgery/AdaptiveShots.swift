import Foundation
import Runtime

/// The adaptive schedule's driver (`AdaptiveSchedule`): each attempt prunes from the last accepted
/// target by the current step, measures the held-out loss, and is kept or undone.
extension Compressor {
    /// Runs attempts until the target is reached; `afterShot` sees each accepted shot.
    func runAdaptive(afterShot: (ShotReport, CompressionState) throws -> Void) throws {
        guard let rule = recipe.adaptive else { throw SurgeryError.invalidRecipe(.adaptive, "the adaptive schedule needs its parameters") }
        guard var losses = state.heldOut else {
            throw SurgeryError.invalidRecipe(.heldOut, "the adaptive schedule measures a held-out loss: hold out at least 1 calibration window")
        }
        let target = recipe.targetSparsity
        var ad = state.adaptive ?? AdaptiveState(step: rule.firstStep)
        var fresh = true   // curvature to be measured on the current model
        var undoneSeconds = 0.0   // attempts undone since the last kept shot (never across a checkpoint)
        defer { lastCurvature = nil; reuseCurvature = false }
        while ad.reached < target * (1 - 1e-9) {
            let start = now()
            let from = ad.reached
            let to = rule.shotEnd(from: from, step: ad.step, target: target)
            let onStop = to == rule.nextStop(from: from, target: target)
            let step = to - from
            let saved = (layers: layerNames.map { model.linear($0) }, state: state)
            reuseCurvature = !fresh
            let threshold = try prune(to: to)
            let isLast = to >= target
            let shotIndex = state.completedShots + 1
            let corrections = try lowRankCorrection(shot: shotIndex, isLast: isLast)
            guard let after = try heldOutLoss() else { throw SurgeryError.noCalibrationData("no held-out windows") }
            let bound = rule.bound(step: step, from: from, loss: losses.current, denseLoss: losses.dense,
                                   lastRate: AdaptiveSchedule.lastRate(ad.attempts))
            let rise = after - losses.current
            var attempt = ScheduleAttempt(attempt: ad.attempts.count + 1, from: from, to: to, lossBefore: losses.current,
                                          lossAfter: after, bound: bound, verdict: .accepted, freshCurvature: fresh, seconds: 0)
            if !(rise <= bound) {
                if let smaller = rule.stepAfterRejecting(step: step) {
                    // undo: the weights and the state of `from`, where the curvature was measured
                    for (name, lin) in zip(layerNames, saved.layers) { if let lin { model.setLinear(name, lin) } }
                    state = saved.state
                    attempt.verdict = .rejected
                    attempt.seconds = now() - start
                    undoneSeconds += attempt.seconds
                    ad.attempts.append(attempt)
                    ad.step = smaller
                    fresh = false
                    log(String(format: "attempt %d: %.2f%% -> %.2f%%: held-out loss %.4f -> %.4f (%+.4f, bound %.4f): rejected, undone; retrying with a step of %.2f%%",
                               attempt.attempt, 100 * from, 100 * to, losses.current, after, rise, bound, 100 * smaller))
                    state.adaptive = ad
                    continue
                }
                attempt.verdict = .acceptedOverBound
            }
            attempt.seconds = now() - start
            ad.attempts.append(attempt)
            ad.reached = to
            ad.step = rule.stepAfterAccepting(step: step, rise: rise, bound: bound)
            losses.current = after
            fresh = true
            log(String(format: "attempt %d: %.2f%% -> %.2f%%: held-out loss %.4f -> %.4f (%+.4f, bound %.4f): %@",
                       attempt.attempt, 100 * from, 100 * to, attempt.lossBefore, after, rise, bound,
                       attempt.verdict == .accepted ? "accepted" : "over the bound at the smallest step: kept"))
            var report = ShotReport(shot: shotIndex, targetSparsity: to, actualSparsity: actualSparsity(), seconds: 0,
                                    threshold: threshold?.isFinite == true ? threshold : nil, perplexity: nil,
                                    lowrank: corrections.shot, lowrankFinal: corrections.final)
            report.heldOutLoss = after
            // the shot's time includes the attempts undone on the way to it
            report.seconds = undoneSeconds + attempt.seconds
            undoneSeconds = 0
            if let evaluate, shotIndex % max(1, evaluateEvery) == 0 || isLast || onStop { report.perplexity = try evaluate(model) }
            state.completedShots = shotIndex
            state.shots.append(report)
            state.heldOut = losses
            state.adaptive = ad
            try afterShot(report, state)
        }
    }
}

/// Mean next-token cross-entropy (nats) over windows, each scored on its tokens 1..L−1 (the
/// paper protocol on one segment per window); non-finite values throw `NonFiniteError`.
public func meanWindowLoss(model: CausalLM, windows: [[Int32]]) throws -> Double {
    var sum = 0.0, count = 0
    for w in windows where w.count >= 2 {
        let r = try PerplexityEvaluator(model: model, seqlen: w.count, protocol: .paper).run(tokens: w)
        sum += log(r.ppl) * Double(r.scored)
        count += r.scored
    }
    return count > 0 ? sum / Double(count) : 0
}
