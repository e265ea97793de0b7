import Foundation

/// RoPE base and scaling as config.json and GGUF files write them.
/// config.json: `rope_parameters` (transformers 5: `rope_type`, `rope_theta` and the scaling keys
/// inside) or `rope_scaling` with a top-level `rope_theta` (hub Llama-3.x files; early Llama-3.1
/// files spell the type `type`). Implemented types: default, linear, llama3 (and
/// `frequency_divisors`, what this engine writes for a GGUF file's `rope_freqs.weight`); any other
/// (yarn, dynamic, longrope, ...) is refused by name.
enum RoPEConfig {
    static func read(_ j: JSONFields) throws -> (theta: Double, scaling: RoPEScaling?) {
        let file = j.file
        var theta = j.double("rope_theta") ?? 10000
        func object(_ key: String) throws -> [String: Any]? {
            guard let raw = j.json[key], !(raw is NSNull) else { return nil }
            guard let d = raw as? [String: Any] else {
                throw ModelError.invalidConfig(file: file, detail: "\(key) must be an object, found \(raw)")
            }
            return d
        }
        func type(_ d: [String: Any]) -> String { (d["rope_type"] as? String) ?? (d["type"] as? String) ?? "default" }
        var params: [String: Any]?, key = ""
        if let d = try object("rope_parameters") {
            if let t = (d["rope_theta"] as? NSNumber)?.doubleValue { theta = t }
            (params, key) = (d, "rope_parameters")
        }
        if let d = try object("rope_scaling"), params.map(type) ?? "default" == "default" {
            (params, key) = (d, "rope_scaling")
        }
        guard let p = params else { return (theta, nil) }
        func number(_ k: String) throws -> Double {
            guard let raw = p[k] else { throw ModelError.missingConfigKey(file: file, key: "\(key).\(k)") }
            guard let v = (raw as? NSNumber)?.doubleValue, v.isFinite, v > 0 else {
                throw ModelError.valueOutOfRange(file: file, key: "\(key).\(k)", value: "\(raw)", allowed: "a positive number")
            }
            return v
        }
        switch type(p) {
        case "default":
            return (theta, nil)
        case "linear":
            return (theta, .linear(factor: try number("factor")))
        case "llama3":
            let low = try number("low_freq_factor"), high = try number("high_freq_factor")
            guard high > low else {
                throw ModelError.invalidConfig(file: file, detail: "\(key).high_freq_factor \(high) must exceed low_freq_factor \(low)")
            }
            let original = try number("original_max_position_embeddings")
            guard let o = Int(exactly: original), o <= ModelConfig.maxContextLength else {
                throw ModelError.valueOutOfRange(file: file, key: "\(key).original_max_position_embeddings", value: "\(original)",
                                                 allowed: "an integer from 1 to \(ModelConfig.maxContextLength)")
            }
            return (theta, .llama3(factor: try number("factor"), lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: o))
        case "frequency_divisors":
            guard let raw = p["divisors"] as? [Any] else { throw ModelError.missingConfigKey(file: file, key: "\(key).divisors") }
            let d = try raw.map { e -> Float in
                guard let v = (e as? NSNumber)?.floatValue, v.isFinite, v > 0 else {
                    throw ModelError.valueOutOfRange(file: file, key: "\(key).divisors", value: "\(e)", allowed: "positive numbers")
                }
                return v
            }
            return (theta, .divisors(d))
        case let t:
            throw ModelError.unsupportedConfigKey(
                file: file, key: key, detail: "rope_type \"\(t)\" is not implemented (default, linear and llama3 are)")
        }
    }

    /// The `rope_scaling` object of a config.json that `read` reads back as `s`.
    static func json(_ s: RoPEScaling) -> [String: Any] {
        switch s {
        case .linear(let f): return ["rope_type": "linear", "factor": f]
        case .llama3(let f, let low, let high, let o):
            return ["rope_type": "llama3", "factor": f, "low_freq_factor": low, "high_freq_factor": high,
                    "original_max_position_embeddings": o]
        case .divisors(let d): return ["rope_type": "frequency_divisors", "divisors": d.map(Double.init)]
        }
    }

    /// GGUF: `rope_freqs.weight` ([headDim/2] divisors, llama.cpp's Llama-3 scaling) and
    /// `<prefix>.rope.scaling.type` (none, linear with `.rope.scaling.factor`; others refused).
    static func read(gguf g: GGUFFile, prefix: String, headDim: Int) throws -> RoPEScaling? {
        let file = g.path, typeKey = prefix + ".rope.scaling.type"
        var scaling: RoPEScaling?
        switch g.metadata[typeKey]?.stringValue ?? "none" {
        case "none": break
        case "linear":
            let k = prefix + ".rope.scaling.factor"
            guard let f = g.metadata[k]?.doubleValue else { throw ModelError.missingConfigKey(file: file, key: k) }
            guard f.isFinite, f > 0 else {
                throw ModelError.valueOutOfRange(file: file, key: k, value: "\(f)", allowed: "a positive number")
            }
            scaling = .linear(factor: f)
        case let t:
            throw ModelError.unsupportedConfigKey(file: file, key: typeKey,
                                                  detail: "rope scaling \"\(t)\" is not implemented (none, linear and Llama-3 rope_freqs are)")
        }
        guard let info = g.tensors["rope_freqs.weight"] else { return scaling }
        guard scaling == nil else {
            throw ModelError.invalidConfig(file: file, detail: "both \(typeKey) and rope_freqs.weight scale RoPE; one is expected")
        }
        guard info.shape.reduce(1, *) == headDim / 2 else {
            throw ModelError.valueOutOfRange(file: file, key: "rope_freqs.weight", value: "\(info.shape)",
                                             allowed: "\(headDim / 2) divisors (head size \(headDim) / 2)")
        }
        let d = try g.load("rope_freqs.weight").data
        guard d.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw ModelError.valueOutOfRange(file: file, key: "rope_freqs.weight", value: "a non-positive or non-finite divisor",
                                             allowed: "positive divisors")
        }
        return .divisors(d)
    }
}
