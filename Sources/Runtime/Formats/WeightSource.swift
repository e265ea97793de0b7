/// Where a model's tensors come from (safetensors directory, GGUF file, or memory),
/// addressed by Hugging Face names and always delivered as float32.
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
