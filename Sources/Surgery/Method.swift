/// Which costs rank the structures, and whether the surviving weights are updated.
public enum PruningMethod: String, Sendable, CaseIterable {
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

    public var needsData: Bool { self != .magnitude }
    /// Whether the method uses G (the output-gradient factor) and so needs backward passes.
    public var needsGradients: Bool { self == .surgeon || self == .kobd }
}

/// How removed structures are compensated by the surviving weights (structured surgeon).
public enum UpdateMode: String, Sendable, CaseIterable {
    /// All rows of a layer in one solve and all columns in one solve (paper default).
    case joint
    /// Each row and each column compensated on its own.
    case independent
    /// No update (costs only).
    case none
}

/// The sparsity pattern being produced.
public enum Structure: String, Sendable, CaseIterable {
    case rowsColumns = "rows-columns"
    case unstructured
    case twoFour = "2:4"
}
