/// A float32 tensor held in memory: row-major data with its shape.
/// Model files of every dtype are converted to this on load.
public struct Tensor: Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "Tensor: shape \(shape) does not hold \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public var count: Int { data.count }
    public var rows: Int { shape.count >= 1 ? shape[0] : 1 }
    /// Product of all dimensions after the first (the row length of a matrix).
    public var cols: Int { shape.dropFirst().reduce(1, *) }

    /// Largest absolute value (0 for an empty tensor).
    public var maxAbs: Float { data.reduce(0) { max($0, abs($1)) } }

    /// True when every value is finite (no NaN, no ±Inf).
    public var isFinite: Bool { data.allSatisfy { $0.isFinite } }
}

/// An int32 tensor (token ids in reference files).
public struct IntTensor: Sendable {
    public var shape: [Int]
    public var data: [Int32]
    public init(shape: [Int], data: [Int32]) {
        self.shape = shape
        self.data = data
    }
}
