/// A GGUF model seen through Hugging Face names (the architecture descriptor maps them:
/// `blk.N.attn_q.weight` becomes `model.layers.N.self_attn.q_proj.weight`), and q/k rows are
/// un-permuted from llama.cpp's RoPE layout back to Hugging Face's rotate-half layout.
public final class GGUFWeights: WeightSource {
    public let gguf: GGUFFile
    public let config: ModelConfig
    private var hfToGGUF: [String: String] = [:]
    public var origin: String { gguf.path }
    public var metadata: [String: String] { [:] }
    public var weightDType: WeightDType = .f32
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
        let t = try gguf.load(g)
        guard let heads = permutedHeads(name) else { return t }
        return Tensor(shape: t.shape, data: unpermuteRoPERows(t.data, rows: t.rows, cols: t.cols, heads: heads))
    }

    /// f32 and bf16 tensors are what they say; f16 and the quantized types (blocks of f16 scales) are f16.
    public func storedDType(of name: String) -> WeightDType? {
        guard let g = hfToGGUF[name], let info = gguf.tensors[g] else { return nil }
        switch info.type {
        case .f32: return .f32
        case .bf16: return .bf16
        case .f16, .q4_0, .q4_1, .q8_0: return .f16
        }
    }

    /// An F16 (BF16) tensor read as f16 (bf16) is kept as stored; any other is dequantized
    /// (through float32, a chunk at a time) and rounded once.
    public func load16<Format: HalfFormat>(_ name: String, as format: Format.Type) throws -> [UInt16] {
        guard let g = hfToGGUF[name], let info = gguf.tensors[g] else { throw ModelError.missingTensor(file: origin, tensor: name) }
        guard (info.type == .f16 && Format.dtype == .f16) || (info.type == .bf16 && Format.dtype == .bf16) else {
            let bits = try gguf.load16(g, as: format)
            guard let heads = permutedHeads(name), info.shape.count == 2 else { return bits }
            return unpermuteRoPERows(bits, rows: info.shape[0], cols: info.shape[1], heads: heads)
        }
        let n = info.shape.reduce(1, *)
        guard n > 0 else { return [] }
        guard let raw = gguf.file.bytes(at: info.offset, count: info.byteCount), raw.count == 2 * n else {
            throw ModelError.offsetOutOfRange(file: origin, tensor: name)
        }
        defer { gguf.file.release(at: info.offset, count: info.byteCount) }
        let bits = [UInt16](unsafeUninitializedCapacity: n) { out, count in
            for i in 0..<n { out[i] = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            count = n
        }
        guard let heads = permutedHeads(name), info.shape.count == 2 else { return bits }
        return unpermuteRoPERows(bits, rows: info.shape[0], cols: info.shape[1], heads: heads)
    }

    /// llama.cpp permutes the rows of the rotary projections (q, k): their head count, else nil.
    private func permutedHeads(_ name: String) -> Int? {
        guard architecture.rotary, architecture.ggufPermutesRotary, let dot = name.lastIndex(of: ".") else { return nil }
        switch architecture.role(of: String(name[..<dot])) {
        case .attentionQuery: return config.numHeads
        case .attentionKey: return config.numKVHeads
        default: return nil
        }
    }
}

/// Undoes llama.cpp's conversion permutation of q/k rows: within each head, GGUF row 2j+t
/// holds Hugging Face row t·(d/2)+j (d = head size, t ∈ {0,1}).
/// w: [heads·d, C] -> [heads·d, C]
public func unpermuteRoPE(_ w: Tensor, heads: Int, file: String, tensor: String) -> Tensor {
    Tensor(shape: w.shape, data: unpermuteRoPERows(w.data, rows: w.rows, cols: w.cols, heads: heads))
}

/// `unpermuteRoPE` on the rows of any element type (float32 or 16-bit weights).
/// w: [rows, cols] -> [rows, cols]; unchanged when rows do not split into heads of even size.
public func unpermuteRoPERows<E>(_ w: [E], rows: Int, cols: Int, heads: Int) -> [E] {
    guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0, w.count == rows * cols else { return w }
    let d = rows / heads
    let half = d / 2
    var out = w
    w.withUnsafeBufferPointer { src in
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
    return out
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
