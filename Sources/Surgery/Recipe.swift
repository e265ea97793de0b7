import Foundation

/// Everything that decides a compression run: built once (by the CLI), checked once (`validate()`),
/// handed to `Compressor`, recorded in compression.json and in checkpoints, and compared whole on
/// resume (`differences(from:)`). The JSON keys and string values are those of every earlier file.
public struct CompressionRecipe: Codable, Sendable, Equatable {
    public var method: PruningMethod
    public var structure: Structure
    public var targetSparsity: Double
    public var shots: Int
    public var dampG: Double
    public var dampA: Double
    /// Weight updates of the structured surgeon (recorded for every method; only read when the
    /// method's traits say it updates weights).
    public var updates: UpdateMode
    public var fisher: FisherLabels
    public var calibration: CalibrationRecord?
    /// The first-order low-rank correction between shots (absent: none; older files have none).
    public var lowrank: LowRankRecipe?
    /// Largest number of masked entries per joint solve of the unstructured / 2:4 surgeon update
    /// (absent: `defaultMaxGroupEntries`, the paper's 2000).
    public var groupEntries: Int?
    /// How the shots reach the target (absent: linear, as in every earlier file). With `.adaptive`,
    /// `shots` is the plan the run starts from (first step target/shots) and `adaptive` the rule.
    public var schedule: ShotSchedule?
    public var adaptive: AdaptiveSchedule?
    /// Calibration windows held out of the curvature to measure the held-out loss after each shot
    /// (the adaptive schedule's test and the final guard; absent or 0: none).
    public var heldOut: Int?
    /// The guard: the most the held-out loss may rise over the whole run, in nats (absent: no bound).
    public var maxLossRise: Double?
    /// Windows each curvature estimate reads, rotating through the calibration windows from shot to
    /// shot (`Calibration.rotation`); absent: every window, every shot.
    public var curvatureWindows: Int?

    public init(method: PruningMethod, structure: Structure, targetSparsity: Double, shots: Int, dampG: Double, dampA: Double,
                updates: UpdateMode = .joint, fisher: FisherLabels = .empirical, calibration: CalibrationRecord? = nil,
                lowrank: LowRankRecipe? = nil, groupEntries: Int? = nil, schedule: ShotSchedule? = nil,
                adaptive: AdaptiveSchedule? = nil, heldOut: Int? = nil, maxLossRise: Double? = nil,
                curvatureWindows: Int? = nil) {
        self.method = method
        self.structure = structure
        self.targetSparsity = targetSparsity
        self.shots = shots
        self.dampG = dampG
        self.dampA = dampA
        self.updates = updates
        self.fisher = fisher
        self.calibration = calibration
        self.lowrank = lowrank
        self.groupEntries = groupEntries
        self.schedule = schedule
        self.adaptive = adaptive
        self.heldOut = heldOut
        self.maxLossRise = maxLossRise
        self.curvatureWindows = curvatureWindows
    }

    /// The schedule the run follows (absent: linear).
    public var shotSchedule: ShotSchedule { schedule ?? .linear }

    /// Whether the shots follow the adaptive rule (a multi-shot method with `adaptive` set).
    public var isAdaptive: Bool { shotSchedule == .adaptive && !method.isLayerwise }

    /// The most shots a run may take: `shots` (linear), or as many as the smallest steps make (adaptive).
    public var maxShots: Int {
        guard isAdaptive, let a = adaptive else { return shots }
        return max(shots, Int((targetSparsity / a.minStep - 1e-9).rounded(.up)))
    }

    enum CodingKeys: String, CodingKey {
        case method, structure, shots, updates, fisher, calibration, lowrank, schedule, adaptive
        case targetSparsity = "target_sparsity", dampG = "damp_g", dampA = "damp_a", groupEntries = "group_entries"
        case heldOut = "held_out", maxLossRise = "max_loss_rise", curvatureWindows = "curvature_windows"
    }

    /// The one check of a recipe's values (model-dependent checks, such as 2:4 layer shapes and the
    /// presence of calibration windows, are `Compressor`'s). Throws `SurgeryError.invalidRecipe`
    /// naming the field.
    public func validate() throws {
        func bad(_ f: RecipeField, _ s: String) -> SurgeryError { .invalidRecipe(f, s) }
        // 0 would prune nothing (a whole run for an unchanged model): refused like any no-op
        guard targetSparsity > 0, targetSparsity < 1 else {
            throw bad(.targetSparsity, "the target sparsity must be in (0, 1): above 0, since 0 removes nothing, and below 1 (got \(targetSparsity))")
        }
        guard shots >= 1, shots <= 1000 else { throw bad(.shots, "shots must be between 1 and 1000 (got \(shots))") }
        guard dampG >= 0, dampG.isFinite else { throw bad(.dampG, "the damping of G must be finite and ≥ 0 (got \(dampG))") }
        guard dampA >= 0, dampA.isFinite else { throw bad(.dampA, "the damping of A must be finite and ≥ 0 (got \(dampA))") }
        if case .sampled(let k, _) = fisher, !(1...1000).contains(k) {
            throw bad(.fisher, "sampled Fisher labels need 1 ≤ k ≤ 1000 samples (got \(k))")
        }
        if let g = groupEntries, !(1...100_000).contains(g) {
            throw bad(.groupEntries, "group entries must be between 1 and 100000 (got \(g))")
        }
        let traits = method.traits
        guard traits.structures.contains(structure) else {
            let others = PruningMethod.allCases.filter { $0.traits.structures.contains(structure) }.map(\.rawValue)
            let own = Structure.allCases.filter { traits.structures.contains($0) }.map(\.rawValue)
            throw bad(.structure, "\(method.rawValue) prunes \(own.joined(separator: " and ")) patterns only; use \(others.joined(separator: ", ")) for \(structure.rawValue)")
        }
        if structure == .twoFour {
            guard targetSparsity <= 0.5 else {
                throw bad(.targetSparsity, "2:4 removes at most half of the weights: use a target ≤ 0.5 (got \(targetSparsity))")
            }
            if traits.isLayerwise && targetSparsity != 0.5 {
                throw bad(.targetSparsity, "\(method.rawValue) with 2:4 prunes exactly two of every four weights: use target 0.5 (got \(targetSparsity))")
            }
        }
        if shotSchedule == .adaptive {
            guard let adaptive else { throw bad(.adaptive, "the adaptive schedule needs its parameters") }
            try adaptive.validate()
            guard (heldOut ?? 0) >= 1 else { throw bad(.heldOut, "the adaptive schedule measures a held-out loss: hold out at least 1 window") }
        } else if adaptive != nil {
            throw bad(.adaptive, "adaptive parameters are given but the schedule is linear")
        }
        if let w = curvatureWindows, !(1...100_000).contains(w) {
            throw bad(.curvatureWindows, "curvature windows per shot must be between 1 and 100000 (got \(w))")
        }
        if let h = heldOut, !(0...1000).contains(h) { throw bad(.heldOut, "held-out windows must be between 0 and 1000 (got \(h))") }
        if let m = maxLossRise {
            guard m > 0, m.isFinite else { throw bad(.maxLossRise, "the bound on the held-out loss rise must be finite and > 0 nats (got \(m))") }
            guard (heldOut ?? 0) >= 1 else { throw bad(.heldOut, "the guard on the held-out loss needs at least 1 held-out window") }
        }
        do {
            try lowrank?.validate()
        } catch SurgeryError.invalidTarget(let s) {
            throw bad(.lowrank, s)
        }
    }
}

/// A field of `CompressionRecipe`, named by its compression.json key (errors and resume mismatches
/// name fields this way; the CLI maps them to its flags).
public enum RecipeField: String, Sendable, CaseIterable {
    case method, structure, shots, updates, fisher, calibration, lowrank, schedule, adaptive
    case targetSparsity = "target_sparsity", dampG = "damp_g", dampA = "damp_a", groupEntries = "group_entries"
    case heldOut = "held_out", maxLossRise = "max_loss_rise", curvatureWindows = "curvature_windows"
}

/// Fisher labels in compression.json: "empirical" or "sampled(k=K, seed=S)".
extension FisherLabels: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let labels = FisherLabels(recorded: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "fisher must be empirical or sampled(k=K, seed=S) (got \(s))")
        }
        self = labels
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// Parses the recorded form (`description`).
    init?(recorded s: String) {
        if s == "empirical" { self = .empirical; return }
        guard s.hasPrefix("sampled(k="), s.hasSuffix(")") else { return nil }
        let parts = s.dropFirst("sampled(k=".count).dropLast().components(separatedBy: ", seed=")
        guard parts.count == 2, let k = Int(parts[0]), let seed = UInt64(parts[1]) else { return nil }
        self = .sampled(k, seed: seed)
    }
}

/// Where the calibration windows came from.
public struct CalibrationRecord: Codable, Sendable, Equatable {
    public var file: String
    public var nsamples: Int
    public var seqlen: Int
    public var seed: UInt64?
    public var offsets: [Int]
    /// Where the held-out windows start (text calibration), or their indices in the ids file.
    public var heldOutOffsets: [Int]?

    public init(file: String, nsamples: Int, seqlen: Int, seed: UInt64?, offsets: [Int], heldOutOffsets: [Int]? = nil) {
        self.file = file
        self.nsamples = nsamples
        self.seqlen = seqlen
        self.seed = seed
        self.offsets = offsets
        self.heldOutOffsets = heldOutOffsets
    }

    enum CodingKeys: String, CodingKey {
        case file, nsamples, seqlen, seed, offsets
        case heldOutOffsets = "held_out_offsets"
    }
}

/// What one shot did.
public struct ShotReport: Codable, Sendable, Equatable {
    public var shot: Int
    public var targetSparsity: Double
    public var actualSparsity: Double
    public var seconds: Double
    public var threshold: Double?
    public var perplexity: Double?
    /// The low-rank correction after this shot, and after the last shot its final epochs.
    public var lowrank: LowRankPhaseReport? = nil
    public var lowrankFinal: LowRankPhaseReport? = nil
    /// Mean next-token loss on the held-out windows after the shot (runs with held-out windows).
    public var heldOutLoss: Double? = nil

    enum CodingKeys: String, CodingKey {
        case shot, seconds, threshold, perplexity, lowrank
        case lowrankFinal = "lowrank_final", heldOutLoss = "held_out_loss"
        case targetSparsity = "target_sparsity", actualSparsity = "actual_sparsity"
    }
}

/// Per pruned layer: its shape and what was removed.
public struct LayerReport: Codable, Sendable, Equatable {
    public var name: String
    public var shape: [Int]            // [R, C] of the weight
    public var bias: Bool
    public var removedRows: [Int]
    public var removedCols: [Int]      // the bias column is index C
    public var sparsity: Double        // zeros / parameters (bias included)
    /// How the layer is stored in model.safetensors (dense, compacted, 2:4, bitmask, csr) and its bytes.
    public var storage: String?
    public var bytes: Int?
    /// The type of its stored values (f32, f16, bf16; `compress --dtype`).
    public var dtype: String? = nil

    enum CodingKeys: String, CodingKey {
        case name, shape, bias, sparsity, storage, bytes, dtype
        case removedRows = "removed_rows", removedCols = "removed_cols"
    }
}

/// compression.json: the recipe, the shots and the layers.
public struct CompressionReport: Codable, Sendable, Equatable {
    public var format = "surgeon-compression/1"
    public var source: String
    public var architecture: String
    public var recipe: CompressionRecipe
    public var shots: [ShotReport]
    public var actualSparsity: Double
    public var layers: [LayerReport]
    /// Held-out losses before the first and after the last shot (runs with held-out windows).
    public var heldOut: HeldOutLosses? = nil
    /// Every attempt of the adaptive schedule, accepted or rejected, in order.
    public var attempts: [ScheduleAttempt]? = nil
    /// The final held-out check against `max_loss_rise`.
    public var guardVerdict: GuardVerdict? = nil
    /// The type the output's weights are written in (`compress --dtype`; absent: f32).
    public var dtype: String? = nil
    /// The MPI ranks the run was spread over (absent: one process).
    public var ranks: Int? = nil

    enum CodingKeys: String, CodingKey {
        case format, source, architecture, recipe, shots, layers, attempts, dtype, ranks
        case actualSparsity = "actual_sparsity", heldOut = "held_out", guardVerdict = "guard"
    }

    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(self)
    }

    public static func read(path: String) throws -> CompressionReport {
        try JSONDecoder().decode(CompressionReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
