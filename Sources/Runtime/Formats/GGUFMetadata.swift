/// Checked reads of GGUF metadata numbers. A value the header holds is any width up to 64 bits;
/// before it names a token or sizes anything it is checked here, and a value out of range is an
/// error naming the key (`ModelError.valueOutOfRange`), never a trap or a silent default.
extension GGUFFile {
    /// An integer metadata value; nil when the key is absent. A present value that is not an
    /// integer, or lies outside `range`, is an error naming the key.
    public func integer(_ key: String, in range: ClosedRange<Int> = Int.min...Int.max) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.intValue, range.contains(i) else {
            throw ModelError.valueOutOfRange(file: path, key: key, value: v.text, allowed: Self.describe(range))
        }
        return i
    }

    /// A token id (`tokenizer.ggml.bos_token_id`, `eos_token_id`, `unknown_token_id`): 0 ... Int32.max.
    /// Whether it lies inside the vocabulary is the tokenizer's check.
    public func tokenId(_ key: String) throws -> Int32? {
        try integer(key, in: 0...Int(Int32.max)).map { Int32($0) }
    }

    /// An array of integers as Int32 (`tokenizer.ggml.token_type`); nil when the key is absent.
    /// Every element is checked, and the first one out of range is named with its index.
    public func int32Array(_ key: String) throws -> [Int32]? {
        guard let v = metadata[key] else { return nil }
        guard let a = v.arrayValue else {
            throw ModelError.valueOutOfRange(file: path, key: key, value: v.text, allowed: "an array of integers")
        }
        var out: [Int32] = []
        out.reserveCapacity(a.count)
        for (i, e) in a.enumerated() {
            guard let x = e.intValue.flatMap({ Int32(exactly: $0) }) else {
                throw ModelError.valueOutOfRange(file: path, key: "\(key)[\(i)]", value: e.text,
                                                 allowed: Self.describe(Int(Int32.min)...Int(Int32.max)))
            }
            out.append(x)
        }
        return out
    }

    static func describe(_ range: ClosedRange<Int>) -> String {
        switch (range.lowerBound, range.upperBound) {
        case (Int.min, Int.max): return "an integer"
        case (Int.min, let hi): return "an integer of at most \(hi)"
        case (let lo, Int.max): return "an integer of at least \(lo)"
        case (let lo, let hi): return "an integer from \(lo) to \(hi)"
        }
    }
}

extension GGUFValue {
    /// The value as written in an error message (numbers in full, arrays by their length).
    public var text: String {
        switch self {
        case .uint(let v): return "\(v)"
        case .int(let v): return "\(v)"
        case .float(let v): return "\(v)"
        case .bool(let b): return "\(b)"
        case .string(let s): return "\"\(s.prefix(40))\(s.count > 40 ? "…" : "")\""
        case .array(let a): return "an array of \(a.count) values"
        }
    }
}
