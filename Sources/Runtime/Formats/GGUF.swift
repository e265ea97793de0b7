import Foundation

/// ggml tensor types this reader can dequantize.
public enum GGMLType: UInt32, Sendable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, bf16 = 30

    /// (elements per block, bytes per block)
    var block: (elements: Int, bytes: Int) {
        switch self {
        case .f32: return (1, 4)
        case .f16, .bf16: return (1, 2)
        case .q4_0: return (32, 18)
        case .q4_1: return (32, 20)
        case .q8_0: return (32, 34)
        }
    }
}

/// A GGUF file (v2/v3): metadata and tensor directory, validated on open; tensors are dequantized
/// to float32 on load. Names and shapes here are GGUF's own; `GGUFWeights` maps them to Hugging Face.
public final class GGUFFile {
    public struct TensorInfo: Sendable {
        public let name: String
        public let type: GGMLType
        /// Hugging Face order (outermost first): GGUF's ne[] reversed.
        public let shape: [Int]
        public let offset: Int   // absolute
        public let byteCount: Int
    }

    public let file: MappedFile
    public let version: Int
    public let metadata: [String: GGUFValue]
    public let tensors: [String: TensorInfo]
    public let tensorOrder: [String]
    public var path: String { file.path }

    public init(path: String) throws {
        let f = try MappedFile(path: path)
        file = f
        var r = GGUFReader(file: f)
        guard f.size >= 4, let magicBytes = f.bytes(at: 0, count: 4) else {
            throw ModelError.truncated(file: path, detail: "shorter than the GGUF magic")
        }
        let magic = String(decoding: magicBytes, as: UTF8.self)
        guard magic == "GGUF" else {
            throw ModelError.badMagic(file: path, found: magicBytes.map { String(format: "%02x", $0) }.joined())
        }
        r.pos = 4
        let v = Int(try r.u32())
        guard v == 2 || v == 3 else { throw ModelError.unsupportedVersion(file: path, version: v) }
        version = v
        let nTensors = try r.u64()
        let nKV = try r.u64()
        guard nTensors < 1 << 24, nKV < 1 << 24 else {
            throw ModelError.badHeader(file: path, detail: "implausible counts (\(nTensors) tensors, \(nKV) keys)")
        }
        var meta: [String: GGUFValue] = [:]
        for _ in 0..<nKV {
            let key = try r.string()
            let type = try r.u32()
            meta[key] = try r.value(type: type, depth: 0)
        }
        metadata = meta
        var infos: [(String, UInt32, [Int], UInt64)] = []
        for _ in 0..<nTensors {
            let name = try r.string()
            let nd = Int(try r.u32())
            guard nd >= 1, nd <= 4 else { throw ModelError.badHeader(file: path, detail: "tensor \(name) has \(nd) dimensions") }
            var ne: [Int] = []
            for _ in 0..<nd {
                let d = try r.u64()
                guard d < 1 << 40 else { throw ModelError.shapeOverflow(file: path, tensor: name) }
                ne.append(Int(d))
            }
            let t = try r.u32()
            let off = try r.u64()
            infos.append((name, t, ne, off))
        }
        let alignmentValue = meta["general.alignment"] ?? .uint(32)
        guard let alignment = alignmentValue.intValue, alignment > 0, alignment <= 1 << 16 else {
            throw ModelError.valueOutOfRange(file: path, key: "general.alignment", value: alignmentValue.text,
                                             allowed: "an integer from 1 to 65536")
        }
        let dataStart = (r.pos + alignment - 1) / alignment * alignment
        var table: [String: TensorInfo] = [:]
        var order: [String] = []
        for (name, t, ne, off) in infos {
            guard let type = GGMLType(rawValue: t) else {
                throw ModelError.unknownDType(file: path, tensor: name, dtype: "ggml type \(t)")
            }
            var count = 1
            for d in ne {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw ModelError.shapeOverflow(file: path, tensor: name) }
                count = p
            }
            let (be, bb) = type.block
            guard ne[0] % be == 0 else {
                throw ModelError.badHeader(file: path, detail: "tensor \(name): row of \(ne[0]) is not a multiple of the block size \(be)")
            }
            let bytes = count / be * bb
            guard off < UInt64(Int.max / 2) else { throw ModelError.offsetOutOfRange(file: path, tensor: name) }
            let abs = dataStart + Int(off)
            guard abs <= f.size, bytes <= f.size - abs else { throw ModelError.offsetOutOfRange(file: path, tensor: name) }
            table[name] = TensorInfo(name: name, type: type, shape: ne.reversed(), offset: abs, byteCount: bytes)
            order.append(name)
        }
        tensors = table
        tensorOrder = order
    }

    public var architecture: String? { metadata["general.architecture"]?.stringValue }

    /// Dequantizes a tensor to float32 (shape in Hugging Face order).
    public func load(_ name: String) throws -> Tensor {
        guard let info = tensors[name] else { throw ModelError.missingTensor(file: path, tensor: name) }
        guard let raw = file.bytes(at: info.offset, count: info.byteCount), let src = raw.baseAddress else {
            if info.byteCount == 0 { return Tensor(shape: info.shape, data: []) }
            throw ModelError.offsetOutOfRange(file: path, tensor: name)
        }
        defer { file.release(at: info.offset, count: info.byteCount) }   // copied out: the file's pages need not stay resident
        let n = info.shape.reduce(1, *)
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { dst in
            dequantize(info.type, src, dst.baseAddress!, n)
        }
        return Tensor(shape: info.shape, data: out)
    }

    /// Dequantizes a tensor straight to 16-bit `Format` values, a few thousand elements at a time
    /// through a small float32 scratch: no float32 copy of the whole tensor, whose freed space would
    /// stay resident as a hole in the heap after loading (shape in Hugging Face order).
    public func load16<Format: HalfFormat>(_ name: String, as format: Format.Type) throws -> [UInt16] {
        guard let info = tensors[name] else { throw ModelError.missingTensor(file: path, tensor: name) }
        let n = info.shape.reduce(1, *)
        guard n > 0 else { return [] }
        guard let raw = file.bytes(at: info.offset, count: info.byteCount), let src = raw.baseAddress else {
            throw ModelError.offsetOutOfRange(file: path, tensor: name)
        }
        defer { file.release(at: info.offset, count: info.byteCount) }
        let (be, bb) = info.type.block
        let chunk = 256 * 32   // elements per step, a whole number of blocks of every type
        return [UInt16](unsafeUninitializedCapacity: n) { out, count in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: chunk) { scratch in
                guard let tmp = scratch.baseAddress else { return }
                var i = 0
                while i < n {
                    let m = min(chunk, n - i)   // n is a whole number of blocks (checked on open)
                    dequantize(info.type, src + i / be * bb, tmp, m)
                    for j in 0..<m { out[i + j] = Format.round(tmp[j]) }
                    i += m
                }
            }
            count = n
        }
    }
}

/// Dequantizes `n` elements of ggml type `type` from `src` to `dst`.
/// Q4_0: d·(q−8); Q4_1: d·q + m; Q8_0: d·q — blocks of 32, low nibbles first.
public func dequantize(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    switch type {
    case .f32:
        memcpy(dst, src, n * 4)
    case .f16:
        convertHalf(src, dst, n)
    case .bf16:
        convertBFloat16(src, dst, n)
    case .q4_0:
        for b in 0..<(n / 32) {
            let p = src + b * 18
            let d = halfToFloat(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
            let o = dst + b * 32
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 2 + j, as: UInt8.self)
                o[j] = Float(Int(q & 0x0F) - 8) * d
                o[j + 16] = Float(Int(q >> 4) - 8) * d
            }
        }
    case .q4_1:
        for b in 0..<(n / 32) {
            let p = src + b * 20
            let d = halfToFloat(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
            let m = halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt16.self)))
            let o = dst + b * 32
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 4 + j, as: UInt8.self)
                o[j] = Float(q & 0x0F) * d + m
                o[j + 16] = Float(q >> 4) * d + m
            }
        }
    case .q8_0:
        for b in 0..<(n / 32) {
            let p = src + b * 34
            let d = halfToFloat(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
            let o = dst + b * 32
            for j in 0..<32 {
                o[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d
            }
        }
    }
}

/// Bounds-checked sequential reader over the GGUF header.
struct GGUFReader {
    let file: MappedFile
    var pos = 0

    init(file: MappedFile) { self.file = file }

    private func fail(_ what: String) -> ModelError {
        .truncated(file: file.path, detail: "header ends inside \(what) at byte \(pos)")
    }

    mutating func read<T: FixedWidthInteger>(_ t: T.Type, _ what: String) throws -> T {
        guard let v = file.loadLE(T.self, at: pos) else { throw fail(what) }
        pos += MemoryLayout<T>.size
        return v
    }

    mutating func u32() throws -> UInt32 { try read(UInt32.self, "a u32") }
    mutating func u64() throws -> UInt64 { try read(UInt64.self, "a u64") }

    mutating func string() throws -> String {
        let n = try u64()
        guard n <= UInt64(file.size), let b = file.bytes(at: pos, count: Int(n)) else { throw fail("a string") }
        pos += Int(n)
        return String(decoding: b, as: UTF8.self)
    }

    mutating func value(type: UInt32, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try read(UInt8.self, "u8")))
        case 1: return .int(Int64(try read(Int8.self, "i8")))
        case 2: return .uint(UInt64(try read(UInt16.self, "u16")))
        case 3: return .int(Int64(try read(Int16.self, "i16")))
        case 4: return .uint(UInt64(try read(UInt32.self, "u32")))
        case 5: return .int(Int64(try read(Int32.self, "i32")))
        case 6: return .float(Double(Float(bitPattern: try read(UInt32.self, "f32"))))
        case 7: return .bool(try read(UInt8.self, "bool") != 0)
        case 8: return .string(try string())
        case 9:
            guard depth < 2 else { throw ModelError.badHeader(file: file.path, detail: "nested arrays too deep") }
            let et = try u32()
            let n = try u64()
            // Each element takes at least its smallest encoding, so the count is bounded by the
            // bytes left before anything is reserved for it.
            guard n <= UInt64(file.size - pos) / UInt64(Self.minimumSize(type: et)) else { throw fail("an array of \(n) values") }
            var a: [GGUFValue] = []
            a.reserveCapacity(Int(n))
            for _ in 0..<n { a.append(try value(type: et, depth: depth + 1)) }
            return .array(a)
        case 10: return .uint(try read(UInt64.self, "u64"))
        case 11: return .int(try read(Int64.self, "i64"))
        case 12: return .float(Double(bitPattern: try read(UInt64.self, "f64")))
        default:
            throw ModelError.badHeader(file: file.path, detail: "unknown metadata value type \(type)")
        }
    }

    /// Fewest bytes one value of a metadata type occupies (a string: its length; an array: its
    /// element type and count).
    static func minimumSize(type: UInt32) -> Int {
        switch type {
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return 1
        }
    }
}
