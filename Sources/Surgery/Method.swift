/// Which costs rank the structures, and whether the surviving weights are updated. What each
/// method needs and does is declared once, in `traits`; the driver reads the traits, and only the
/// cost formulas switch (exhaustively, on `MethodTraits.Cost`).
public enum PruningMethod: String, Codable, Sendable, CaseIterable {
    /// Exact OBS costs under the damped K-FAC Fisher, with correlated weight updates.
    case surgeon
    /// K-OBD: diagonal K-FAC costs, no update.
    case kobd
    /// L-OBD: activation-only (G = I) diagonal costs, no update.
    case lobd
    /// Magnitude (G = A = I), no update, no data.
    case magnitude
    /// SparseGPT: layer-wise OBS with G = I (unstructured and 2:4).
    case sparsegpt
    /// Wanda: |w|·‖x‖ within each output row, no update (unstructured and 2:4).
    case wanda

    /// What the method needs and does (the one place a method is described; no `default:`).
    public var traits: MethodTraits {
        let all = Set(Structure.allCases), elements: Set<Structure> = [.unstructured, .twoFour]
        switch self {
        case .surgeon:
            return MethodTraits(curvature: .kfac, cost: .obs, updatesWeights: true, isLayerwise: false, structures: all)
        case .kobd:
            return MethodTraits(curvature: .kfac, cost: .diagonal, updatesWeights: false, isLayerwise: false, structures: all)
        case .lobd:
            return MethodTraits(curvature: .activations, cost: .diagonal, updatesWeights: false, isLayerwise: false, structures: all)
        case .magnitude:
            return MethodTraits(curvature: .identity, cost: .magnitude, updatesWeights: false, isLayerwise: false, structures: all)
        case .sparsegpt:
            return MethodTraits(curvature: .activations, cost: .layerwiseOBS, updatesWeights: true, isLayerwise: true,
                                structures: elements)
        case .wanda:
            return MethodTraits(curvature: .activations, cost: .inputNorm, updatesWeights: false, isLayerwise: true,
                                structures: elements)
        }
    }

    /// Whether the method needs calibration windows (any curvature but the identity).
    public var needsData: Bool { traits.curvature != .identity }
    /// Whether the method uses G (the output-gradient factor) and so needs backward passes.
    public var needsGradients: Bool { traits.usesG }
    /// SparseGPT and Wanda prune layer by layer with their own sequential pass over the blocks
    /// (one pass at the full target, whatever the shot count).
    public var isLayerwise: Bool { traits.isLayerwise }
}

/// A pruning method's declared behaviour, read by the driver (`Compressor`), the cost functions and
/// the layer-wise pass.
public struct MethodTraits: Sendable, Equatable {
    /// How a structure's removal is costed.
    public enum Cost: String, Sendable, CaseIterable {
        /// Exact OBS under the damped Kronecker factors: w²/(2·Gi[r,r]·Ai[c,c]), rows and columns
        /// with their quadratic forms (surgeon.md §3).
        case obs
        /// OBD on the Fisher's diagonal: G[r,r]·A[c,c]·w²/2 (rows G[r,r]·w_rᵀAw_r/2 when G is used,
        /// Σ_c A[c,c]·w²/2 when G = I).
        case diagonal
        /// w²/2 (G = A = I).
        case magnitude
        /// SparseGPT's column-by-column OBS under H = XᵀX, layer by layer (with its own update).
        case layerwiseOBS
        /// Wanda's |w|·‖x‖ within each output row, layer by layer.
        case inputNorm
    }

    /// The Fisher approximation the costs (and updates) use; `.identity` needs no data.
    public var curvature: CurvatureMethod
    public var cost: Cost
    /// Whether the surviving weights are updated to compensate (surgeon's OBS updates, SparseGPT's
    /// own); the others only zero.
    public var updatesWeights: Bool
    /// Pruned block by block to the full target in one pass (`pruneLayerwise`), not shot by shot.
    public var isLayerwise: Bool
    /// The sparsity patterns the method can produce.
    public var structures: Set<Structure>

    /// Whether G (the output-gradient factor, from backward passes) enters the costs.
    public var usesG: Bool { curvature == .kfac }
}

/// How removed structures are compensated by the surviving weights (structured surgeon).
public enum UpdateMode: String, Codable, Sendable, CaseIterable {
    /// All rows of a layer in one solve and all columns in one solve (paper default).
    case joint
    /// Each row and each column compensated on its own.
    case independent
    /// No update (costs only).
    case none
}

/// The sparsity pattern being produced.
public enum Structure: String, Codable, Sendable, CaseIterable {
    case rowsColumns = "rows-columns"
    case unstructured
    case twoFour = "2:4"
}
