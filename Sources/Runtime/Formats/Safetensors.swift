import Foundation

/// Element types a safetensors file may hold.
public enum SafetensorsDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i32 = "I32", i64 = "I64", u8 = "U8", i8 = "I8", u16 = "U16", u32 = "U32"

    public var size: Int {
        switch self {
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .u16: return 2
        case .i64: return 8
        case .u8, .i8: return 1
        }
    }
}

/// A safetensors file: 8-byte little-endian header length, JSON header, raw tensor bytes.
/// The header is validated completely when the file is opened.
public final class SafetensorsFile: WeightSource {
    public struct Entry: Sendable {
        public let dtype: SafetensorsDType
        public let shape: [Int]
        public let begin: Int   // absolute byte offset in the file
        public let end: Int
    }

    public let file: MappedFile
    public let entries: [String: Entry]
    public let metadata: [String: String]
    public var weightDType: WeightDType = .f32
    public var origin: String { file.path }

    public init(path: String) throws {
        file = try MappedFile(path: path)
        guard let n64 = file.loadLE(UInt64.self, at: 0) else {
            throw ModelError.truncated(file: path, detail: "shorter than the 8-byte header length")
        }
        guard n64 <= UInt64(file.size - 8) else {
            throw ModelError.truncated(file: path, detail: "header of \(n64) bytes does not fit in \(file.size) bytes")
        }
        let n = Int(n64)
        guard n <= 100_000_000 else { throw ModelError.badHeader(file: path, detail: "header length \(n) is implausible") }
        guard let hb = file.bytes(at: 8, count: n) else { throw ModelError.truncated(file: path, detail: "header") }
        let headerData = Data(hb)
        guard let obj = try? JSONSerialization.jsonObject(with: headerData), let header = obj as? [String: Any] else {
            throw ModelError.badHeader(file: path, detail: "header is not a JSON object")
        }
        let dataStart = 8 + n
        let dataSize = file.size - dataStart
        var entries: [String: Entry] = [:]
        var meta: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                if let m = value as? [String: Any] {
                    for (k, v) in m { if let s = v as? String { meta[k] = s } }
                }
                continue
            }
            guard let d = value as? [String: Any] else {
                throw ModelError.badHeader(file: path, detail: "entry \(name) is not an object")
            }
            guard let ds = d["dtype"] as? String else {
                throw ModelError.badHeader(file: path, detail: "tensor \(name) has no dtype")
            }
            guard let dtype = SafetensorsDType(rawValue: ds) else {
                throw ModelError.unknownDType(file: path, tensor: name, dtype: ds)
            }
            guard let shapeRaw = d["shape"] as? [NSNumber], let offs = d["data_offsets"] as? [NSNumber], offs.count == 2 else {
                throw ModelError.badHeader(file: path, detail: "tensor \(name) lacks shape or data_offsets")
            }
            var shape: [Int] = []
            var count = 1
            for s in shapeRaw {
                guard let v = Int(exactly: s.doubleValue), v >= 0 else {
                    throw ModelError.badHeader(file: path, detail: "tensor \(name) has a negative or fractional dimension")
                }
                let (p, o) = count.multipliedReportingOverflow(by: v)
                guard !o else { throw ModelError.shapeOverflow(file: path, tensor: name) }
                count = p
                shape.append(v)
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o else { throw ModelError.shapeOverflow(file: path, tensor: name) }
            guard let b = Int(exactly: offs[0].doubleValue), let e = Int(exactly: offs[1].doubleValue), b >= 0, e >= b else {
                throw ModelError.badHeader(file: path, detail: "tensor \(name) has invalid data_offsets")
            }
            guard e <= dataSize else { throw ModelError.offsetOutOfRange(file: path, tensor: name) }
            guard e - b == bytes else {
                throw ModelError.badHeader(file: path, detail: "tensor \(name): \(e - b) bytes for shape \(shape) of \(ds)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, begin: dataStart + b, end: dataStart + e)
        }
        self.entries = entries
        self.metadata = meta
    }

    public var tensorNames: [String] { entries.keys.sorted() }
    public func shape(of name: String) -> [Int]? { entries[name]?.shape }

    public func load(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw ModelError.missingTensor(file: origin, tensor: name) }
        guard let raw = file.bytes(at: e.begin, count: e.end - e.begin) else {
            throw ModelError.offsetOutOfRange(file: origin, tensor: name)
        }
        defer { file.release(at: e.begin, count: e.end - e.begin) }   // copied out: the file's pages need not stay resident
        let n = e.shape.reduce(1, *)
        var out = [Float](repeating: 0, count: n)
        guard n > 0, let src = raw.baseAddress else { return Tensor(shape: e.shape, data: out) }
        out.withUnsafeMutableBufferPointer { dst in
            let d = dst.baseAddress!
            switch e.dtype {
            case .f32:
                memcpy(d, src, n * 4)
            case .f16:
                convertHalf(src, d, n)
            case .bf16:
                convertBFloat16(src, d, n)
            case .i32:
                for i in 0..<n { d[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case .i64:
                for i in 0..<n { d[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            case .u8:
                for i in 0..<n { d[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
            case .i8:
                for i in 0..<n { d[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
            case .u16:
                for i in 0..<n { d[i] = Float(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .u32:
                for i in 0..<n { d[i] = Float(UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            }
        }
        return Tensor(shape: e.shape, data: out)
    }

    public func storedDType(of name: String) -> WeightDType? { entries[name].flatMap { WeightDType($0.dtype) } }

    /// The tensor's bits as stored when it is in `Format` already (no widening), else rounded from float32.
    public func load16<Format: HalfFormat>(_ name: String, as format: Format.Type) throws -> [UInt16] {
        guard let e = entries[name], e.dtype == Format.dtype.safetensors else { return try load(name).data.map(Format.round) }
        guard let raw = file.bytes(at: e.begin, count: e.end - e.begin) else {
            throw ModelError.offsetOutOfRange(file: origin, tensor: name)
        }
        defer { file.release(at: e.begin, count: e.end - e.begin) }
        let n = e.shape.reduce(1, *)
        return [UInt16](unsafeUninitializedCapacity: n) { out, count in
            for i in 0..<n { out[i] = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            count = n
        }
    }

    /// Loads an integer tensor (I32, I64, U8) exactly; an I64 value outside Int32 is an error.
    public func loadInts(_ name: String) throws -> IntTensor {
        guard let e = entries[name] else { throw ModelError.missingTensor(file: origin, tensor: name) }
        guard let raw = file.bytes(at: e.begin, count: e.end - e.begin) else {
            throw ModelError.offsetOutOfRange(file: origin, tensor: name)
        }
        let n = e.shape.reduce(1, *)
        var out = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            switch e.dtype {
            case .i32: out[i] = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
            case .i64:
                let v = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                guard let x = Int32(exactly: v) else { throw ModelError.integerTensorOutOfRange(file: origin, tensor: name, value: v) }
                out[i] = x
            case .u8: out[i] = Int32(raw.load(fromByteOffset: i, as: UInt8.self))
            default: throw ModelError.unknownDType(file: origin, tensor: name, dtype: e.dtype.rawValue + " (integer expected)")
            }
        }
        return IntTensor(shape: e.shape, data: out)
    }

    /// Raw bytes of a tensor as stored (for packed storages that are not float).
    public func rawBytes(_ name: String) throws -> (entry: Entry, bytes: UnsafeRawBufferPointer) {
        guard let e = entries[name] else { throw ModelError.missingTensor(file: origin, tensor: name) }
        guard let raw = file.bytes(at: e.begin, count: e.end - e.begin) else {
            throw ModelError.offsetOutOfRange(file: origin, tensor: name)
        }
        return (e, raw)
    }
}

/// Writes safetensors files (sorted names, 8-byte aligned header as the reference writer does).
public struct SafetensorsWriter {
    public struct Item {
        public let name: String
        public let dtype: SafetensorsDType
        public let shape: [Int]
        public let bytes: [UInt8]
        public init(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }
        public init(name: String, tensor: Tensor) {
            self.name = name
            self.dtype = .f32
            self.shape = tensor.shape
            self.bytes = tensor.data.withUnsafeBytes { Array($0) }
        }
        public init(name: String, shape: [Int], floats: [Float]) {
            self.init(name: name, tensor: Tensor(shape: shape, data: floats))
        }
        public init(name: String, shape: [Int], ints: [Int32]) {
            self.name = name
            self.dtype = .i32
            self.shape = shape
            self.bytes = ints.withUnsafeBytes { Array($0) }
        }
        /// Integers stored exactly, little-endian; `dtype` must have the element's size.
        public init<T: FixedWidthInteger>(name: String, dtype: SafetensorsDType, shape: [Int], integers: [T]) {
            precondition(dtype.size == MemoryLayout<T>.size, "\(dtype.rawValue) does not hold \(T.self)")
            self.init(name: name, dtype: dtype, shape: shape, bytes: integers.map { $0.littleEndian }.withUnsafeBytes { Array($0) })
        }
    }

    /// A tensor whose bytes are made only when the writer reaches it (one at a time), with its size known before.
    public struct LazyItem {
        public let name: String
        public let dtype: SafetensorsDType
        public let shape: [Int]
        public let byteCount: Int
        public let bytes: () throws -> [UInt8]
        public init(name: String, dtype: SafetensorsDType, shape: [Int], byteCount: Int, bytes: @escaping () throws -> [UInt8]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.byteCount = byteCount
            self.bytes = bytes
        }
    }

    public static func write(_ items: [Item], metadata: [String: String] = [:], to path: String) throws {
        try write(lazy: items.map { it in LazyItem(name: it.name, dtype: it.dtype, shape: it.shape, byteCount: it.bytes.count) { it.bytes } },
                  metadata: metadata, to: path)
    }

    /// Writes the header from the items' sizes, then each item's bytes as it is made: memory holds
    /// one tensor's bytes at a time. An item whose bytes differ from its declared size is an error.
    public static func write(lazy items: [LazyItem], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let sorted = items.sorted { $0.name < $1.name }
        for it in sorted {
            header[it.name] = ["dtype": it.dtype.rawValue, "shape": it.shape, "data_offsets": [offset, offset + it.byteCount]] as [String: Any]
            offset += it.byteCount
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        guard let fh = FileHandle(forWritingAtPath: path) ?? {
            FileManager.default.createFile(atPath: path, contents: nil) ? FileHandle(forWritingAtPath: path) : nil
        }() else {
            throw FileOperationError(.write, path: path, code: errno)
        }
        defer { try? fh.close() }
        do {
            try fh.truncate(atOffset: 0)
            var len = UInt64(json.count).littleEndian
            try fh.write(contentsOf: Data(bytes: &len, count: 8))
            try fh.write(contentsOf: json)
            for it in sorted {
                let b = try it.bytes()
                guard b.count == it.byteCount else {
                    throw ModelError.unreadable(path: path, reason: "tensor \(it.name) made \(b.count) bytes, \(it.byteCount) declared")
                }
                try b.withUnsafeBytes { try fh.write(contentsOf: $0) }
            }
        } catch let e as ModelError {
            throw e
        } catch {
            throw FileOperationError(.write, path: path, error: error)
        }
    }
}
