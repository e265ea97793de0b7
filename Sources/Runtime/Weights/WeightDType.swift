/// The element type a model's large weights are held in: block linears, the embedding table and
/// the lm_head (`--dtype`). Norm weights and biases always stay float32, and arithmetic always
/// accumulates in float32.
public enum WeightDType: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case f32, f16, bf16

    public var description: String { rawValue }
    /// Bytes of one weight.
    public var size: Int { self == .f32 ? 4 : 2 }
    /// The safetensors dtype of a tensor in this type.
    public var safetensors: SafetensorsDType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        }
    }
    /// The type of a safetensors tensor (nil for integer tensors).
    public init?(_ d: SafetensorsDType) {
        switch d {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        default: return nil
        }
    }
}

/// The value type of a weight storage: float32 (`F32`, values `Float`) or a 16-bit format (`F16`,
/// `BF16`, values `UInt16` bits). The compressed storages are generic over it
/// (`TwoFourWeight<F32>`, `TwoFourWeight<BF16>`, ...): indices and masks are the same, only the
/// stored values change; kernels read them widened to float32 and accumulate in float32.
public protocol ValueFormat: Sendable {
    associatedtype Element: Sendable & Equatable & BitwiseCopyable
    static var dtype: WeightDType { get }
    /// float32 -> stored value (f32 exact; 16-bit formats round to nearest even).
    static func encode(_ x: Float) -> Element
    /// stored value -> float32 (exact).
    static func decode(_ e: Element) -> Float
    /// The stored value is ±0.
    static func isZero(_ e: Element) -> Bool
    /// The stored value is neither ±inf nor NaN.
    static func isFinite(_ e: Element) -> Bool
    /// Tensor `name` of `src` in this format with its shape checked (a tensor of another float
    /// type is converted once; 16-bit: an Inf or NaN is `ModelError.nonFinite`).
    static func load(_ src: WeightSource, _ name: String, shape: [Int]) throws -> [Element]
}

/// Values kept as float32 (the storages as they were before 16-bit weights; exact).
public enum F32: ValueFormat {
    public static var dtype: WeightDType { .f32 }
    @inline(__always) public static func encode(_ x: Float) -> Float { x }
    @inline(__always) public static func decode(_ e: Float) -> Float { e }
    @inline(__always) public static func isZero(_ e: Float) -> Bool { e == 0 }
    @inline(__always) public static func isFinite(_ e: Float) -> Bool { e.isFinite }
    public static func load(_ src: WeightSource, _ name: String, shape: [Int]) throws -> [Float] {
        try src.load(name, shape: shape).data
    }
}

extension ValueFormat {
    /// Stored values widened to float32.  values: [n] -> [n]
    public static func decode(all values: [Element]) -> [Float] {
        if let f = values as? [Float] { return f }
        if let bits = values as? [UInt16] { return dtype.widen(bits) ?? [] }
        return values.map(decode)
    }
    /// float32 values in this format (rounded once for 16 bits).  values: [n] -> [n]
    public static func encode(all values: [Float]) -> [Element] {
        if let e = values as? [Element] { return e }
        return values.map(encode)
    }
}

/// A 16-bit float format: IEEE half (f16) or bfloat16 (bf16). The dense 16-bit storage is generic
/// over it (`Dense16Storage<F16>`, `Dense16Storage<BF16>`), and so are the compressed storages
/// (as `ValueFormat`s with `UInt16` elements).
public protocol HalfFormat: ValueFormat where Element == UInt16 {
    /// 1 for bf16, 0 for f16 (the C kernels' format flag).
    static var cFlag: Int32 { get }
    /// float32 → 16 bits, rounded to nearest even (overflow to ±inf for f16 above 65504).
    static func round(_ x: Float) -> UInt16
    /// 16 bits → float32 (exact).
    static func widen(_ bits: UInt16) -> Float
    /// Whether the bits hold ±inf or NaN.
    static func isNonFinite(_ bits: UInt16) -> Bool
}

public enum F16: HalfFormat {
    public static var dtype: WeightDType { .f16 }
    public static var cFlag: Int32 { 0 }
    @inline(__always) public static func round(_ x: Float) -> UInt16 { Float16(x).bitPattern }
    @inline(__always) public static func widen(_ bits: UInt16) -> Float { halfToFloat(bits) }
    @inline(__always) public static func isNonFinite(_ bits: UInt16) -> Bool { bits & 0x7C00 == 0x7C00 }
}

public enum BF16: HalfFormat {
    public static var dtype: WeightDType { .bf16 }
    public static var cFlag: Int32 { 1 }
    @inline(__always) public static func round(_ x: Float) -> UInt16 { floatToBFloat16(x) }
    @inline(__always) public static func widen(_ bits: UInt16) -> Float { bfloat16ToFloat(bits) }
    @inline(__always) public static func isNonFinite(_ bits: UInt16) -> Bool { bits & 0x7F80 == 0x7F80 }
}

extension WeightDType {
    /// Rounds float32 values to this 16-bit type (nil for f32).
    public func round(_ values: [Float]) -> [UInt16]? {
        switch self {
        case .f32: return nil
        case .f16: return values.map(F16.round)
        case .bf16: return values.map(BF16.round)
        }
    }

    /// 16-bit values of this type widened to float32 (f32: nil).
    public func widen(_ bits: [UInt16]) -> [Float]? {
        switch self {
        case .f32: return nil
        case .f16, .bf16:
            var out = [Float](repeating: 0, count: bits.count)
            bits.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { o in
                    guard let s = b.baseAddress, let d = o.baseAddress else { return }
                    HalfKernels.convert(s, d, bits.count, bf16: self == .bf16)
                }
            }
            return out
        }
    }
}

extension HalfFormat {
    @inline(__always) public static func encode(_ x: Float) -> UInt16 { round(x) }
    @inline(__always) public static func decode(_ e: UInt16) -> Float { widen(e) }
    @inline(__always) public static func isZero(_ e: UInt16) -> Bool { e & 0x7FFF == 0 }
    @inline(__always) public static func isFinite(_ e: UInt16) -> Bool { !isNonFinite(e) }
    public static func load(_ src: WeightSource, _ name: String, shape: [Int]) throws -> [UInt16] {
        try src.load16(name, shape: shape, as: Self.self)
    }
}
