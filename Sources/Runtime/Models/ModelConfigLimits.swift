/// The stated limits on what a config may size, and the checks of a config against the tensors
/// actually in the file. Every number a config holds is checked here (or in `validate`) before it
/// sizes an allocation; a number out of range is `ModelError.valueOutOfRange`, naming the key.
extension ModelConfig {
    /// Largest dimension (vocabulary, hidden size, heads, head size, MLP width, layers): token ids
    /// and every index are Int32.
    public static let maxDimension = Int(Int32.max)
    /// Longest context a config may declare (`max_position_embeddings`, `llama.context_length`):
    /// 2^20 = 1,048,576 positions, above every model this engine runs. Tables sized by the context
    /// (RoPE) are filled only as far as positions are used; KV caches are sized by their callers.
    public static let maxContextLength = 1 << 20
    /// Largest number of elements one weight matrix implied by the config may have (2^40, the
    /// bound the GGUF reader puts on a tensor dimension): products of dimensions stay far from
    /// overflowing Int wherever they are multiplied again (bytes, tokens × width).
    public static let maxTensorElements = 1 << 40

    /// The weight shapes the config implies, each checked for overflow and against
    /// `maxTensorElements` before anything is allocated from them.
    func checkTensorSizes(file: String, key: (String) -> String) throws {
        let products: [(String, String, Int, Int)] = [
            ("num_attention_heads", "head_dim", numHeads, headDim),
            ("num_key_value_heads", "head_dim", numKVHeads, headDim),
            ("vocab_size", architecture == .opt ? "word_embed_proj_dim" : "hidden_size", vocabSize, wordEmbedProjDim),
            ("intermediate_size", "hidden_size", intermediateSize, hiddenSize),
            ("num_attention_heads × head_dim", "hidden_size", qDim, hiddenSize),
        ]
        for (a, b, x, y) in products {
            let (p, overflow) = x.multipliedReportingOverflow(by: y)
            guard !overflow, p <= Self.maxTensorElements else {
                throw ModelError.valueOutOfRange(
                    file: file, key: "\(key(a)) × \(key(b))", value: "\(x) × \(y)",
                    allowed: "at most \(Self.maxTensorElements) elements in one weight matrix")
            }
        }
    }

    /// Checks the config against the tensors `weights` holds, before a model is built from it:
    /// the blocks the config counts are in the file (building them reserves room for every one),
    /// and OPT's learned position table has `max_position_embeddings` + 2 rows. Other shapes are
    /// compared with the file as each tensor is loaded, before its data is read
    /// (`WeightSource.load(_:shape:)`). `file` is where the config was read (named in errors),
    /// `keys` as in `validate(file:keys:)`.
    public func validate(against weights: WeightSource, file: String, keys: [String: String] = [:]) throws {
        let d = architecture.descriptor
        // OPT files may drop the leading `model.` of their names.
        let prefixes = [d.blockPrefix] + (d.blockPrefix.hasPrefix("model.") ? [String(d.blockPrefix.dropFirst(6))] : [])
        var blocks = 0
        for name in weights.tensorNames {
            guard let p = prefixes.first(where: { name.hasPrefix($0) }) else { continue }
            let rest = name.dropFirst(p.count)
            guard let dot = rest.firstIndex(of: "."), let b = Int(rest[..<dot]), b >= 0, b < numLayers else { continue }
            blocks = max(blocks, b + 1)
        }
        guard numLayers <= blocks else {
            throw ModelError.valueOutOfRange(
                file: file, key: keys["num_hidden_layers"] ?? "num_hidden_layers", value: "\(numLayers)",
                allowed: "at most the \(blocks) blocks the file holds")
        }
        if architecture == .opt {
            let names = ["model.decoder.embed_positions.weight", "decoder.embed_positions.weight"]
            if let rows = names.lazy.compactMap({ weights.shape(of: $0)?.first }).first,
               rows != maxPositions + OPTModel.positionOffset {
                throw ModelError.valueOutOfRange(
                    file: file, key: "max_position_embeddings", value: "\(maxPositions)",
                    allowed: "\(rows - OPTModel.positionOffset), the positions embed_positions holds (\(rows) rows, 2 of them offset)")
            }
        }
    }
}
