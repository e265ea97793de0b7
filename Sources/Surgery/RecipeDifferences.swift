/// One field on which two recipes differ, with both values as they read in compression.json terms.
public struct RecipeDifference: Sendable, Equatable, CustomStringConvertible {
    public var field: RecipeField
    /// The field's key, dotted for a part of a nested field ("lowrank.rank", "calibration.seed").
    public var key: String
    public var checkpoint: String
    public var now: String

    public var description: String { "\(key): checkpoint \(checkpoint), now \(now)" }
}

extension CompressionRecipe {
    /// Every field on which this recipe (the run asked for now) differs from `checkpoint` (the
    /// recipe a checkpoint was made with); empty when a resume may continue. All fields count,
    /// the calibration windows and the low-rank recipe part by part.
    public func differences(from checkpoint: CompressionRecipe) -> [RecipeDifference] {
        var out: [RecipeDifference] = []
        func check<T: Equatable>(_ field: RecipeField, _ key: String? = nil, _ old: T, _ new: T, _ show: (T) -> String) {
            if old != new { out.append(RecipeDifference(field: field, key: key ?? field.rawValue, checkpoint: show(old), now: show(new))) }
        }
        let plain = { (d: Double) in "\(d)" }
        check(.method, nil, checkpoint.method, method) { $0.rawValue }
        check(.structure, nil, checkpoint.structure, structure) { $0.rawValue }
        check(.targetSparsity, nil, checkpoint.targetSparsity, targetSparsity, plain)
        check(.shots, nil, checkpoint.shots, shots) { "\($0)" }
        check(.dampG, nil, checkpoint.dampG, dampG, plain)
        check(.dampA, nil, checkpoint.dampA, dampA, plain)
        check(.updates, nil, checkpoint.updates, updates) { $0.rawValue }
        check(.fisher, nil, checkpoint.fisher, fisher) { $0.description }
        check(.groupEntries, nil, checkpoint.groupEntries, groupEntries) { $0.map { "\($0)" } ?? "default (\(defaultMaxGroupEntries))" }
        check(.schedule, nil, checkpoint.shotSchedule, shotSchedule) { $0.rawValue }
        switch (checkpoint.adaptive, adaptive) {
        case let (old?, new?):
            let k = RecipeField.adaptive.rawValue
            check(.adaptive, k + ".first_step", old.firstStep, new.firstStep, plain)
            check(.adaptive, k + ".min_step", old.minStep, new.minStep, plain)
            check(.adaptive, k + ".max_step", old.maxStep, new.maxStep, plain)
            check(.adaptive, k + ".growth", old.growth, new.growth, plain)
            check(.adaptive, k + ".min_rate", old.minRate, new.minRate, plain)
            check(.adaptive, k + ".rate_factor", old.rateFactor, new.rateFactor, plain)
            check(.adaptive, k + ".grid", old.grid, new.grid) { $0.map(plain) ?? "none" }
            check(.adaptive, k + ".step_rate_factor", old.stepRateFactor, new.stepRateFactor) { $0.map(plain) ?? "none" }
        default:
            check(.adaptive, nil, checkpoint.adaptive, adaptive) { $0 == nil ? "none" : "set" }
        }
        check(.heldOut, nil, checkpoint.heldOut ?? 0, heldOut ?? 0) { "\($0)" }
        check(.maxLossRise, nil, checkpoint.maxLossRise, maxLossRise) { $0.map(plain) ?? "none" }
        check(.curvatureWindows, nil, checkpoint.curvatureWindows, curvatureWindows) { $0.map { "\($0)" } ?? "all" }
        switch (checkpoint.calibration, calibration) {
        case let (old?, new?):
            let k = RecipeField.calibration.rawValue
            check(.calibration, k + ".file", old.file, new.file) { $0 }
            check(.calibration, k + ".nsamples", old.nsamples, new.nsamples) { "\($0)" }
            check(.calibration, k + ".seqlen", old.seqlen, new.seqlen) { "\($0)" }
            check(.calibration, k + ".seed", old.seed, new.seed) { $0.map { "\($0)" } ?? "none" }
            check(.calibration, k + ".held_out_offsets", old.heldOutOffsets, new.heldOutOffsets) { $0.map { "\($0.count) windows at \($0)" } ?? "none" }
            if old.offsets != new.offsets {
                // where the windows part: "32 offsets, window 4 at 9120"
                let i = (0..<min(old.offsets.count, new.offsets.count)).first { old.offsets[$0] != new.offsets[$0] }
                    ?? min(old.offsets.count, new.offsets.count)
                let show = { (o: [Int]) in "\(o.count) offsets" + (i < o.count ? ", window \(i) at \(o[i])" : "") }
                out.append(RecipeDifference(field: .calibration, key: k + ".offsets", checkpoint: show(old.offsets), now: show(new.offsets)))
            }
        default:
            check(.calibration, nil, checkpoint.calibration, calibration) { $0.map(summary) ?? "none" }
        }
        switch (checkpoint.lowrank, lowrank) {
        case let (old?, new?):
            let k = RecipeField.lowrank.rawValue
            check(.lowrank, k + ".rank", old.rank, new.rank) { "\($0)" }
            check(.lowrank, k + ".learning_rate", old.learningRate, new.learningRate, plain)
            check(.lowrank, k + ".steps_per_shot", old.stepsPerShot, new.stepsPerShot) { "\($0)" }
            check(.lowrank, k + ".final_epochs", old.finalEpochs, new.finalEpochs) { "\($0)" }
            check(.lowrank, k + ".layers", old.layers, new.layers) { $0.rawValue }
            check(.lowrank, k + ".seed", old.seed, new.seed) { "\($0)" }
        default:
            check(.lowrank, nil, checkpoint.lowrank, lowrank) { $0.map { "rank \($0.rank)" } ?? "none" }
        }
        return out
    }
}

/// "wiki.valid.raw, 32 windows of 512 tokens, seed 100".
private func summary(_ c: CalibrationRecord) -> String {
    "\(c.file), \(c.nsamples) windows of \(c.seqlen) tokens" + (c.seed.map { ", seed \($0)" } ?? "")
}
