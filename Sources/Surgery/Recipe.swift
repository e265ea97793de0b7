import Foundation

/// Everything that decides a compression run (recorded in compression.json).
public struct CompressionRecipe: Codable, Sendable, Equatable {
    public var method: String
    public var structure: String
    public var targetSparsity: Double
    public var shots: Int
    public var dampG: Double
    public var dampA: Double
    public var updates: String
    public var fisher: String
    public var calibration: CalibrationRecord?
    /// The first-order low-rank correction between shots (absent: none; older files have none).
    public var lowrank: LowRankRecipe?
    /// Largest number of masked entries per joint solve of the unstructured / 2:4 surgeon update
    /// (absent: `defaultMaxGroupEntries`, the paper's 2000).
    public var groupEntries: Int?

    public init(method: PruningMethod, structure: Structure, targetSparsity: Double, shots: Int, dampG: Double, dampA: Double,
                updates: UpdateMode, fisher: FisherLabels, calibration: CalibrationRecord?, lowrank: LowRankRecipe? = nil,
                groupEntries: Int? = nil) {
        self.method = method.rawValue
        self.structure = structure.rawValue
        self.targetSparsity = targetSparsity
        self.shots = shots
        self.dampG = dampG
        self.dampA = dampA
        self.updates = updates.rawValue
        self.fisher = fisher.description
        self.calibration = calibration
        self.lowrank = lowrank
        self.groupEntries = groupEntries
    }

    enum CodingKeys: String, CodingKey {
        case method, structure, shots, updates, fisher, calibration, lowrank
        case targetSparsity = "target_sparsity", dampG = "damp_g", dampA = "damp_a", groupEntries = "group_entries"
    }

    /// Checks values a caller could get wrong (flags are parsed elsewhere).
    public func validate() throws {
        guard targetSparsity >= 0, targetSparsity < 1 else {
            throw SurgeryError.invalidTarget("sparsity must be in [0, 1) (got \(targetSparsity))")
        }
        guard shots >= 1, shots <= 1000 else { throw SurgeryError.invalidTarget("shots must be between 1 and 1000 (got \(shots))") }
        guard dampG >= 0, dampA >= 0, dampG.isFinite, dampA.isFinite else {
            throw SurgeryError.invalidTarget("damping must be finite and ≥ 0 (got dG \(dampG), dA \(dampA))")
        }
        if let g = groupEntries, !(1...100_000).contains(g) {
            throw SurgeryError.invalidTarget("group entries must be between 1 and 100000 (got \(g))")
        }
        try lowrank?.validate()
    }
}

/// Where the calibration windows came from.
public struct CalibrationRecord: Codable, Sendable, Equatable {
    public var file: String
    public var nsamples: Int
    public var seqlen: Int
    public var seed: UInt64?
    public var offsets: [Int]

    public init(file: String, nsamples: Int, seqlen: Int, seed: UInt64?, offsets: [Int]) {
        self.file = file
        self.nsamples = nsamples
        self.seqlen = seqlen
        self.seed = seed
        self.offsets = offsets
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

    enum CodingKeys: String, CodingKey {
        case shot, seconds, threshold, perplexity, lowrank
        case lowrankFinal = "lowrank_final"
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

    enum CodingKeys: String, CodingKey {
        case name, shape, bias, sparsity, storage, bytes
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

    enum CodingKeys: String, CodingKey {
        case format, source, architecture, recipe, shots, layers
        case actualSparsity = "actual_sparsity"
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
