import Foundation
import Runtime

/// A GGUF v3 writer with tensors (the project's own writer holds metadata only), for seeds.
public struct TinyGGUF {
    public var metadata: [(String, GGUFValue)] = []
    /// name, ggml type, ne (GGUF order: innermost first), raw data
    public var tensors: [(String, GGMLType, [Int], [UInt8])] = []

    public init() {}

    public func bytes() throws -> Data {
        var b: [UInt8] = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); b.append(contentsOf: s.utf8) }
        func code(_ v: GGUFValue) -> UInt32 {
            switch v {
            case .uint: return 4
            case .int: return 5
            case .float: return 6
            case .bool: return 7
            case .string: return 8
            case .array: return 9
            }
        }
        func value(_ v: GGUFValue, typed: Bool) {
            if typed { u32(code(v)) }
            switch v {
            case .uint(let x): u32(UInt32(truncatingIfNeeded: x))
            case .int(let x): u32(UInt32(bitPattern: Int32(truncatingIfNeeded: x)))
            case .float(let x): u32(Float(x).bitPattern)
            case .bool(let x): b.append(x ? 1 : 0)
            case .string(let s): str(s)
            case .array(let a):
                u32(a.first.map(code) ?? 8)
                u64(UInt64(a.count))
                for e in a { value(e, typed: false) }
            }
        }
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (k, v) in metadata { str(k); value(v, typed: true) }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.3.count + 31) / 32 * 32
        }
        for (t, off) in zip(tensors, offsets) {
            str(t.0)
            u32(UInt32(t.2.count))
            for d in t.2 { u64(UInt64(d)) }
            u32(t.1.rawValue)
            u64(UInt64(off))
        }
        while b.count % 32 != 0 { b.append(0) }
        for t in tensors {
            b.append(contentsOf: t.3)
            while b.count % 32 != 0 { b.append(0) }
        }
        return Data(b)
    }
}
