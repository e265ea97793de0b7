/// Conversions of 16-bit floats to float32.

@inline(__always)
public func halfToFloat(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

@inline(__always)
public func bfloat16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// float32 -> bfloat16 with round-to-nearest-even (NaN kept NaN).
@inline(__always)
public func floatToBFloat16(_ x: Float) -> UInt16 {
    let b = x.bitPattern
    if x.isNaN { return UInt16(b >> 16) | 0x40 }
    let rounding = 0x7FFF + ((b >> 16) & 1)
    return UInt16((b &+ rounding) >> 16)
}

/// Converts `count` little-endian f16 values at `src` into `dst`.
public func convertHalf(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count {
        dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
    }
}

/// Converts `count` little-endian bf16 values at `src` into `dst`.
public func convertBFloat16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count {
        dst[i] = bfloat16ToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
    }
}
