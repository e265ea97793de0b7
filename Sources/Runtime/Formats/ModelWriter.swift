import Foundation

/// Writes a model as a Hugging Face-style directory: `config.json`, `model.safetensors`, and the
/// tokenizer carried over from the source (its files, or for a GGUF source its tokenizer metadata
/// as `tokenizer.gguf`), so the directory reloads with `-m DIR` on its own.
public enum ModelWriter {
    /// Tokenizer and generation files copied from a Hugging Face source directory.
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                                        "merges.txt", "tokenizer.model", "chat_template.jinja", "generation_config.json",
                                        "added_tokens.json", "tokenizer.gguf"]

    /// `dtype` f16/bf16 writes the matrices (block linears, embeddings, lm_head) in that type and
    /// the vectors (norms, biases) in float32, as llama.cpp's converter does, so the file holds
    /// exactly what a model loaded in `dtype` holds (`torch_dtype` set to match; transformers casts
    /// the vectors on load). The parts of compressed storages stay float32.
    public static func write(model: CausalLM, source: ModelFiles, to dir: String,
                             extraFiles: [String: Data] = [:], metadata: [String: String] = [:], dtype: WeightDType = .f32) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let join = { (n: String) in (dir as NSString).appendingPathComponent(n) }
        var config = source.configJSON ?? model.config.huggingFaceJSON()
        config["torch_dtype"] = dtype.torchName
        if config["dtype"] != nil { config["dtype"] = dtype.torchName }   // transformers ≥ 4.56 spelling
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: join("config.json")))
        var meta = metadata
        meta["format"] = "pt"
        meta.merge(storageTags(model)) { _, tag in tag }   // each block linear's storage (Weights/StorageTensors.swift)
        try SafetensorsWriter.write(lazy: storedParameterLazyItems(model, dtype: dtype), metadata: meta, to: join("model.safetensors"))
        if let src = source.directory {
            for f in tokenizerFiles {
                let p = (src as NSString).appendingPathComponent(f)
                if fm.fileExists(atPath: p) { try fm.copyItem(atPath: p, toPath: join(f)) }
            }
        } else if let g = source.gguf {
            let keys = g.metadata.keys.filter { $0.hasPrefix("tokenizer.") || $0 == "general.architecture" || $0 == "general.name" }.sorted()
            try GGUFMetadataWriter.write(keys.compactMap { k in g.metadata[k].map { (k, $0) } }, to: join("tokenizer.gguf"))
        }
        for (name, data) in extraFiles { try data.write(to: URL(fileURLWithPath: join(name))) }
    }
}

/// Every parameter as it is stored (block linears in their storage's tensors, Weights/StorageTensors.swift,
/// everything else as dense float32) rounded to `dtype`, or with `dtype` nil exactly as held (a dense
/// block linear in its own value type, everything else float32), with the block linears' bytes made
/// only when the writer reaches them (each layer's dense weight or storage tensors, one layer at a
/// time): writing a model holds its other parameters and one block linear's output, not a copy of
/// every weight.
public func storedParameterLazyItems(_ model: CausalLM, dtype: WeightDType?) -> [SafetensorsWriter.LazyItem] {
    let linears = model.blockLinearNames.compactMap { n in model.linear(n).map { (n, $0) } }
    var recent: (name: String, items: [SafetensorsWriter.Item]) = ("", [])   // the last layer whose tensors were made
    var lazy = model.namedParameters(skipping: Set(linears.map { $0.0 + ".weight" })).map { p in
        let it = SafetensorsWriter.Item(name: p.name, tensor: p.tensor).rounded(to: dtype ?? .f32)
        return SafetensorsWriter.LazyItem(name: it.name, dtype: it.dtype, shape: it.shape, byteCount: it.bytes.count) { it.bytes }
    }
    for (name, l) in linears {
        if l.storageKind == .dense {
            let shape = [l.outFeatures, l.inFeatures], dtype = dtype ?? l.weight.valueDType
            let size = dtype == .f32 ? 4 : 2
            lazy.append(.init(name: name + ".weight", dtype: dtype.safetensors, shape: shape, byteCount: size * shape[0] * shape[1]) {
                SafetensorsWriter.Item(name: name + ".weight", tensor: l.denseWeight).rounded(to: dtype).bytes
            })
        } else {
            // the sizes now (the storage's tensors are made and dropped), the bytes when written: the
            // layer's tensors are adjacent in the sorted file, so they are made once for all of them
            for (k, it) in l.storageItems(name: name).enumerated() {
                lazy.append(.init(name: it.name, dtype: it.dtype, shape: it.shape, byteCount: it.bytes.count) {
                    if recent.name != name { recent = (name, l.storageItems(name: name)) }
                    return k < recent.items.count ? recent.items[k].bytes : []
                })
            }
        }
    }
    return lazy
}

/// Writes into a temporary sibling directory and renames it into place only when `body` succeeds,
/// so a failed or interrupted run leaves no partial output. An existing `dir` is replaced only
/// when `overwrite` is set.
public func writeAtomically(_ dir: String, overwrite: Bool, temporary: String? = nil, _ body: (String) throws -> Void) throws {
    let fm = FileManager.default
    let target = (dir as NSString).standardizingPath
    if fm.fileExists(atPath: target) && !overwrite {
        throw ModelError.outputExists(path: target)
    }
    let parent = (target as NSString).deletingLastPathComponent
    if !parent.isEmpty { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) }
    let tmp = temporary ?? target + ".tmp-\(getpid())"
    if fm.fileExists(atPath: tmp) { try fm.removeItem(atPath: tmp) }
    do {
        try body(tmp)
    } catch {
        try? fm.removeItem(atPath: tmp)
        throw error
    }
    if fm.fileExists(atPath: target) {
        let old = target + ".old-\(getpid())"
        try fm.moveItem(atPath: target, toPath: old)
        try fm.moveItem(atPath: tmp, toPath: target)
        try? fm.removeItem(atPath: old)
    } else {
        try fm.moveItem(atPath: tmp, toPath: target)
    }
}

extension WeightDType {
    /// The name PyTorch and config.json's `torch_dtype` give this type.
    public var torchName: String {
        switch self {
        case .f32: return "float32"
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        }
    }
}

extension SafetensorsWriter.Item {
    /// An F32 matrix rounded to a 16-bit `dtype` (any other item, and every item for f32, as it
    /// is). Vectors (norms, biases) and the parts of compressed storages (`<layer>.weight.<part>`,
    /// whose storages read float32 values) stay float32.
    func rounded(to dtype: WeightDType) -> SafetensorsWriter.Item {
        guard dtype != .f32, self.dtype == .f32, shape.count >= 2, !name.contains(".weight.") else { return self }
        let floats = bytes.withUnsafeBytes { raw in (0..<bytes.count / 4).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
        let bits = dtype.round(floats) ?? []
        return SafetensorsWriter.Item(name: name, dtype: dtype.safetensors, shape: shape, integers: bits)
    }
}
