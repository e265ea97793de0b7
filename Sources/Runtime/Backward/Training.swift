/// The training-side interface of the models: one window's forward pass recorded on a tape, then
/// hand-written backward passes giving d loss / d parameter and, per block linear layer, its input
/// activations and output gradients (what K-FAC needs).

/// One block linear layer seen during a training pass.
public struct LinearActivity {
    /// Hugging Face name without `.weight`, e.g. `model.layers.0.self_attn.q_proj`.
    public let name: String
    /// Name of the first layer reading the very same input (q_proj for q/k/v, gate_proj for
    /// gate/up, the layer itself otherwise; `ArchitectureDescriptor.inputGroups`): equal inputs,
    /// so statistics of x are shared.
    public let inputGroup: String
    /// x: [T, C], the layer input.
    public let input: UnsafePointer<Float>
    /// dy: [T, R] = d loss / d layer output; nil during the forward pass.
    public let outputGradient: UnsafePointer<Float>?
    public let tokens: Int        // T
    public let inFeatures: Int    // C
    public let outFeatures: Int   // R
    /// The layer adds a bias (OPT): curvature treats it as an extra input column of ones.
    public let hasBias: Bool
}

/// Receives every block linear layer's activity, in the forward pass (input only, model order) and
/// in the backward pass (input and output gradient, reverse order). Called on the caller's thread,
/// between parallel regions; the pointers are valid only during the call.
public protocol LinearObserver: AnyObject {
    func observe(_ activity: LinearActivity)
}

/// Labels of a training window.
public enum TrainingLabels {
    /// targets[t] = label of position t, or −1 for an unscored position.
    case given([Int32])
    /// Labels drawn from the model's own softmax at the positions where scored[t] (true Fisher).
    /// Position t draws from its own generator seeded by (seed, t), so results do not depend on threads.
    case sampled(scored: [Bool], seed: UInt64)
}

/// Errors of training passes (all checked before anything runs).
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case emptyWindow
    case windowTooLong(length: Int, maxPositions: Int)
    case invalidToken(id: Int32, vocabSize: Int)
    case invalidTarget(position: Int, label: Int32, vocabSize: Int)
    case labelCountMismatch(tokens: Int, labels: Int)
    case noScoredPositions
    case backwardBeforeForward

    public var description: String {
        switch self {
        case .emptyWindow: return "the training window is empty"
        case .windowTooLong(let n, let m): return "a window of \(n) tokens exceeds the model's \(m) positions"
        case .invalidToken(let id, let v): return "token id \(id) is outside the vocabulary (0..<\(v))"
        case .invalidTarget(let t, let l, let v): return "label \(l) at position \(t) is neither −1 nor in 0..<\(v)"
        case .labelCountMismatch(let t, let l): return "\(l) labels given for \(t) tokens"
        case .noScoredPositions: return "no position of the window is scored (all labels are −1)"
        case .backwardBeforeForward: return "backward called before a forward pass was recorded"
        }
    }
}

/// One window's recorded forward pass. Buffers are reused between windows, so a tape should be
/// kept across a calibration loop. Memory: O(T·C) activations per layer plus one layer's scratch.
public protocol TrainingTape: AnyObject {
    /// Number of tokens of the recorded window (0 before the first forward).
    var length: Int { get }
    /// Runs the forward pass of `tokens` at positions 0..<T, keeping what backward needs. The
    /// observer sees every block linear's input (outputGradient nil).
    func forward(_ tokens: [Int32], observer: LinearObserver?) throws
    /// Loss = mean cross-entropy over the scored positions of the recorded window, and its backward:
    /// the observer sees every block linear's input and output gradient; `gradients` (when given)
    /// accumulates d loss / d parameter. May run several times per forward (e.g. sampled labels).
    func backward(labels: TrainingLabels, observer: LinearObserver?, gradients: Gradients?) throws -> Double
}

extension CausalLM {
    /// Forward and backward of one window: returns the mean cross-entropy over the scored
    /// positions (targets[t] ≥ 0; −1 = unscored). See `TrainingTape.backward`.
    public func forwardBackward(tokens: [Int32], targets: [Int32], observer: LinearObserver? = nil,
                                gradients: Gradients? = nil, tape: TrainingTape? = nil) throws -> Double {
        let tape = tape ?? makeTrainingTape()
        try validateLabels(.given(targets), count: tokens.count)
        try tape.forward(tokens, observer: nil)
        return try tape.backward(labels: .given(targets), observer: observer, gradients: gradients)
    }

    /// Checks a window before its forward pass.
    func validateWindow(_ tokens: [Int32]) throws {
        guard !tokens.isEmpty else { throw TrainingError.emptyWindow }
        guard tokens.count <= config.maxPositions else {
            throw TrainingError.windowTooLong(length: tokens.count, maxPositions: config.maxPositions)
        }
        let V = config.vocabSize
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= V }) { throw TrainingError.invalidToken(id: bad, vocabSize: V) }
    }

    /// Checks labels against a window of `count` tokens.
    func validateLabels(_ labels: TrainingLabels, count: Int) throws {
        let V = config.vocabSize
        switch labels {
        case .given(let targets):
            guard targets.count == count else { throw TrainingError.labelCountMismatch(tokens: count, labels: targets.count) }
            for (t, l) in targets.enumerated() where l < -1 || Int(l) >= V {
                throw TrainingError.invalidTarget(position: t, label: l, vocabSize: V)
            }
            guard targets.contains(where: { $0 >= 0 }) else { throw TrainingError.noScoredPositions }
        case .sampled(let scored, _):
            guard scored.count == count else { throw TrainingError.labelCountMismatch(tokens: count, labels: scored.count) }
            guard scored.contains(true) else { throw TrainingError.noScoredPositions }
        }
    }
}

/// Next-token targets of a window: targets[t] = tokens[t+1], the last position unscored (−1).
public func nextTokenTargets(_ tokens: [Int32]) -> [Int32] {
    tokens.isEmpty ? [] : Array(tokens.dropFirst()) + [-1]
}
