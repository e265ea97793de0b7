/// Where a model's tensors come from (safetensors directory, GGUF file, or memory),
/// addressed by Hugging Face names, delivered as float32 (`load`) or, for the weights a model
/// holds in 16 bits, as 16-bit values (`load16`: a tensor already in that format is not widened).
public protocol WeightSource: AnyObject {
    /// Human-readable origin used in error messages (a file path).
    var origin: String { get }
    /// All tensor names this source offers.
    var tensorNames: [String] { get }
    /// Shape of a tensor, or nil if absent.
    func shape(of name: String) -> [Int]?
    /// Loads a tensor as float32, throwing `ModelError.missingTensor` if absent.
    func load(_ name: String) throws -> Tensor
    /// String metadata stored with the tensors (safetensors `__metadata__`), if any.
    var metadata: [String: String] { get }
    /// The type a model built from this source holds its large weights in (block linears,
    /// embedding, lm_head); set before `loadModel`. Default f32.
    var weightDType: WeightDType { get set }
    /// The float type a tensor is stored in (quantized GGUF tensors: f16, what they dequantize to
    /// best); nil when absent or not a float tensor.
    func storedDType(of name: String) -> WeightDType?
    /// A tensor as `Format` bits: as stored when it has that format, else rounded once from float32.
    func load16<Format: HalfFormat>(_ name: String, as format: Format.Type) throws -> [UInt16]
}

extension WeightSource {
    public func storedDType(of name: String) -> WeightDType? { has(name) ? .f32 : nil }

    public func load16<Format: HalfFormat>(_ name: String, as format: Format.Type) throws -> [UInt16] {
        try load(name).data.map(Format.round)
    }

    /// A tensor as `Format` bits with its shape checked; an Inf or NaN (also one made by rounding a
    /// float32 above the format's range) is `ModelError.nonFinite`.
    public func load16<Format: HalfFormat>(_ name: String, shape expected: [Int], as format: Format.Type) throws -> [UInt16] {
        guard let s = shape(of: name) else { throw ModelError.missingTensor(file: origin, tensor: name) }
        guard s == expected else { throw ModelError.shapeMismatch(file: origin, tensor: name, expected: expected, found: s) }
        let bits = try load16(name, as: format)
        guard !bits.contains(where: Format.isNonFinite) else { throw ModelError.nonFinite(file: origin, tensor: name) }
        return bits
    }

    /// The file's own weight type, the default of `--dtype`: the float type holding most of its
    /// elements (a quantized GGUF counts as f16), f32 when it holds no float tensor.
    public var nativeDType: WeightDType {
        var count: [WeightDType: Int] = [:]
        for n in tensorNames {
            guard let d = storedDType(of: n), let s = shape(of: n) else { continue }
            count[d, default: 0] += s.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        }
        return count.max { $0.value < $1.value || ($0.value == $1.value && $0.key.size < $1.key.size) }?.key ?? .f32
    }
}

extension WeightSource {
    public func has(_ name: String) -> Bool { shape(of: name) != nil }

    /// Loads a tensor and checks its shape and values against what the config implies.
    public func load(_ name: String, shape expected: [Int]) throws -> Tensor {
        guard let s = shape(of: name) else { throw ModelError.missingTensor(file: origin, tensor: name) }
        guard s == expected else {
            throw ModelError.shapeMismatch(file: origin, tensor: name, expected: expected, found: s)
        }
        let t = try load(name)
        guard t.isFinite else { throw ModelError.nonFinite(file: origin, tensor: name) }
        return t
    }
}

/// Tensors held in memory (tests, freshly compressed models).
public final class MemoryWeights: WeightSource {
    public var tensors: [String: Tensor]
    public let origin: String
    public var metadata: [String: String]
    public var weightDType: WeightDType = .f32

    public init(_ tensors: [String: Tensor], origin: String = "<memory>", metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.origin = origin
        self.metadata = metadata
    }

    public var tensorNames: [String] { tensors.keys.sorted() }
    public func shape(of name: String) -> [Int]? { tensors[name]?.shape }
    public func load(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw ModelError.missingTensor(file: origin, tensor: name) }
        return t
    }
}
