import Runtime

/// Which pruned layers get low-rank adapters.
public enum LowRankLayers: String, Codable, Sendable, CaseIterable {
    /// q, k, v and the attention output (o_proj / out_proj).
    case attn
    /// gate, up, down (Llama) or fc1, fc2 (OPT).
    case mlp
    /// Every pruned layer.
    case all

    /// Whether a block linear of this role (see `ArchitectureDescriptor.role(of:)`) belongs to this choice.
    public func includes(_ role: LinearRole) -> Bool {
        switch self {
        case .all: return true
        case .attn: return role.isAttention
        case .mlp: return !role.isAttention
        }
    }
}

/// The first-order low-rank correction of a compression run (surgeon.md §7), recorded in
/// compression.json: after every shot `stepsPerShot` Adam steps (one calibration window each, a
/// seeded random subset) on fresh rank-`rank` adapters, merged; after the last shot `finalEpochs`
/// epochs over all windows, merged. The learning rate decays linearly to 0 over each phase.
public struct LowRankRecipe: Codable, Sendable, Equatable {
    public var rank: Int
    public var learningRate: Double
    public var stepsPerShot: Int
    public var finalEpochs: Int
    public var layers: LowRankLayers
    /// Seed of the adapters' initialization and of the window order.
    public var seed: UInt64

    /// Paper defaults: rank 8, lr 1e-4, ~3 windows after each shot, 5 epochs at the end.
    public init(rank: Int = 8, learningRate: Double = 1e-4, stepsPerShot: Int = 3, finalEpochs: Int = 5,
                layers: LowRankLayers = .all, seed: UInt64 = 100) {
        self.rank = rank
        self.learningRate = learningRate
        self.stepsPerShot = stepsPerShot
        self.finalEpochs = finalEpochs
        self.layers = layers
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey {
        case rank, layers, seed
        case learningRate = "learning_rate", stepsPerShot = "steps_per_shot", finalEpochs = "final_epochs"
    }

    /// Checks values a caller could get wrong (flags are parsed elsewhere).
    public func validate() throws {
        guard rank >= 1, rank <= 4096 else { throw SurgeryError.invalidTarget("the low-rank correction needs a rank between 1 and 4096 (got \(rank))") }
        guard learningRate > 0, learningRate.isFinite else {
            throw SurgeryError.invalidTarget("the low-rank learning rate must be finite and > 0 (got \(learningRate))")
        }
        guard stepsPerShot >= 0, finalEpochs >= 0 else {
            throw SurgeryError.invalidTarget("low-rank steps per shot and final epochs must be ≥ 0 (got \(stepsPerShot), \(finalEpochs))")
        }
    }
}

/// What one low-rank phase did (after a shot, or the final epochs).
public struct LowRankPhaseReport: Codable, Sendable, Equatable {
    public var steps: Int
    public var epochs: Int
    /// Number of layers with adapters.
    public var layers: Int
    /// Loss of the first step's window before any update (the model as the shot left it).
    public var firstLoss: Double
    /// Mean training loss over each epoch's steps (the loss of each window before its own step).
    public var epochLosses: [Double]
    public var seconds: Double

    public init(steps: Int, epochs: Int, layers: Int, firstLoss: Double, epochLosses: [Double], seconds: Double) {
        self.steps = steps
        self.epochs = epochs
        self.layers = layers
        self.firstLoss = firstLoss
        self.epochLosses = epochLosses
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case steps, epochs, layers, seconds
        case firstLoss = "first_loss", epochLosses = "epoch_losses"
    }
}
