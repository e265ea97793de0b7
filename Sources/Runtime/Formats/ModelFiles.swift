import Foundation

/// A model on disk, opened and validated: its config, its tensors, and where its tokenizer lives.
public struct ModelFiles {
    /// The path the user gave (directory or .gguf file).
    public let path: String
    public let config: ModelConfig
    public let weights: WeightSource
    /// Set for GGUF inputs: the tokenizer and chat template travel in its metadata.
    public let gguf: GGUFFile?
    /// Set for Hugging Face directories: tokenizer files are looked up here.
    public let directory: String?
    /// Parsed `config.json` of a Hugging Face directory (kept to write it back unchanged).
    public let configJSON: [String: Any]?

    static let pickleNames = ["pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth", "model.ckpt"]

    /// Opens a Hugging Face directory (`config.json` + `model.safetensors` or sharded
    /// `model.safetensors.index.json`) or a `.gguf` file.
    public static func open(_ path: String) throws -> ModelFiles {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { throw ModelError.fileNotFound(path: path) }
        if !isDir.boolValue {
            if try isPickle(path) { throw ModelError.pickleRefused(file: path) }
            if path.hasSuffix(".safetensors") {
                let dir = (path as NSString).deletingLastPathComponent
                return try openDirectory(dir.isEmpty ? "." : dir, weightsFile: path)
            }
            let g = try GGUFFile(path: path)
            let config = try ModelConfig.fromGGUF(g)
            let weights = GGUFWeights(g, config: config)
            try config.validate(against: weights, file: path, keys: config.ggufKeys)
            return ModelFiles(path: path, config: config, weights: weights, gguf: g, directory: nil, configJSON: nil)
        }
        return try openDirectory(path, weightsFile: nil)
    }

    static func openDirectory(_ dir: String, weightsFile: String?) throws -> ModelFiles {
        let fm = FileManager.default
        let join = { (name: String) in (dir as NSString).appendingPathComponent(name) }
        let configPath = join("config.json")
        let single = weightsFile ?? join("model.safetensors")
        let index = join("model.safetensors.index.json")
        let hasWeights = fm.fileExists(atPath: single) || fm.fileExists(atPath: index)
        if !hasWeights {
            if let p = pickleNames.map(join).first(where: { fm.fileExists(atPath: $0) }) {
                throw ModelError.pickleRefused(file: p)
            }
            let ggufs = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".gguf") }.sorted()
            if ggufs.count == 1 { return try open(join(ggufs[0])) }
            throw ModelError.noModelFound(path: dir)
        }
        guard let data = fm.contents(atPath: configPath) else { throw ModelError.fileNotFound(path: configPath) }
        guard let obj = try? JSONSerialization.jsonObject(with: data), let json = obj as? [String: Any] else {
            throw ModelError.badHeader(file: configPath, detail: "not a JSON object")
        }
        let config = try ModelConfig.fromHuggingFace(json: json, file: configPath)
        let weights: WeightSource
        if fm.fileExists(atPath: single) {
            weights = try SafetensorsFile(path: single)
        } else {
            weights = try ShardedSafetensors(indexPath: index, directory: dir)
        }
        try config.validate(against: weights, file: configPath)
        return ModelFiles(path: dir, config: config, weights: weights, gguf: nil, directory: dir, configJSON: json)
    }

    /// Pickle files start with the protocol opcode 0x80, or are zip archives holding `data.pkl` (torch.save).
    static func isPickle(_ path: String) throws -> Bool {
        if pickleNames.contains((path as NSString).lastPathComponent) { return true }
        if [".bin", ".pt", ".pth", ".ckpt", ".pkl"].contains(where: path.hasSuffix) { return true }
        guard let fh = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? fh.close() }
        let head = (try? fh.read(upToCount: 2)) ?? Data()
        return head.count == 2 && head[0] == 0x80 && head[1] <= 5
    }
}

/// `model.safetensors.index.json` + shards, presented as one source.
public final class ShardedSafetensors: WeightSource {
    public let origin: String
    let shards: [String: SafetensorsFile]
    let map: [String: String]
    /// The shards' `__metadata__` together (a compressed model's storage tags may sit in any shard).
    public let metadata: [String: String]
    public var weightDType: WeightDType = .f32

    public init(indexPath: String, directory: String) throws {
        origin = indexPath
        guard let data = FileManager.default.contents(atPath: indexPath),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let wm = obj["weight_map"] as? [String: String] else {
            throw ModelError.badHeader(file: indexPath, detail: "no weight_map")
        }
        var shards: [String: SafetensorsFile] = [:]
        for f in Set(wm.values) {
            guard !f.contains("/") else { throw ModelError.badHeader(file: indexPath, detail: "shard name \(f) has a path") }
            shards[f] = try SafetensorsFile(path: (directory as NSString).appendingPathComponent(f))
        }
        for (t, f) in wm where shards[f]?.entries[t] == nil {
            throw ModelError.missingTensor(file: (directory as NSString).appendingPathComponent(f), tensor: t)
        }
        var meta: [String: String] = [:]
        for f in shards.keys.sorted() {
            for (k, v) in shards[f]?.metadata ?? [:] {
                if let old = meta[k], old != v {
                    throw ModelError.badHeader(file: indexPath, detail: "shards disagree on metadata \"\(k)\" (\"\(old)\" vs \"\(v)\")")
                }
                meta[k] = v
            }
        }
        self.shards = shards
        self.map = wm
        self.metadata = meta
    }

    public var tensorNames: [String] { map.keys.sorted() }
    public func shape(of name: String) -> [Int]? { map[name].flatMap { shards[$0]?.shape(of: name) } }
    public func load(_ name: String) throws -> Tensor {
        guard let f = map[name], let s = shards[f] else { throw ModelError.missingTensor(file: origin, tensor: name) }
        return try s.load(name)
    }
    public func storedDType(of name: String) -> WeightDType? { map[name].flatMap { shards[$0]?.storedDType(of: name) } }
    public func load16<Format: HalfFormat>(_ name: String, as format: Format.Type) throws -> [UInt16] {
        guard let f = map[name], let s = shards[f] else { throw ModelError.missingTensor(file: origin, tensor: name) }
        return try s.load16(name, as: format)
    }
}
