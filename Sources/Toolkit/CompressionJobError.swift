import Foundation
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
    /// `resume` found a checkpoint made from another source model: every differing file.
    case sourceMismatch(checkpoint: String, differences: [SourceDifference])
    /// `resume` found a checkpoint that records no source model (written by an older version).
    case sourceUnknown(checkpoint: String)
    /// The checkpoint's own contents are inconsistent or unreadable: the field and what is wrong.
    case badCheckpoint(checkpoint: String, field: String, detail: String)
    /// `strict`: the held-out loss rose past the recipe's `max_loss_rise` (nats); nothing was written.
    case guardFailed(rise: Double, bound: Double)
    /// `maxMemory` (besides the model) leaves no room for the factors of one input group after one
    /// window's tape, the float64 work and the undo snapshot (`others` bytes; `largest`: the largest input group's factors).
    case memoryLimit(limit: Int, others: Int, largest: Int)
    /// A spilling curvature pass needs `needed` bytes of scratch disk in `directory`, which has `free`.
    case scratchSpace(directory: String, needed: Int, free: Int)

    public var description: String {
        switch self {
        case .outputExists(let p):
            return "\(p) already exists; choose another output or allow overwriting it (overwrite)"
        case .seqlenExceedsContext(let L, let ctx):
            return "calibration windows of \(L) tokens (seqlen) exceed the model's context of \(ctx)"
        case .noCalibrationSource(let field, let method):
            let needs = field == .method ? "method \(method.rawValue)" : field == .lowrank ? "the low-rank correction (lowrank)" : "the held-out loss (held_out)"
            return "\(needs) needs calibration data: a calibration text (calibFile, e.g. wiki.valid.raw) or a file of token-id windows (idsFile)"
        case .recipeMismatch(let dir, let diffs):
            return "the checkpoint at \(dir) was made with another recipe (\(diffs.map(\.description).joined(separator: "; "))); delete it or do not resume"
        case .sourceMismatch(let dir, let diffs):
            return "the checkpoint at \(dir) was made from another source model (\(diffs.map(\.description).joined(separator: "; "))); resume with that model, or delete the checkpoint or do not resume"
        case .sourceUnknown(let dir):
            return "the checkpoint at \(dir) does not record its source model (an older version wrote it), so resuming could mix models; delete it or do not resume"
        case .memoryLimit(let limit, let others, let largest):
            return "a memory limit of \(limit) bytes besides the model (maxMemory) is too small: one window's tape, the float64 work and the undo snapshot need about \(others), and the largest input group's factors \(largest) more; allow at least \(others + largest) bytes"
        case .scratchSpace(let dir, let needed, let free):
            return "the curvature pass would spill \(needed) bytes of activations into \(dir), which has \(free) bytes free; free disk space there, write the output elsewhere, or keep the factors in layer groups (factorStorage groups)"
        case .badCheckpoint(let dir, let field, let detail):
            return "the checkpoint at \(dir) is damaged: \(field) \(detail); delete it or do not resume"
        case .guardFailed(let rise, let bound):
            return String(format: "the held-out loss rose by %.4f nats (perplexity ×%.2f), past the bound of %.4f (max_loss_rise); "
                          + "nothing was written: use more shots or a lower sparsity, or raise the bound", rise, exp(rise), bound)
        }
    }
}
