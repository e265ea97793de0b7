import Surgery

/// Why a compression job refused to run. Messages name the job's parameters (`CompressionOptions`
/// and recipe fields); the CLI maps them to its flags.
public enum CompressionJobError: Error, CustomStringConvertible, Equatable {
    /// The output directory exists and `overwrite` is off.
    case outputExists(path: String)
    /// Calibration windows longer than the model's context.
    case seqlenExceedsContext(seqlen: Int, context: Int)
    /// The recipe needs calibration windows — for its method's curvature (`needs` .method) or for
    /// the low-rank correction (.lowrank) — and neither a calibration text nor a file of windows was given.
    case noCalibrationSource(needs: RecipeField, method: PruningMethod)
    /// `resume` found a checkpoint made with another recipe: every differing field, both values.
    case recipeMismatch(checkpoint: String, differences: [RecipeDifference])

    public var description: String {
        switch self {
        case .outputExists(let p):
            return "\(p) already exists; choose another output or allow overwriting it (overwrite)"
        case .seqlenExceedsContext(let L, let ctx):
            return "calibration windows of \(L) tokens (seqlen) exceed the model's context of \(ctx)"
        case .noCalibrationSource(let field, let method):
            let needs = field == .method ? "method \(method.rawValue)" : "the low-rank correction (lowrank)"
            return "\(needs) needs calibration data: a calibration text (calibFile, e.g. wiki.valid.raw) or a file of token-id windows (idsFile)"
        case .recipeMismatch(let dir, let diffs):
            return "the checkpoint at \(dir) was made with another recipe (\(diffs.map(\.description).joined(separator: "; "))); delete it or do not resume"
        }
    }
}
