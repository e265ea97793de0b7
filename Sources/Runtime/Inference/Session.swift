/// Errors of running a model on given token ids.
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    case contextOverflow(needed: Int, capacity: Int)
    case invalidToken(id: Int32, vocabSize: Int)
    case emptyPrompt

    public var description: String {
        switch self {
        case .contextOverflow(let n, let c):
            return "the sequence needs \(n) positions but the context holds \(c); shorten the prompt, generate fewer tokens, or use a larger context (up to the model's max_position_embeddings)"
        case .invalidToken(let id, let v):
            return "token id \(id) is outside the vocabulary (0..<\(v))"
        case .emptyPrompt:
            return "the prompt is empty: give at least one token"
        }
    }
}

/// One sequence being run through a model: its KV cache, scratch space and logits.
public final class InferenceSession {
    public let model: CausalLM
    public let cache: KVCache
    public let workspace = Workspace()
    private let logitsBuffer = Buffer()
    /// Longest slice of tokens given to one forward call (bounds scratch memory).
    public var chunk = 512

    /// `capacity` positions (default: the model's context length).
    public init(model: CausalLM, capacity: Int? = nil) {
        self.model = model
        let cap = min(capacity ?? model.contextLength, model.contextLength)
        cache = KVCache(config: model.config, capacity: max(1, cap))
    }

    public var position: Int { cache.count }
    public var vocabSize: Int { model.config.vocabSize }

    public func reset() { cache.reset() }

    /// Checks ids and room in the cache before anything runs.
    public func validate(_ tokens: [Int32]) throws {
        let v = model.config.vocabSize
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= v }) { throw InferenceError.invalidToken(id: bad, vocabSize: v) }
        if cache.count + tokens.count > cache.capacity {
            throw InferenceError.contextOverflow(needed: cache.count + tokens.count, capacity: cache.capacity)
        }
    }

    /// Runs the tokens (in chunks) and returns the logits of the last one: [V], checked finite
    /// (`NonFiniteError` otherwise). The buffer stays valid until the next call.
    @discardableResult
    public func feed(_ tokens: [Int32]) throws -> UnsafeMutableBufferPointer<Float> {
        guard !tokens.isEmpty else { throw InferenceError.emptyPrompt }
        try validate(tokens)
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + chunk)
            tokens.withUnsafeBufferPointer { tb in
                model.forward(UnsafeBufferPointer(rebasing: tb[start..<end]), cache: cache, ws: workspace)
            }
            start = end
        }
        let rows = (tokens.count - 1) % chunk + 1
        let V = vocabSize
        let out = logitsBuffer.reserve(V)
        model.logits(workspace.hidden.pointer + (rows - 1) * model.headInput, rows: 1, into: out)
        try checkFinite(out, count: V, rowLength: V) { _ in .logits(position: cache.count - 1, segment: nil) }
        return UnsafeMutableBufferPointer(start: out, count: V)
    }

    /// Decodes one token: logits [V] of the next position, checked finite (one pass over V floats).
    /// No allocation in steady state.
    @discardableResult
    public func step(_ token: Int32) throws -> UnsafeMutableBufferPointer<Float> {
        let V = vocabSize
        guard token >= 0, Int(token) < V else { throw InferenceError.invalidToken(id: token, vocabSize: V) }
        guard cache.count < cache.capacity else { throw InferenceError.contextOverflow(needed: cache.count + 1, capacity: cache.capacity) }
        var t = token
        withUnsafePointer(to: &t) { model.forward(UnsafeBufferPointer(start: $0, count: 1), cache: cache, ws: workspace) }
        let out = logitsBuffer.reserve(V)
        model.logits(workspace.hidden.pointer, rows: 1, into: out)
        try checkFinite(out, count: V, rowLength: V) { _ in .logits(position: cache.count - 1, segment: nil) }
        return UnsafeMutableBufferPointer(start: out, count: V)
    }

    /// Runs all tokens in one forward pass and returns every position's logits: [T, V], checked finite.
    public func logitsForAll(_ tokens: [Int32]) throws -> [Float] {
        guard !tokens.isEmpty else { throw InferenceError.emptyPrompt }
        try validate(tokens)
        tokens.withUnsafeBufferPointer { model.forward($0, cache: cache, ws: workspace) }
        var out = [Float](repeating: 0, count: tokens.count * vocabSize)
        let first = cache.count - tokens.count
        try out.withUnsafeMutableBufferPointer { ob in
            guard let p = ob.baseAddress else { return }
            model.logits(workspace.hidden.pointer, rows: tokens.count, into: p)
            try checkFinite(p, count: ob.count, rowLength: vocabSize) { .logits(position: first + $0, segment: nil) }
        }
        return out
    }
}
