extension StorageKind {
    /// Row-major float32, zeros included (every Hugging Face checkpoint).
    public static let dense = StorageKind(tag: "dense")
}

/// W [R, C] row-major float32, zeros included.
///   values: [R, C]
/// Saved as the tensor `<layer>.weight` F32 [R, C], as Hugging Face names it. Bytes: 4·R·C.
public final class DenseStorage: LinearStorage {
    public static var kind: StorageKind { .dense }
    public static var relativeThroughput: Double { 1 }
    public let rows: Int, cols: Int
    public let values: [Float]

    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "dense weight does not have \(rows)×\(cols) values")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    public var bytes: Int { 4 * values.count }
    public func dense() -> [Float] { values }
    public var zeroCount: Int { values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
    public var summary: String { "dense" }

    /// sgemv (T = 1) or sgemm over output rows `rows`.  x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    @inline(__always)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                        rows: Range<Int>, accumulate: Bool) {
        values.withUnsafeBufferPointer { wp in
            matmulWT(x, ldx: ldx, wp.baseAddress.unsafelyUnwrapped, y, ldy: ldy, T: T, C: cols, rows: rows, accumulate: accumulate)
        }
    }

    public func items(weight: String) -> [SafetensorsWriter.Item] {
        [.init(name: weight, shape: [rows, cols], floats: values)]
    }

    /// Reads `<layer>.weight` of any float type, widened to float32.
    public static func load(from src: WeightSource, weight: String, rows: Int, cols: Int) throws -> DenseStorage {
        DenseStorage(rows: rows, cols: cols, values: try src.load(weight, shape: [rows, cols]).data)
    }

    public static func estimatedBytes(_ layer: PlannedLayer) -> Int? { 4 * layer.rows * layer.cols }

    public static func build(_ layer: PlannedLayer) throws -> DenseStorage {
        DenseStorage(rows: layer.rows, cols: layer.cols, values: layer.values)
    }
}
