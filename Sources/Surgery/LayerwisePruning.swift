import Foundation
import Runtime

/// Layer-wise pruning (SparseGPT, Wanda) of every block linear layer to the same sparsity, block by
/// block as in their reference code: the hidden states entering block 0 are computed for every
/// calibration window; for each block, one forward of the block on all windows collects
/// H = Σ X′ᵀX′/N for its layers (X′ = [X 1] with a bias; q/k/v and gate/up share H), every layer
/// of the block is pruned, and the block is run again, now pruned, to give the next block's inputs.
/// Memory: the hidden states of all windows ([N·L, C] floats) plus one block's statistics.
public func pruneLayerwise(model: CausalLM, calibration: Calibration, method: PruningMethod, structure: Structure,
                           sparsity: Double, options: SparseGPTOptions = SparseGPTOptions(),
                           log: (String) -> Void = { _ in }) throws {
    guard method.isLayerwise else {
        throw SurgeryError.invalidTarget("\(method.rawValue) is not a layer-wise method (use sparsegpt or wanda)")
    }
    let pattern: LayerPattern
    switch structure {
    case .unstructured: pattern = .unstructured(sparsity)
    case .twoFour:
        guard sparsity == 0.5 else {
            throw SurgeryError.invalidTarget("\(method.rawValue) with 2:4 prunes exactly half of each group: use target 0.5 (got \(sparsity))")
        }
        pattern = .twoFour
    case .rowsColumns:
        throw SurgeryError.invalidTarget("\(method.rawValue) prunes unstructured and 2:4 patterns only")
    }
    let names = model.blockLinearNames
    if structure == .twoFour {
        try require2of4Shapes(names.compactMap { n in model.linear(n).map { (n, $0.inFeatures) } })
    }
    let windows = calibration.windows
    let tokens = calibration.tokenCount
    var hidden = try windows.map { try model.blockInput($0) }
    let scratch = BlockScratch()
    for b in 0..<model.blockCount {
        let start = Date()
        let acc = KFACAccumulator(wantG: false)
        acc.alphaA = 1 / Float(tokens)
        for (w, window) in windows.enumerated() {
            var x = hidden[w]
            try model.forwardBlock(b, &x, T: window.count, observer: acc, scratch: scratch)
        }
        let (A, _) = acc.finish()
        try Curvature.checkFiniteFactors(A: A, G: [:], layers: names, windows: windows.count)
        let blockNames = names.filter { A[$0] != nil }
        var pruned = [PrunableLayer?](repeating: nil, count: blockNames.count)
        var failure: Error?
        let lock = NSLock()
        pruned.withUnsafeMutableBufferPointer { out in
            Parallel.forEach(blockNames.count) { i in
                do {
                    out[i] = try pruneLayer(model: model, name: blockNames[i], a: A[blockNames[i]], method: method,
                                            pattern: pattern, tokens: tokens, options: options)
                } catch {
                    lock.lock(); failure = failure ?? error; lock.unlock()
                }
            }
        }
        if let failure { throw failure }
        for (i, name) in blockNames.enumerated() {
            guard var lin = model.linear(name), let layer = pruned[i] else { continue }
            try layer.write(into: &lin)
            model.setLinear(name, lin)
        }
        if b + 1 < model.blockCount {
            for (w, window) in windows.enumerated() {
                try model.forwardBlock(b, &hidden[w], T: window.count, observer: nil, scratch: scratch)
            }
        }
        log("\(method.rawValue): block \(b + 1)/\(model.blockCount) pruned in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }
}

/// One layer of a block pruned by SparseGPT or Wanda from its activation statistics a = X′ᵀX′/N.
private func pruneLayer(model: CausalLM, name: String, a: Tensor?, method: PruningMethod, pattern: LayerPattern,
                        tokens: Int, options: SparseGPTOptions) throws -> PrunableLayer {
    guard let lin = model.linear(name) else { throw SurgeryError.invalidTarget("no layer \(name)") }
    var layer = PrunableLayer(name: name, linear: lin)
    let n = layer.cols
    guard let h = try doubleFactor(a, layer: name), h.count == n * n else {
        throw SurgeryError.noCalibrationData("no input statistics were collected for \(name)")
    }
    switch method.traits.cost {
    case .layerwiseOBS:
        try sparseGPT(w: &layer.w, rows: layer.rows, cols: n, h: h, pattern: pattern, groupedInputs: lin.inFeatures,
                      options: options, layer: name)
    case .inputNorm:
        try wanda(w: &layer.w, rows: layer.rows, cols: n, inputNorms: inputNorms(a: h, n: n, tokens: tokens), pattern: pattern,
                  groupedInputs: lin.inFeatures)
    case .obs, .diagonal, .magnitude:
        throw SurgeryError.invalidRecipe(.method, "\(method.rawValue) costs structures globally: it has no layer-wise pass")
    }
    return layer
}
