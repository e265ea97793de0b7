/// d loss / d parameter for every parameter of a model, keyed by the names of `namedParameters()`
/// (a tied lm_head's gradient lands in the embedding, as in PyTorch). Backward passes add to it,
/// so several windows accumulate; `zero()` starts over.
public final class Gradients {
    /// Parameter names in model order.
    public let names: [String]
    public let shapes: [String: [Int]]
    private let buffers: [String: Buffer]

    /// Zero gradients shaped like the model's parameters.
    public init(for model: CausalLM) {
        var names: [String] = [], shapes: [String: [Int]] = [:], buffers: [String: Buffer] = [:]
        for (name, t) in model.namedParameters() {
            names.append(name)
            shapes[name] = t.shape
            buffers[name] = Buffer(t.count)
        }
        self.names = names
        self.shapes = shapes
        self.buffers = buffers
    }

    public func contains(_ name: String) -> Bool { buffers[name] != nil }

    /// The gradient of one parameter as a tensor (a copy), or nil for an unknown name.
    public subscript(name: String) -> Tensor? {
        guard let b = buffers[name], let s = shapes[name] else { return nil }
        return Tensor(shape: s, data: b.array(s.reduce(1, *)))
    }

    /// Sets every gradient to zero.
    public func zero() {
        for (n, b) in buffers { b.zero(shapes[n]?.reduce(1, *) ?? 0) }
    }

    /// Multiplies every gradient by s (e.g. to average over windows).
    public func scale(by s: Float) {
        for (n, b) in buffers {
            let p = b.pointer
            for i in 0..<(shapes[n]?.reduce(1, *) ?? 0) { p[i] *= s }
        }
    }

    /// Where backward passes accumulate the gradient of `name` (nil if the model has no such parameter).
    func pointer(_ name: String) -> UnsafeMutablePointer<Float>? { buffers[name]?.pointer }
}
