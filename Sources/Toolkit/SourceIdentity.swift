import Foundation
import Runtime

/// What a source model is, for telling it from another without reading all its weights: each of
/// its files (config, weights, tokenizer) by name (no directory: a moved model is the same) with its
/// size and a SHA-256 over its first 64 KiB (the config, the safetensors header, the GGUF header's
/// start) and 16 blocks of 16 KiB evenly spaced over the rest, the last at the end (a model with
/// the same shapes and other weights differs there). Checkpoints record it, and a
/// resume from another source is refused (`differences(from:)`).
public struct SourceIdentity: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        public var name: String
        public var size: Int
        public var sha256: String
    }

    public var files: [File]

    /// The head hashed whole (config files entirely; a safetensors header, a GGUF header's start),
    /// then `samples` blocks of `sampleBytes` evenly spaced over the rest, the last ending at the end.
    static let headBytes = 1 << 16
    static let sampleBytes = 1 << 14
    static let samples = 16

    /// The identity of an opened model: its .gguf file, or the files of its directory that decide
    /// the weights and the tokens: config.json, the weights file (or the shard index and every
    /// `model*.safetensors` shard), the tokenizer files.
    public static func of(_ files: ModelFiles) throws -> SourceIdentity {
        let paths: [String]
        if let g = files.gguf {
            paths = [g.path]
        } else {
            let dir = files.directory ?? files.path
            let names = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
            let join = { (name: String) in (dir as NSString).appendingPathComponent(name) }
            var chosen = names.intersection(["config.json"] + ModelWriter.tokenizerFiles).map(join)
            let weights = files.weights.origin
            if weights.hasSuffix(".json") {   // sharded: the index and its shards
                chosen += [weights] + names.filter { $0.hasPrefix("model") && $0.hasSuffix(".safetensors") }.map(join)
            } else {
                chosen.append(weights)
            }
            paths = chosen.sorted()
        }
        return SourceIdentity(files: try paths.map(fingerprint))
    }

    /// Size and sampled SHA-256 of one file.
    static func fingerprint(_ path: String) throws -> File {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ModelError.fileNotFound(path: path) }
        defer { try? handle.close() }
        let size = Int(try handle.seekToEnd())
        var sha = SHA256()
        try handle.seek(toOffset: 0)
        sha.update([UInt8](try handle.read(upToCount: min(size, headBytes)) ?? Data()))
        let rest = size - headBytes
        if rest > samples * sampleBytes {
            for k in 0..<samples {
                let offset = k == samples - 1 ? size - sampleBytes : headBytes + (rest - sampleBytes) / (samples - 1) * k
                try handle.seek(toOffset: UInt64(offset))
                sha.update([UInt8](try handle.read(upToCount: sampleBytes) ?? Data()))
            }
        } else if rest > 0 {
            sha.update([UInt8](try handle.read(upToCount: rest) ?? Data()))
        }
        return File(name: (path as NSString).lastPathComponent, size: size, sha256: sha.hexDigest())
    }

    /// Every way this identity (the source given now) differs from `checkpoint`'s: files missing on
    /// either side, other sizes, other contents. Empty when they are the same model.
    public func differences(from checkpoint: SourceIdentity) -> [SourceDifference] {
        var out: [SourceDifference] = []
        let old = Dictionary(checkpoint.files.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let new = Dictionary(files.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in Set(old.keys).union(new.keys).sorted() {
            switch (old[name], new[name]) {
            case let (a?, b?):
                if a.size != b.size {
                    out.append(SourceDifference(key: "\(name) size", checkpoint: "\(a.size) bytes", now: "\(b.size) bytes"))
                } else if a.sha256 != b.sha256 {
                    out.append(SourceDifference(key: "\(name) contents", checkpoint: "sha256 \(a.sha256.prefix(12))…",
                                                now: "sha256 \(b.sha256.prefix(12))…"))
                }
            case let (a?, nil):
                out.append(SourceDifference(key: name, checkpoint: "\(a.size) bytes", now: "absent"))
            case let (nil, b?):
                out.append(SourceDifference(key: name, checkpoint: "absent", now: "\(b.size) bytes"))
            case (nil, nil):
                break
            }
        }
        return out
    }
}

/// One way the source model given now differs from the one a checkpoint was made from.
public struct SourceDifference: Sendable, Equatable, CustomStringConvertible {
    /// The file and what differs ("model.safetensors size", "config.json contents").
    public var key: String
    public var checkpoint: String
    public var now: String

    public var description: String { "\(key): checkpoint \(checkpoint), now \(now)" }
}
