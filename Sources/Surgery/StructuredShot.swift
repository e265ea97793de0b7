import Foundation
import Runtime

extension Compressor {
    /// One structured shot: costs of all rows and columns, the global threshold, updates.
    /// Memory: a layer's float64 copy (`PrunableLayer`) and its float64 factor work exist only while
    /// a worker handles that layer — built once for costing and again for the update — so a shot
    /// holds the float32 factors, every layer's costs and one layer's float64 work per worker.
    func structuredShot(target: Double) throws -> Double {
        let factors = try estimateCurvature()
        let names = layerNames
        let method = self.method, usesG = method.traits.usesG
        let dG = recipe.dampG, dA = recipe.dampA
        let removed = (rows: state.removedRows, cols: state.removedCols)
        let layers = LayerAccess(model)
        func prunable(_ name: String) throws -> PrunableLayer {
            var l = try layers.prunable(name)
            for r in removed.rows[name] ?? [] where r < l.rows { l.removedRows[r] = true }
            for c in removed.cols[name] ?? [] where c < l.cols { l.removedCols[c] = true }
            return l
        }
        func factorsOf(_ name: String) throws -> (g: [Double]?, a: [Double]?) {
            let g = try factors.flatMap { try doubleFactor($0.g(name), layer: name) }
            let a = try factors.flatMap { try doubleFactor($0.a(name), layer: name) }
            return (usesG ? g : nil, a)
        }
        // a distributed run's rank costs and updates its own layers (`ownership`), then shares them
        let mine = names.indices.filter { owns(names[$0]) }
        var analyses = [StructuredAnalysis?](repeating: nil, count: names.count)
        log("costing \(mine.count) layers")
        try parallelLayers(mine.count, progress: log, what: "costing") { k in
            let i = mine[k]
            let l = try prunable(names[i])
            let f = try factorsOf(names[i])
            let analysis = try structuredAnalysis(l, g: f.g, a: f.a, method: method, dampG: dG, dampA: dA)
            return { analyses[i] = analysis }
        }
        let shapes = try names.map { try layerShape($0) }
        let costs = try gatherCosts(rows: analyses.map { $0?.rowCost }, cols: analyses.map { $0?.colCost }, shapes: shapes)
        let total = shapes.reduce(0) { $0 + $1.rows * $1.cols }
        let sel = selectStructures(rowCosts: costs.rows, colCosts: costs.cols, target: Int((target * Double(total)).rounded(.down)))
        let mode = method.traits.updatesWeights ? updates : .none
        var after = [(rows: [Int], cols: [Int])](repeating: ([], []), count: names.count)
        try parallelLayers(mine.count, progress: log, what: "updating") { k in
            let i = mine[k]
            guard let analysis = analyses[i] else { throw SurgeryError.invalidTarget("layer \(names[i]) was not costed") }
            var l = try prunable(names[i])
            let newRows = sel.rows[i].filter { !l.removedRows[$0] }
            let newCols = sel.cols[i].filter { !l.removedCols[$0] }
            let f: (g: [Double]?, a: [Double]?) = mode != .none && !(newRows.isEmpty && newCols.isEmpty) ? try factorsOf(names[i]) : (nil, nil)
            try applyStructuredUpdate(&l, analysis: analysis, newRows: newRows, newCols: newCols, mode: mode,
                                      g: f.g, a: f.a, dampG: dG, dampA: dA)
            let removedNow = ((0..<l.rows).filter { l.removedRows[$0] }, (0..<l.cols).filter { l.removedCols[$0] })
            try layers.replace(l)
            return { after[i] = removedNow }
        }
        try shareUpdatedLayers(names, removed: &after)
        for (i, name) in names.enumerated() {
            state.removedRows[name] = after[i].rows
            state.removedCols[name] = after[i].cols
        }
        return sel.threshold
    }
}
