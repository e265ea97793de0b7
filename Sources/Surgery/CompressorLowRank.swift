import Runtime

/// The optional first-order low-rank correction of the multi-shot driver (surgeon.md §6–§7).
extension Compressor {
    /// Adapter masks of the chosen layers for the model as it is now: structured runs keep the
    /// removed (or all-zero) rows and columns dead; unstructured and 2:4 runs keep every zero of W.
    func lowRankMasks(_ recipe: LowRankRecipe) throws -> [(name: String, mask: AdapterMask)] {
        try layerNames.filter { model.architecture.role(of: $0).map { recipe.layers.includes($0) } ?? false }.map { name in
            guard let lin = model.linear(name) else { throw SurgeryError.invalidTarget("no layer \(name)") }
            let w = lin.denseWeight.data
            switch structure {
            case .rowsColumns:
                return (name, AdapterMask.structure(weight: w, rows: lin.outFeatures, cols: lin.inFeatures,
                                                    removedRows: state.removedRows[name] ?? [],
                                                    removedCols: state.removedCols[name] ?? []))
            case .unstructured, .twoFour:
                return (name, AdapterMask.elements(weight: w))
            }
        }
    }

    /// After shot t: `stepsPerShot` steps on a seeded random subset of the windows, merged; after the
    /// last shot, in addition, `finalEpochs` epochs over all windows, merged.
    func lowRankCorrection(shot t: Int, isLast: Bool) throws -> (shot: LowRankPhaseReport?, final: LowRankPhaseReport?) {
        guard let lr = recipe.lowrank else { return (nil, nil) }
        guard let calibration else {
            throw SurgeryError.noCalibrationData("the low-rank correction trains on calibration windows")
        }
        var trainer = LowRankTrainer(recipe: lr)
        trainer.log = log
        let windows = calibration.windows
        var shotReport: LowRankPhaseReport?, finalReport: LowRankPhaseReport?
        if lr.stepsPerShot > 0 {
            let seed = lr.seed &+ UInt64(t) &* 0x2545_F491_4F6C_DD1D
            let order = LowRankTrainer.subset(count: windows.count, steps: lr.stepsPerShot, seed: seed)
            shotReport = try trainer.run(model: model, windows: windows, order: order, epochLength: order.count,
                                         masks: try lowRankMasks(lr), seed: seed, label: "low-rank after shot \(t)")
        }
        if isLast && lr.finalEpochs > 0 {
            let seed = lr.seed ^ 0x5DEE_CE66_D1CE_F00D
            let order = LowRankTrainer.epochs(count: windows.count, epochs: lr.finalEpochs, seed: seed)
            finalReport = try trainer.run(model: model, windows: windows, order: order, epochLength: windows.count,
                                          masks: try lowRankMasks(lr), seed: seed, label: "low-rank final")
        }
        return (shotReport, finalReport)
    }
}
