/// A GGUF metadata value (llama.cpp's key/value header).
public enum GGUFValue: Sendable, Equatable {
    case uint(UInt64)      // UINT8 ... UINT64
    case int(Int64)        // INT8 ... INT64
    case float(Double)     // FLOAT32, FLOAT64
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var intValue: Int? {
        switch self {
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): return Int(v)
        case .float(let v): return v == v.rounded() && abs(v) < 1e15 ? Int(v) : nil
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        case .float(let v): return v
        default: return nil
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [GGUFValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var stringArray: [String]? { arrayValue?.compactMap { $0.stringValue } }
    public var intArray: [Int]? { arrayValue?.compactMap { $0.intValue } }
    public var floatArray: [Float]? { arrayValue?.compactMap { $0.doubleValue.map { Float($0) } } }
}
