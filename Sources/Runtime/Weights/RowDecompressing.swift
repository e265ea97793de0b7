/// A sparse storage of W [R, C] that can rebuild any band of its rows densely (bitmask, CSR, 2:4):
/// its dense copy, zero count and prefill GEMM all come from that one operation.
public protocol RowDecompressing: AnyObject {
    var rows: Int { get }
    var cols: Int { get }
    /// The type of the stored values (float32 or 16-bit).
    associatedtype V: ValueFormat
    associatedtype StoredValues: Collection where StoredValues.Element == V.Element
    /// The stored values (zeros among them count as zeros of W).
    var values: StoredValues { get }
    /// Rows `range` of W, dense, into out: [range.count, C].
    func decompress(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>)
}

extension RowDecompressing {
    /// W: [R, C] with its zeros written out.
    public func dense() -> [Float] {
        var w = [Float](repeating: 0, count: rows * cols)
        w.withUnsafeMutableBufferPointer { decompress(0..<rows, into: $0.baseAddress.unsafelyUnwrapped) }
        return w
    }

    public var zeroCount: Int { rows * cols - values.reduce(0) { $0 + (V.isZero($1) ? 0 : 1) } }

    /// The prefill path, for T ≥ `SparseKernels.gemmMinTokens`: sgemm on decompressed bands of rows.
    /// Returns false when T is small and the caller's GEMV kernel should run instead.
    /// x: [T, C] (stride ldx); y: [T, R] (stride ldy), output rows `range`.
    @inline(__always)
    func forwardTiled(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                      rows range: Range<Int>, accumulate: Bool) -> Bool {
        guard T >= SparseKernels.gemmMinTokens else { return false }
        tiledGEMM(x, ldx: ldx, y, ldy: ldy, T: T, C: cols, rows: range, accumulate: accumulate) { decompress($0, into: $1) }
        return true
    }
}
