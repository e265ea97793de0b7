import Foundation

/// Hyper-parameters of a decoder-only model, read from Hugging Face `config.json` or GGUF metadata.
public struct ModelConfig: Sendable, Equatable {
    public var architecture: Architecture
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var normEps: Float
    public var ropeTheta: Float
    public var tieEmbeddings: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    // OPT
    public var doLayerNormBefore: Bool = true
    public var wordEmbedProjDim: Int
    public var removeFinalLayerNorm: Bool = false
    public var layerNormAffine: Bool = true
    public var activation: String
    // biases: OPT `enable_bias`; Llama `attention_bias` / `mlp_bias`
    public var attentionBias: Bool
    public var mlpBias: Bool
    // Llama-shaped variants
    /// Mistral's sliding window W: position p attends to p−W < j ≤ p; nil: every earlier position.
    public var slidingWindow: Int? = nil
    /// Scaled RoPE frequencies (Llama-3.x `rope_type` llama3, linear, GGUF `rope_freqs`); nil: plain.
    public var ropeScaling: RoPEScaling? = nil

    public init(architecture: Architecture, vocabSize: Int, hiddenSize: Int, numLayers: Int, numHeads: Int,
                numKVHeads: Int, headDim: Int, intermediateSize: Int, maxPositions: Int, normEps: Float,
                ropeTheta: Float, tieEmbeddings: Bool, bosTokenId: Int?, eosTokenIds: [Int],
                wordEmbedProjDim: Int? = nil, activation: String, attentionBias: Bool, mlpBias: Bool) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        self.tieEmbeddings = tieEmbeddings
        self.bosTokenId = bosTokenId
        self.eosTokenIds = eosTokenIds
        self.wordEmbedProjDim = wordEmbedProjDim ?? hiddenSize
        self.activation = activation
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
    }

    public var qDim: Int { numHeads * headDim }
    public var kvDim: Int { numKVHeads * headDim }

    /// Checks the invariants every forward pass relies on, and that every number read from the
    /// file lies in the range of what it sizes or names (limits in `ModelConfigLimits.swift`).
    /// `keys` maps the Hugging Face key names used here to the file's own (GGUF metadata keys),
    /// so that each refusal names the key as the file spells it.
    public func validate(file: String, keys: [String: String] = [:]) throws {
        func key(_ k: String) -> String { keys[k] ?? k }
        func bad(_ s: String) -> ModelError { .invalidConfig(file: file, detail: s) }
        func outOfRange(_ k: String, _ v: Int, _ allowed: String) -> ModelError {
            .valueOutOfRange(file: file, key: key(k), value: "\(v)", allowed: allowed)
        }
        for (k, v) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("num_hidden_layers", numLayers),
                       ("num_attention_heads", numHeads), ("num_key_value_heads", numKVHeads),
                       ("head_dim", headDim), ("intermediate_size", intermediateSize),
                       ("word_embed_proj_dim", wordEmbedProjDim)] {
            guard v > 0 && v <= Self.maxDimension else { throw outOfRange(k, v, "from 1 to \(Self.maxDimension)") }
        }
        guard maxPositions > 0 && maxPositions <= Self.maxContextLength else {
            throw outOfRange("max_position_embeddings", maxPositions,
                             "from 1 to \(Self.maxContextLength) (the longest context this engine allocates for)")
        }
        try checkTensorSizes(file: file, key: key)
        guard numHeads % numKVHeads == 0 else {
            throw bad("\(key("num_attention_heads")) \(numHeads) is not a multiple of \(key("num_key_value_heads")) \(numKVHeads)")
        }
        guard normEps > 0, normEps.isFinite else { throw bad("norm epsilon \(normEps) must be positive") }
        if let w = slidingWindow, w <= 0 { throw outOfRange("sliding_window", w, "a positive number of positions") }
        if architecture != .opt {
            guard headDim % 2 == 0 else { throw bad("\(key("head_dim")) \(headDim) must be even for RoPE") }
            guard ropeTheta > 0, ropeTheta.isFinite else { throw bad("\(key("rope_theta")) \(ropeTheta) must be positive") }
            guard activation == "silu" else { throw bad("hidden_act \"\(activation)\" is not supported (silu is)") }
        } else {
            guard numHeads * headDim == hiddenSize else {
                throw bad("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numHeads)")
            }
            guard activation == "relu" || activation == "gelu" else {
                throw bad("activation_function \"\(activation)\" is not supported (relu, gelu are)")
            }
        }
        let token = "a token id from 0 to \(vocabSize - 1) (the vocabulary has \(vocabSize) entries)"
        if let b = bosTokenId, b < 0 || b >= vocabSize { throw outOfRange("bos_token_id", b, token) }
        if let e = eosTokenIds.first(where: { $0 < 0 || $0 >= vocabSize }) { throw outOfRange("eos_token_id", e, token) }
    }
}

// MARK: - Hugging Face config.json

extension ModelConfig {
    /// Reads a Hugging Face `config.json` (OPT, Llama, Qwen2, Mistral).
    public static func fromHuggingFace(path: String) throws -> ModelConfig {
        guard FileManager.default.fileExists(atPath: path) else { throw ModelError.fileNotFound(path: path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError.unreadable(path: path, reason: "read failed")
        }
        guard let obj = try? JSONSerialization.jsonObject(with: data), let json = obj as? [String: Any] else {
            throw ModelError.badHeader(file: path, detail: "not a JSON object")
        }
        return try fromHuggingFace(json: json, file: path)
    }

    public static func fromHuggingFace(json: [String: Any], file: String) throws -> ModelConfig {
        let j = JSONFields(json: json, file: file)
        let type = (json["model_type"] as? String)
            ?? ((json["architectures"] as? [String])?.first.map { a in
                ["opt", "llama", "qwen2", "mistral"].first { a.lowercased().hasPrefix($0) } ?? a })
        guard let type else { throw ModelError.missingConfigKey(file: file, key: "model_type") }
        let eos = try j.intList("eos_token_id")
        guard let arch = Architecture.allCases.first(where: { $0.descriptor.modelTypes.contains(type) }) else {
            throw ModelError.unsupportedArchitecture(file: file, name: type)
        }
        switch arch {
        case .opt: return try OPTConfigKeys.read(j, eos: eos)
        case .llama, .qwen2, .mistral: return try LlamaConfigKeys.read(j, eos: eos, as: arch)
        }
    }

    /// A Hugging Face `config.json` dictionary describing this model (used when the source was GGUF).
    public func huggingFaceJSON() -> [String: Any] {
        var d: [String: Any] = [
            "vocab_size": vocabSize, "hidden_size": hiddenSize, "num_hidden_layers": numLayers,
            "num_attention_heads": numHeads, "max_position_embeddings": maxPositions,
            "tie_word_embeddings": tieEmbeddings, "torch_dtype": "float32",
        ]
        if let b = bosTokenId { d["bos_token_id"] = b }
        if eosTokenIds.count == 1 { d["eos_token_id"] = eosTokenIds[0] } else if !eosTokenIds.isEmpty { d["eos_token_id"] = eosTokenIds }
        switch architecture {
        case .opt: OPTConfigKeys.write(self, into: &d)
        case .llama, .qwen2, .mistral: LlamaConfigKeys.write(self, into: &d)
        }
        return d
    }
}

/// Typed access to JSON config fields with errors that name the file and key.
struct JSONFields {
    let json: [String: Any]
    let file: String

    func int(_ key: String) throws -> Int {
        guard let v = try optInt(key) else { throw ModelError.missingConfigKey(file: file, key: key) }
        return v
    }

    func optInt(_ key: String) throws -> Int? {
        guard let raw = json[key], !(raw is NSNull) else { return nil }
        if let n = raw as? NSNumber, let v = Int(exactly: n.doubleValue) { return v }
        throw ModelError.invalidConfig(file: file, detail: "\(key) must be an integer, found \(raw)")
    }

    func intList(_ key: String) throws -> [Int] {
        guard let raw = json[key], !(raw is NSNull) else { return [] }
        if let n = raw as? NSNumber, let v = Int(exactly: n.doubleValue) { return [v] }
        if let a = raw as? [Any] {
            return try a.map { e in
                guard let n = e as? NSNumber, let v = Int(exactly: n.doubleValue) else {
                    throw ModelError.invalidConfig(file: file, detail: "\(key) must be an integer or a list of integers, found \(e) in the list")
                }
                return v
            }
        }
        throw ModelError.invalidConfig(file: file, detail: "\(key) must be an integer or a list of integers")
    }

    func double(_ key: String) -> Double? { (json[key] as? NSNumber)?.doubleValue }
    func bool(_ key: String) -> Bool? { json[key] as? Bool }
    func string(_ key: String) -> String? { json[key] as? String }
}
