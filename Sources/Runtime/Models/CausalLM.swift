import CBLAS

/// A decoder-only language model: inference through a KV cache, block-by-block passes for
/// layer-wise pruning and a training tape for the hand-written backward. Every architecture
/// implements all three with its one block (`LlamaBlock`, `OPTBlock`), so no capability is
/// checked at run time.
public protocol CausalLM: AnyObject {
    var config: ModelConfig { get }
    /// What this model's architecture is (names, roles, input groups, head layout).
    var architecture: ArchitectureDescriptor { get }

    /// Runs `tokens` at positions cache.count ..< cache.count+T, appends their keys and values to
    /// the cache, and leaves the final hidden states (the lm_head input) in `ws.hidden`: [T, headInput].
    /// Callers check ids and capacity first (see `InferenceSession`).
    func forward(_ tokens: UnsafeBufferPointer<Int32>, cache: KVCache, ws: Workspace)

    /// logits: [rows, V] = hidden: [rows, headInput] · lm_headᵀ
    func logits(_ hidden: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>)

    /// Width of the lm_head input (hidden size, or OPT's word_embed_proj_dim).
    var headInput: Int { get }

    /// Every parameter under its Hugging Face name (tied lm_head omitted).
    func namedParameters() -> [(name: String, tensor: Tensor)]
    /// `namedParameters()` without the named tensors (never materialized: compressed weights).
    func namedParameters(skipping skip: Set<String>) -> [(name: String, tensor: Tensor)]

    /// Names of the linear layers inside the blocks (the ones compression prunes), in model order.
    var blockLinearNames: [String] { get }
    /// A linear layer by its Hugging Face name without `.weight` (e.g. `model.layers.0.mlp.up_proj`).
    func linear(_ name: String) -> Linear?
    func setLinear(_ name: String, _ value: Linear)
    /// Per block, the per-head sizes attention runs at (nil: every head at full size).
    var attentionLayouts: [HeadLayout?] { get }

    // block by block (SparseGPT, Wanda): the hidden states entering block 0 are computed once,
    // then each block is run on its own, so its inputs can come from already-pruned blocks.

    /// Number of decoder blocks.
    var blockCount: Int { get }
    /// The hidden states entering block 0 for `tokens` at positions 0..<T: [T, C].
    func blockInput(_ tokens: [Int32]) throws -> [Float]
    /// Runs block `l` on x: [T, C] in place (causal attention over positions 0..<T); the observer
    /// sees the inputs of the block's linear layers (outputGradient nil), in model order.
    func forwardBlock(_ l: Int, _ x: inout [Float], T: Int, observer: LinearObserver?, scratch: BlockScratch) throws

    /// A training tape for this model (keep it across windows: its buffers are reused).
    func makeTrainingTape() -> TrainingTape
}

extension CausalLM {
    /// Largest number of positions one sequence may use.
    public var contextLength: Int { config.maxPositions }
}

/// Builds the architecture a model's config names.
public func loadModel(_ files: ModelFiles) throws -> CausalLM {
    try loadModel(config: files.config, weights: files.weights)
}

public func loadModel(config: ModelConfig, weights: WeightSource) throws -> CausalLM {
    let model: CausalLM
    switch config.architecture {
    case .llama, .qwen2, .mistral: model = try LlamaModel(config: config, weights: weights)
    case .opt: model = try OPTModel(config: config, weights: weights)
    }
    // Loading frees temporaries (widened or un-permuted copies) between the tensors it keeps; the
    // heap's free pages go back to the kernel instead of staying resident for the model's life.
    HeapPolicy.releaseFreePages()
    return model
}

/// Copies embedding rows for the given tokens.  table: [V, C]; out: [T, C]
@inline(__always)
func embeddingForward(_ table: [Float], C: Int, _ tokens: UnsafeBufferPointer<Int32>, _ out: UnsafeMutablePointer<Float>) {
    table.withUnsafeBufferPointer { tb in
        for (t, id) in tokens.enumerated() {
            (out + t * C).update(from: tb.baseAddress! + Int(id) * C, count: C)
        }
    }
}

/// Backward of `embeddingForward`: dtable[id_t] += dout[t] (serial: ids may repeat).
/// dout: [T, C]; dtable: [V, C]
func embeddingBackward(_ dout: UnsafePointer<Float>, C: Int, _ tokens: UnsafeBufferPointer<Int32>,
                       _ dtable: UnsafeMutablePointer<Float>) {
    for (t, id) in tokens.enumerated() {
        addInPlace(dtable + Int(id) * C, dout + t * C, C)
    }
}
