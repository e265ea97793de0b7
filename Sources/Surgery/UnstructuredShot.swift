import Foundation
import Runtime

/// Unstructured and 2:4 shots of the multi-shot driver (surgeon.md §3–§6).
///
/// surgeon, kobd, lobd, magnitude: at shot t the target is t·s/T; the curvature is recomputed on the
/// current model; every weight gets its element cost (zero weights and dead rows/columns cost 0);
/// unstructured removes exactly max(⌊s_t·total⌋, zeros) weights of least cost over all layers (one
/// global threshold); 2:4 removes the two cheapest weights of the ⌊2·s_t·B⌋ cheapest of the B groups.
/// The surgeon then compensates with grouped correlated updates (`applyGroupedUpdate`); the OBD
/// baselines only zero. The zeros of the weights are the mask, so a run resumes from saved weights.
///
/// sparsegpt, wanda: one layer-wise pass at the full target s (`pruneLayerwise`), whatever the shot
/// count: they are one-shot methods; the run then counts as complete.
extension Compressor {
    /// Checks a 2:4 recipe against the model's layer shapes before anything runs (the targets are
    /// checked by `CompressionRecipe.validate`).
    static func checkElementShapes(model: CausalLM, structure: Structure) throws {
        guard structure == .twoFour else { return }
        try require2of4Shapes(model.blockLinearNames.compactMap { n in model.linear(n).map { (n, $0.inFeatures) } })
    }

    /// One unstructured or 2:4 shot at sparsity `target`; returns the threshold (element cost or group cost).
    func elementShot(target: Double) throws -> Double? {
        if method.isLayerwise {
            guard let calibration else { throw SurgeryError.noCalibrationData("\(method.rawValue) needs calibration windows") }
            try pruneLayerwise(model: model, calibration: calibration, method: method, structure: structure,
                               sparsity: recipe.targetSparsity, log: log)
            return nil
        }
        let factors = try estimateCurvature()
        let names = layerNames
        let method = self.method, structure = self.structure, usesG = method.traits.usesG
        let dG = recipe.dampG, dA = recipe.dampA
        let groupEntries = recipe.groupEntries ?? defaultMaxGroupEntries
        // a layer's float64 copy exists only while a worker holds it (costing, then the update)
        let layers = LayerAccess(model)
        // shapes: rows, columns (with the bias column), whether a bias is there
        let shapes = try names.map { name -> (rows: Int, cols: Int, bias: Bool) in
            guard let lin = model.linear(name) else { throw SurgeryError.invalidTarget("no layer \(name)") }
            return (lin.outFeatures, lin.inFeatures + (lin.bias != nil ? 1 : 0), lin.bias != nil)
        }
        func curvature(_ i: Int) throws -> (g: [Double]?, a: [Double]?) {
            let g = !usesG ? nil : try factors.flatMap { try doubleFactor($0.g(names[i]), layer: names[i]) }
            let a = try factors.flatMap { try doubleFactor($0.a(names[i]), layer: names[i]) }
            return (g, a)
        }
        // costs of every weight, layer by layer (a distributed run's rank: of its own layers)
        let mine = names.indices.filter { owns(names[$0]) }
        log("costing the weights of \(mine.count) layers")
        var costs = [[Double]?](repeating: nil, count: names.count)
        var lives = [LiveParts?](repeating: nil, count: names.count)
        try parallelLayers(mine.count, progress: log, what: "costing") { k in
            let i = mine[k]
            let layer = try layers.prunable(names[i])
            let (g, a) = try curvature(i)
            let live = LiveParts(layer, g: g, a: a)
            let c = try elementCosts(layer, live: live, g: g, a: a, method: method, dampG: dG, dampA: dA)
            return { costs[i] = c; lives[i] = live }
        }
        // one global selection (across ranks: the counts it needs are summed, each rank masks its layers)
        var masks: [[Bool]?] = [[Bool]?](repeating: nil, count: names.count)
        let threshold: Double
        switch structure {
        case .twoFour:
            func inputs(_ i: Int) -> Int { shapes[i].cols - (shapes[i].bias ? 1 : 0) }
            let groupCosts = names.indices.map { i in
                costs[i].map { twoFourGroupCosts($0, rows: shapes[i].rows, stride: shapes[i].cols, inputs: inputs(i)) }
            }
            let groups = names.indices.reduce(0) { $0 + shapes[$1].rows * (inputs($1) / 4) }
            let sel = try selectSmallest(groupCosts, total: groups, count: Int((2 * target * Double(groups)).rounded(.down)),
                                         sum: sumOverRanks)
            for i in mine {
                guard let c = costs[i] else { continue }
                masks[i] = twoFourMask(c, selected: sel.masks[i], rows: shapes[i].rows, stride: shapes[i].cols, inputs: inputs(i))
            }
            threshold = sel.threshold
        case .rowsColumns:
            throw SurgeryError.invalidRecipe(.structure, "rows and columns are pruned by the structured shot, not element by element")
        case .unstructured:
            let total = shapes.reduce(0) { $0 + $1.rows * $1.cols }
            let sel = try selectSmallest(costs, total: total, count: Int((target * Double(total)).rounded(.down)), sum: sumOverRanks)
            for i in mine { masks[i] = sel.masks[i] }
            threshold = sel.threshold
        }
        costs = []
        // removal and (surgeon) grouped updates, layer by layer
        log("updating \(mine.count) layers")
        let updateStart = Date()
        var solves = GroupSolveCounts()
        try parallelLayers(mine.count, progress: log, what: "updating") { k in
            let i = mine[k]
            guard let live = lives[i], let mask = masks[i] else { throw SurgeryError.invalidTarget("layer \(names[i]) was not costed") }
            var layer = try layers.prunable(names[i])
            var gi: [Double]?, ai: [Double]?
            if method.traits.updatesWeights {
                let (g, a) = try curvature(i)
                (gi, ai) = try liveInverses(layer, live: live, g: g, a: a, dampG: dG, dampA: dA)
            }
            let counts = try applyGroupedUpdate(&layer, mask: mask, live: live, gi: gi, ai: ai, maxEntries: groupEntries)
            try layers.replace(layer)
            return { solves = solves + counts }
        }
        // every rank takes the owners' weights (their zeros are the masks: no removed rows or columns)
        var none = [(rows: [Int], cols: [Int])](repeating: ([], []), count: names.count)
        try shareUpdatedLayers(names, removed: &none)
        if method.traits.updatesWeights {
            var n = [Double(solves.iterative), Double(solves.iterations), Double(solves.factored)]
            try sumOverRanks(&n)
            (solves.iterative, solves.iterations, solves.factored) = (Int(n[0]), Int(n[1]), Int(n[2]))
            log(solves.summary + String(format: ", in %.1f s", Date().timeIntervalSince(updateStart)))
        }
        return threshold
    }
}
