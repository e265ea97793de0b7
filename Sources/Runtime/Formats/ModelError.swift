/// Everything that can go wrong while opening a model or a tensor file.
/// Each case names the file (and tensor) and says what to do.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case truncated(file: String, detail: String)
    case badHeader(file: String, detail: String)
    case badMagic(file: String, found: String)
    case unsupportedVersion(file: String, version: Int)
    case unknownDType(file: String, tensor: String, dtype: String)
    case offsetOutOfRange(file: String, tensor: String)
    case shapeOverflow(file: String, tensor: String)
    case missingTensor(file: String, tensor: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case missingConfigKey(file: String, key: String)
    case invalidConfig(file: String, detail: String)
    /// A config key set to something the architecture does not implement (it is refused, never ignored).
    case unsupportedConfigKey(file: String, key: String, detail: String)
    case unsupportedArchitecture(file: String, name: String)
    case pickleRefused(file: String)
    case nonFinite(file: String, tensor: String)
    case noModelFound(path: String)
    case outputExists(path: String)
    /// A number read from a file (config key, GGUF metadata key or array element) that lies outside
    /// what it names or sizes; `allowed` says the range ("a token id below the vocabulary size 512").
    case valueOutOfRange(file: String, key: String, value: String, allowed: String)
    /// An integer tensor holding a value that does not fit the 32-bit indices it is read into.
    case integerTensorOutOfRange(file: String, tensor: String, value: Int64)

    public var description: String {
        switch self {
        case .fileNotFound(let p):
            return "\(p): no such file or directory. Check the path."
        case .unreadable(let p, let r):
            return "\(p): cannot be read (\(r))."
        case .truncated(let f, let d):
            return "\(f): file is truncated (\(d)). Download or convert it again."
        case .badHeader(let f, let d):
            return "\(f): invalid header (\(d)). The file is corrupt or not in the expected format."
        case .badMagic(let f, let found):
            return "\(f): not a GGUF file (magic \(found), expected \"GGUF\")."
        case .unsupportedVersion(let f, let v):
            return "\(f): GGUF version \(v) is not supported (2 and 3 are). Re-convert it with a recent llama.cpp."
        case .unknownDType(let f, let t, let d):
            return "\(f): tensor \(t) has unsupported dtype \(d). Supported: F32, F16, BF16 (safetensors); F32, F16, BF16, Q8_0, Q4_0, Q4_1 (GGUF)."
        case .offsetOutOfRange(let f, let t):
            return "\(f): tensor \(t) points past the end of the file. The file is truncated or corrupt."
        case .shapeOverflow(let f, let t):
            return "\(f): tensor \(t) has an impossible shape (element count overflows)."
        case .missingTensor(let f, let t):
            return "\(f): tensor \(t) is missing, but the model's config needs it."
        case .shapeMismatch(let f, let t, let e, let found):
            return "\(f): tensor \(t) has shape \(found), but the config implies \(e)."
        case .missingConfigKey(let f, let k):
            return "\(f): required key \"\(k)\" is missing."
        case .invalidConfig(let f, let d):
            return "\(f): invalid config (\(d))."
        case .unsupportedConfigKey(let f, let k, let d):
            return "\(f): config key \"\(k)\" is not supported: \(d). Running the model without it would give wrong outputs."
        case .unsupportedArchitecture(let f, let n):
            return "\(f): architecture \"\(n)\" is not supported (supported: OPT, Llama, Qwen2, Mistral)."
        case .pickleRefused(let f):
            return "\(f): pickle checkpoints are refused, because loading a pickle runs arbitrary code. "
                + "Convert it to safetensors first, e.g. in Python: "
                + "`AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out, safe_serialization=True)`."
        case .nonFinite(let f, let t):
            return "\(f): tensor \(t) contains NaN or Inf values; the checkpoint is corrupt."
        case .noModelFound(let p):
            return "\(p): no model found (expected a directory with config.json and model.safetensors, or a .gguf file)."
        case .outputExists(let p):
            return "\(p) already exists; choose another output path or allow replacing it."
        case .valueOutOfRange(let f, let k, let v, let a):
            return "\(f): \"\(k)\" is \(v), but it must be \(a). The file is corrupt or describes a model this engine cannot hold."
        case .integerTensorOutOfRange(let f, let t, let v):
            return "\(f): tensor \(t) holds \(v), outside the 32-bit range of the indices it is read into; the file is corrupt."
        }
    }
}
