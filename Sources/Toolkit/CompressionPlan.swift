import Foundation
import Runtime
import Surgery

/// `compress --dry-run`: what a compression would need — bytes, FLOPs, time — from the model's config
/// and the recipe alone, without loading weights (a config.json is enough). Bytes follow how the
/// surgery holds things: the model in its type, the K-FAC factors in float32 (one A per input
/// group, one G per layer), the training tape of one window, and per worker the float64 work of one
/// layer; the adaptive schedule keeps one more copy of the block linears during a shot.
public struct CompressionPlan: Codable, Sendable {
    /// A block linear and the factors it owns (A only on its input group's first layer).
    public struct Layer: Codable, Sendable, Equatable {
        public var name: String
        public var rows: Int
        public var cols: Int
        public var bias: Bool
        /// Side of the A factor this layer holds (nil: it shares its group leader's).
        public var aSide: Int?
        public var gSide: Int
    }

    public var architecture: String
    public var layers: [Layer]
    public var dtype: WeightDType
    public var windowsPerShot: Int
    public var seqlen: Int
    public var threads: Int
    public var modelBytes: Int
    public var blockLinearBytes: Int
    public var factorBytes: Int
    public var tapeBytes: Int
    public var workerBytes: Int
    public var snapshotBytes: Int
    public var peakBytes: Int
    /// FLOPs of one shot: forward and backward passes, factor accumulation, costing (float64), updates (float64).
    public var passFlops: Double
    public var factorFlops: Double
    public var costingFlops: Double
    public var updateFlops: Double
    /// Shots the recipe takes at least (adaptive: with no attempt undone).
    public var shots: Int
    /// This machine's measured speeds (FLOP/s) and the estimates made from them.
    public var sgemmRate: Double
    public var float64Rate: Double
    public var secondsPerShot: Double
    public var seconds: Double
    /// Memory of this machine (/proc/meminfo MemTotal; 0 when unknown).
    public var machineBytes: Int

    /// Whether the peak stays under the model plus the memory limit (`--max-memory`, else 90% of this machine's).
    public var fits: Bool
    /// The memory limit besides the model's weights the plan was made for (nil: none given: this
    /// machine's less a tenth and the model) and the factor bytes it leaves.
    public var maxMemory: Int?
    public var factorBudget: Int?
    /// Calibration passes per shot: one per layer group whose factors fit the budget.
    public var layerGroups: Int
    /// Scratch disk for the factors of grouped passes or the rows of a spilling pass (0: all in memory).
    public var scratchBytes: Int
    /// Where the factors live.
    public var factorStorage: FactorPlacement
    /// Bytes a spilling pass would write (whether or not the plan spills).
    public var spillBytes: Int

    enum CodingKeys: String, CodingKey {
        case architecture, layers, dtype, seqlen, threads, shots, seconds, fits
        case windowsPerShot = "windows_per_shot", modelBytes = "model_bytes", blockLinearBytes = "block_linear_bytes"
        case factorBytes = "factor_bytes", tapeBytes = "tape_bytes", workerBytes = "worker_bytes", snapshotBytes = "snapshot_bytes"
        case peakBytes = "peak_bytes", passFlops = "pass_flops", factorFlops = "factor_flops", costingFlops = "costing_flops"
        case updateFlops = "update_flops", sgemmRate = "sgemm_flops_per_s", float64Rate = "float64_flops_per_s"
        case secondsPerShot = "seconds_per_shot", machineBytes = "machine_bytes", maxMemory = "max_memory"
        case factorBudget = "factor_budget", layerGroups = "layer_groups", scratchBytes = "scratch_bytes"
        case factorStorage = "factor_storage", spillBytes = "spill_bytes"
    }
}

/// How factors that do not fit the memory limit are kept (`compress --factor-storage`): `groups`
/// (one calibration pass per group of layers whose factors fit, the factors on disk), `spill` (one
/// pass writing the factors' rows to disk, each factor built when needed), or `auto`: whichever the
/// plan predicts faster.
public enum FactorStorage: String, Codable, Sendable, CaseIterable {
    case auto, groups, spill
}

/// Where a plan keeps the factors: all in memory, a pass per layer group with the factors on disk,
/// or one pass with its rows on disk and each factor built when needed.
public enum FactorPlacement: String, Codable, Sendable {
    case memory, groups, spill
}

extension CompressionPlan {
    /// The config of `path` without loading weights: a config.json, a directory holding one (with
    /// or without weights), or any model `ModelFiles` opens (a GGUF's header).
    public static func config(of path: String) throws -> ModelConfig {
        var isDir: ObjCBool = false
        let fm = FileManager.default
        if path.hasSuffix(".json") { return try ModelConfig.fromHuggingFace(path: path) }
        if fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            let cfg = (path as NSString).appendingPathComponent("config.json")
            let weights = ["model.safetensors", "model.safetensors.index.json"].map { (path as NSString).appendingPathComponent($0) }
            if fm.fileExists(atPath: cfg), !weights.contains(where: fm.fileExists(atPath:)) { return try ModelConfig.fromHuggingFace(path: cfg) }
        }
        return try ModelFiles.open(path).config
    }

    /// The weight type a config.json names (`torch_dtype`, or `dtype` in newer files): what a model
    /// of that config loads in by default; nil when `path` is not a config (or names no 16-bit type).
    public static func configDType(of path: String) -> WeightDType? {
        var file = path
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            file = (path as NSString).appendingPathComponent("config.json")
        }
        guard file.hasSuffix(".json"), let data = FileManager.default.contents(atPath: file),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let name = (json["torch_dtype"] ?? json["dtype"]) as? String
        return WeightDType.allCases.first { $0.torchName == name }
    }

    /// Bytes as "1.23 GiB".
    public static func gib(_ b: Int) -> String { String(format: "%.2f GiB", Double(b) / Double(1 << 30)) }

    /// The plan as lines for a terminal.
    public func text() -> String {
        let gib = Self.gib
        func tf(_ x: Double) -> String { String(format: "%.2f TFLOP", x / 1e12) }
        var s = "plan (nothing computed, nothing written): \(architecture), \(layers.count) block linears, weights in \(dtype)\n"
        s += "memory:\n"
        s += "  model                 \(gib(modelBytes)) (block linears \(gib(blockLinearBytes)))\n"
        let shared = layers.filter { $0.aSide != nil }.count
        s += "  K-FAC factor sums     \(gib(factorBytes)) (\(shared) A shared by input group, \(layers.count) G)\n"
        s += "  one window's tape     \(gib(tapeBytes)) (\(seqlen) tokens)\n"
        s += "  float64 work          \(gib(workerBytes)) (one layer per worker, \(threads) workers)\n"
        if snapshotBytes > 0 { s += "  undo snapshot         \(gib(snapshotBytes)) (adaptive schedule)\n" }
        s += "  peak (estimate)       \(gib(peakBytes))" + (machineBytes > 0 ? " of \(gib(machineBytes)) on this machine" : "")
            + (maxMemory.map { ", limit the model + \(gib($0))" } ?? "") + "\n"
        switch factorStorage {
        case .spill:
            s += "  scratch disk          \(gib(scratchBytes)) (one pass spills the factors' rows; each factor is built when needed)\n"
        case .groups:
            s += "  scratch disk          \(gib(scratchBytes)) (the factors of \(layerGroups) layer groups, one pass per group)\n"
        case .memory:
            s += "  scratch disk          none (the factors are held in memory)\n"
        }
        s += "work per shot (\(windowsPerShot) windows of \(seqlen) tokens):\n"
        s += "  passes                \(tf(passFlops))\n"
        s += factorStorage == .spill ? "  factor builds         \(tf(factorFlops)) (each factor built for costing and for the update)\n"
                                      : "  factor updates        \(tf(factorFlops))\n"
        s += "  costing (float64)     \(tf(costingFlops))\n  weight updates (f64)  \(tf(updateFlops))\n"
        s += String(format: "time (this machine: sgemm %.0f GFLOP/s, float64 Cholesky %.0f GFLOP/s): %.0f s per shot, at least %d shots, %.1f min\n",
                    sgemmRate / 1e9, float64Rate / 1e9, secondsPerShot, shots, seconds / 60)
        if fits {
            s += "fits: yes" + (factorStorage == .spill ? " (one pass per shot, its rows spilled to disk)"
                                : layerGroups > 1 ? " (in \(layerGroups) passes per shot)" : "") + "\n"
        } else {
            let limit = maxMemory.map { "--max-memory \(gib($0))" } ?? "this machine's memory less a tenth and the model"
            s += "fits: NO — besides the model, one window's tape, the float64 work and the snapshot need "
                + "\(gib(peakBytes - factorBytes - modelBytes)), and the largest input group's factors or a spilling pass's builds "
                + "more than \(limit) leaves."
            if dtype == .f32 { s += " --dtype bf16 halves the model." }
            s += "\n"
        }
        return s
    }
}
