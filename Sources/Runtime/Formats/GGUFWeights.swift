/// A GGUF model seen through Hugging Face names (the architecture descriptor maps them:
/// `blk.N.attn_q.weight` becomes `model.layers.N.self_attn.q_proj.weight`), and q/k rows are
/// un-permuted from llama.cpp's RoPE layout back to Hugging Face's rotate-half layout.
public final class GGUFWeights: WeightSource {
    public let gguf: GGUFFile
    public let config: ModelConfig
    private var hfToGGUF: [String: String] = [:]
    public var origin: String { gguf.path }
    public var metadata: [String: String] { [:] }
    /// The architecture whose names map GGUF tensors to Hugging Face ones.
    public var architecture: ArchitectureDescriptor { config.architecture.descriptor }

    public init(_ gguf: GGUFFile, config: ModelConfig) {
        self.gguf = gguf
        self.config = config
        for name in gguf.tensorOrder {
            if let hf = architecture.hfName(gguf: name) { hfToGGUF[hf] = name }
        }
    }

    public var tensorNames: [String] { hfToGGUF.keys.sorted() }

    public func shape(of name: String) -> [Int]? {
        guard let g = hfToGGUF[name] else { return nil }
        return gguf.tensors[g]?.shape
    }

    public func load(_ name: String) throws -> Tensor {
        guard let g = hfToGGUF[name] else { throw ModelError.missingTensor(file: origin, tensor: name) }
        var t = try gguf.load(g)
        // llama.cpp permutes the rows of the rotary projections (q, k)
        guard architecture.rotary, architecture.ggufPermutesRotary, let dot = name.lastIndex(of: ".") else { return t }
        switch architecture.role(of: String(name[..<dot])) {
        case .attentionQuery: t = unpermuteRoPE(t, heads: config.numHeads, file: origin, tensor: name)
        case .attentionKey: t = unpermuteRoPE(t, heads: config.numKVHeads, file: origin, tensor: name)
        default: break
        }
        return t
    }
}

/// Undoes llama.cpp's conversion permutation of q/k rows: within each head, GGUF row 2j+t
/// holds Hugging Face row t·(d/2)+j (d = head size, t ∈ {0,1}).
/// w: [heads·d, C] -> [heads·d, C]
public func unpermuteRoPE(_ w: Tensor, heads: Int, file: String, tensor: String) -> Tensor {
    let rows = w.rows
    let cols = w.cols
    guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else { return w }
    let d = rows / heads
    let half = d / 2
    var out = [Float](repeating: 0, count: w.count)
    w.data.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for h in 0..<heads {
                for j in 0..<half {
                    for t in 0..<2 {
                        let from = (h * d + 2 * j + t) * cols
                        let to = (h * d + t * half + j) * cols
                        for c in 0..<cols { dst[to + c] = src[from + c] }
                    }
                }
            }
        }
    }
    return Tensor(shape: w.shape, data: out)
}

extension ModelConfig {
    /// Reads the hyper-parameters of a GGUF file whose `general.architecture` a descriptor serves.
    public static func fromGGUF(_ g: GGUFFile) throws -> ModelConfig {
        let file = g.path
        guard let name = g.architecture else { throw ModelError.missingConfigKey(file: file, key: "general.architecture") }
        guard let arch = Architecture.allCases.first(where: { $0.descriptor.ggufArchitectures.contains(name) }) else {
            throw ModelError.unsupportedArchitecture(file: file, name: name)
        }
        switch arch {
        case .llama, .qwen2, .mistral: return try LlamaConfigKeys.read(gguf: g, prefix: name, as: arch)
        case .opt: throw ModelError.unsupportedArchitecture(file: file, name: name)
        }
    }

    /// The GGUF metadata keys of the Hugging Face keys errors name (for `validate(against:file:keys:)`).
    public var ggufKeys: [String: String] {
        switch architecture {
        case .llama, .mistral: return LlamaConfigKeys.ggufKeys(prefix: "llama")
        case .qwen2: return LlamaConfigKeys.ggufKeys(prefix: "qwen2")
        case .opt: return [:]
        }
    }
}
