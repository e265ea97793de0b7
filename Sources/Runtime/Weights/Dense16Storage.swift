import CBLAS

extension StorageKind {
    /// Row-major IEEE half, zeros included.
    public static let denseF16 = StorageKind(tag: "dense-f16")
    /// Row-major bfloat16, zeros included.
    public static let denseBF16 = StorageKind(tag: "dense-bf16")
    /// The dense storages, whatever their element type: a file's `<layer>.weight` in any of them
    /// loads into the one the requested `WeightDType` names.
    public static let denseKinds: Set<StorageKind> = [.dense, .denseF16, .denseBF16]
}

/// W [R, C] row-major in 16 bits (`Format`: f16 or bf16), zeros included; products accumulate in
/// float32.
///   bits: [R, C]
/// Saved as the tensor `<layer>.weight` F16 or BF16 [R, C], as Hugging Face names it (a 16-bit
/// checkpoint reads in without widening). Bytes: 2·R·C.
/// Decode (T < `SparseKernels.gemmMinTokens`): one 16-bit GEMV per token (half_kernels.h).
/// Prefill: tiles of rows widened into this thread's scratch and multiplied with sgemm (`tiledGEMM`).
public final class Dense16Storage<Format: HalfFormat>: LinearStorage {
    public static var kind: StorageKind { Format.dtype == .bf16 ? .denseBF16 : .denseF16 }
    public static var relativeThroughput: Double { 2 }
    public static var valueDType: WeightDType { Format.dtype }
    public let rows: Int, cols: Int
    public let bits: [UInt16]

    public init(rows: Int, cols: Int, bits: [UInt16]) {
        precondition(bits.count == rows * cols, "dense weight does not have \(rows)×\(cols) values")
        self.rows = rows
        self.cols = cols
        self.bits = bits
    }

    /// W rounded to 16 bits (to nearest even).  values: [R, C]
    public convenience init(rows: Int, cols: Int, rounding values: [Float]) {
        self.init(rows: rows, cols: cols, bits: values.map(Format.round))
    }

    static var isBF16: Bool { Format.cFlag != 0 }

    public var bytes: Int { 2 * bits.count }
    public func dense() -> [Float] { Format.dtype.widen(bits) ?? [] }
    public var zeroCount: Int { bits.reduce(0) { $0 + ($1 & 0x7FFF == 0 ? 1 : 0) } }
    public var summary: String { "dense \(Format.dtype)" }

    /// x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    @inline(__always)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                        rows: Range<Int>, accumulate: Bool) {
        if rows.isEmpty || T == 0 { return }
        let C = cols, bf16 = Self.isBF16
        bits.withUnsafeBufferPointer { wb in
            let w = wb.baseAddress.unsafelyUnwrapped
            if T < SparseKernels.gemmMinTokens {
                for t in 0..<T {
                    HalfKernels.gemv(x + t * ldx, C: C, w, rows: rows, y + t * ldy, accumulate: accumulate, bf16: bf16)
                }
            } else {
                tiledGEMM(x, ldx: ldx, y, ldy: ldy, T: T, C: C, rows: rows, accumulate: accumulate) { r, tile in
                    HalfKernels.convert(w + r.lowerBound * C, tile, r.count * C, bf16: bf16)
                }
            }
        }
    }

    public func items(weight: String) -> [SafetensorsWriter.Item] {
        [.init(name: weight, dtype: Format.dtype.safetensors, shape: [rows, cols], integers: bits)]
    }

    /// Reads `<layer>.weight` of any float type: kept as it is when it already has this format,
    /// else rounded (once) from its float32 value.
    public static func load(from src: WeightSource, weight: String, rows: Int, cols: Int) throws -> Dense16Storage<Format> {
        Dense16Storage(rows: rows, cols: cols, bits: try src.load16(weight, shape: [rows, cols], as: Format.self))
    }

    /// The planner does not pick 16-bit storages: rounding is not exact (`compress` writes float32).
    public static func estimatedBytes(_ layer: PlannedLayer) -> Int? { nil }

    public static func build(_ layer: PlannedLayer) throws -> Dense16Storage<Format> {
        Dense16Storage(rows: layer.rows, cols: layer.cols, rounding: layer.values)
    }
}

/// The dense storage type of a weight type.
public func denseStorageType(_ dtype: WeightDType) -> any LinearStorage.Type {
    switch dtype {
    case .f32: return DenseStorage.self
    case .f16: return Dense16Storage<F16>.self
    case .bf16: return Dense16Storage<BF16>.self
    }
}

/// A dense weight [R, C] in the storage of `dtype`.  values: [R, C]
public func denseStorage(rows: Int, cols: Int, values: [Float], dtype: WeightDType) -> any LinearStorage {
    switch dtype {
    case .f32: return DenseStorage(rows: rows, cols: cols, values: values)
    case .f16: return Dense16Storage<F16>(rows: rows, cols: cols, rounding: values)
    case .bf16: return Dense16Storage<BF16>(rows: rows, cols: cols, rounding: values)
    }
}
