import Foundation

/// Writes GGUF v3 files: metadata only (no tensors), how a compressed model made from a GGUF
/// input carries its tokenizer and chat template (`tokenizer.gguf`), readable by llama.cpp's
/// gguf-py; or metadata and tensors (F32/F16/BF16 data as given, 32-byte aligned).
public enum GGUFMetadataWriter {
    /// One tensor to write: its GGUF name, Hugging Face-order shape ([R, C]), type and raw bytes.
    public struct Tensor {
        public let name: String, shape: [Int], type: GGMLType, bytes: [UInt8]
        public init(name: String, shape: [Int], type: GGMLType, bytes: [UInt8]) {
            self.name = name
            self.shape = shape
            self.type = type
            self.bytes = bytes
        }
    }

    public static func write(_ metadata: [(String, GGUFValue)], tensors: [Tensor] = [], to path: String) throws {
        let alignment = 32
        var b: [UInt8] = Array("GGUF".utf8)
        append(&b, UInt32(3))
        append(&b, UInt64(tensors.count))
        append(&b, UInt64(metadata.count))
        for (k, v) in metadata {
            appendString(&b, k)
            try appendValue(&b, v, withType: true)
        }
        var offset = 0
        for t in tensors {
            appendString(&b, t.name)
            append(&b, UInt32(t.shape.count))
            for d in t.shape.reversed() { append(&b, UInt64(d)) }
            append(&b, t.type.rawValue)
            append(&b, UInt64(offset))
            offset += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        for t in tensors {
            while b.count % alignment != 0 { b.append(0) }
            b.append(contentsOf: t.bytes)
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(b)) else {
            throw FileOperationError(.write, path: path, code: errno)
        }
    }

    private static func append<T: FixedWidthInteger>(_ b: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) }
    }

    private static func appendString(_ b: inout [UInt8], _ s: String) {
        append(&b, UInt64(s.utf8.count))
        b.append(contentsOf: s.utf8)
    }

    private static func typeCode(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint: return 10
        case .int: return 11
        case .float: return 12
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        }
    }

    private static func appendValue(_ b: inout [UInt8], _ v: GGUFValue, withType: Bool) throws {
        if withType { append(&b, typeCode(v)) }
        switch v {
        case .uint(let x): append(&b, x)
        case .int(let x): append(&b, x)
        case .float(let x): append(&b, x.bitPattern)
        case .bool(let x): b.append(x ? 1 : 0)
        case .string(let s): appendString(&b, s)
        case .array(let a):
            let t = a.first.map(typeCode) ?? 8
            guard a.allSatisfy({ typeCode($0) == t }) else {
                throw ModelError.badHeader(file: "<gguf writer>", detail: "mixed-type metadata array")
            }
            append(&b, t)
            append(&b, UInt64(a.count))
            for e in a { try appendValue(&b, e, withType: false) }
        }
    }
}
