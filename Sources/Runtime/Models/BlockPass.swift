/// What one call of a block's `forward` needs to know besides the block's weights. The same
/// forward serves three passes:
/// - inference: keys/values go to the layer's KV cache rows pos0..<pos0+T, compact plans run;
/// - calibration (block by block, SparseGPT/Wanda): keys/values in scratch at positions 0..<T,
///   an observer sees every linear's input;
/// - training: a `Saved` record is given; the block keeps what its backward needs (rstd, lse, ...)
///   and runs the training kernels.
struct BlockPass {
    /// Index of the block (names for the observer).
    let index: Int
    /// Row of the first of the T rows in k, v (its position is pos0 + positionOffset).
    let pos0: Int
    /// Key and value rows [pos0 + T, kvDim]: the layer's cache or scratch; rows pos0..<pos0+T are written.
    let k: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    /// Run `CompactAttention` / `MLPChain` when the layers match them (inference only: the cache
    /// rows then hold compact widths).
    let compactPlans: Bool
    /// Sees the input of every linear (outputGradient nil), in model order.
    let observer: LinearObserver?
    /// Position of row 0 of k, v (a windowed KV cache that dropped earlier rows); RoPE rotates by
    /// the position, attention only compares rows.
    var positionOffset: Int = 0
}

/// Activation buffers of one block pass, each valid for T rows.
struct BlockBuffers {
    /// Normalized sub-block input [T, C].
    let xn: UnsafeMutablePointer<Float>
    /// Queries and attention output [T, qDim].
    let q: UnsafeMutablePointer<Float>
    let att: UnsafeMutablePointer<Float>
    /// MLP pre-activations [T, F]: gate and up (Llama), fc1 output (OPT; h2 unused).
    let h1: UnsafeMutablePointer<Float>
    let h2: UnsafeMutablePointer<Float>
    /// Where the activation goes when h1 must be kept (training) [T, F]; nil: in place in h1.
    let h: UnsafeMutablePointer<Float>?
    /// Per-thread scratch of the training attention kernel (empty otherwise).
    let threads: [Buffer]
}

/// Scratch memory of block passes outside inference (calibration, the training backward), kept
/// across windows and blocks.
public final class BlockScratch {
    let xn = Buffer(), q = Buffer(), k = Buffer(), v = Buffer(), att = Buffer(), g = Buffer(), u = Buffer()
    // training backward
    let h = Buffer(), dxn = Buffer(), dh = Buffer(), dg = Buffer(), du = Buffer()
    let datt = Buffer(), dq = Buffer(), dk = Buffer(), dv = Buffer(), dkHead = Buffer(), dvHead = Buffer()
    private(set) var threads: [Buffer] = []

    public init() {}

    /// Per-thread buffers of the training attention kernels, one per worker.
    func threadBuffers() -> [Buffer] {
        while threads.count < Parallel.threads { threads.append(Buffer()) }
        return threads
    }
}

/// Calls the observer for a group of a block's linears reading the same input (slots of the
/// architecture descriptor; the group's name is the descriptor's group leader).
func report(_ observer: LinearObserver, _ arch: ArchitectureDescriptor, block: Int,
            _ layers: [(slot: Int, linear: Linear, dy: UnsafePointer<Float>?)], input: UnsafePointer<Float>, T: Int) {
    for l in layers {
        observer.observe(LinearActivity(
            name: arch.linearName(block: block, slot: l.slot),
            inputGroup: arch.linearName(block: block, slot: arch.groupLeader(l.slot)),
            input: input, outputGradient: l.dy, tokens: T, inFeatures: l.linear.inFeatures,
            outFeatures: l.linear.outFeatures, hasBias: l.linear.bias != nil))
    }
}

/// Errors of block-by-block passes (checked before anything runs).
public enum BlockForwardError: Error, CustomStringConvertible, Equatable {
    case noSuchBlock(index: Int, blocks: Int)
    case wrongHiddenSize(expected: Int, got: Int)

    public var description: String {
        switch self {
        case .noSuchBlock(let i, let n): return "block \(i) does not exist (the model has \(n) blocks)"
        case .wrongHiddenSize(let e, let g): return "the hidden states hold \(g) floats, the block expects T·C = \(e)"
        }
    }
}

extension CausalLM {
    /// Width of the hidden states between blocks (C).
    public var blockWidth: Int { config.hiddenSize }

    /// Checks a block-by-block call before it runs.
    func checkBlock(_ l: Int, count: Int, T: Int) throws {
        guard l >= 0, l < blockCount else { throw BlockForwardError.noSuchBlock(index: l, blocks: blockCount) }
        guard count == T * blockWidth, T > 0 else { throw BlockForwardError.wrongHiddenSize(expected: T * blockWidth, got: count) }
        guard T <= config.maxPositions else { throw TrainingError.windowTooLong(length: T, maxPositions: config.maxPositions) }
    }
}
