/// How a linear layer's weight W [R, C] is stored. Layers call `Linear.forward` and never care
/// which storage is behind it: each storage has a GEMV path (decode, T < 4) and a GEMM path
/// (prefill). Runtime knows nothing of pruning methods; storages only see zeros and index lists.
public enum LinearWeight: Sendable {
    /// Row-major [R, C] float32 (zeros included).
    case dense([Float])
    /// Kept rows and columns with their index lists (structured pruning).
    case compacted(CompactedWeight)
    /// Two values and their 2-bit positions per group of 4 inputs.
    case twoFour(TwoFourWeight)
    /// Packed nonzeros and one bit per weight (unstructured, moderate sparsity).
    case bitmask(BitmaskWeight)
    /// Packed nonzeros with 16-bit column indices and row offsets (unstructured, high sparsity).
    case csr(CSRWeight)

    public var kind: StorageKind {
        switch self {
        case .dense: return .dense
        case .compacted: return .compacted
        case .twoFour: return .twoFour
        case .bitmask: return .bitmask
        case .csr: return .csr
        }
    }

    /// Bytes the weight occupies as stored (index lists and masks included).
    public var bytes: Int {
        switch self {
        case .dense(let d): return 4 * d.count
        case .compacted(let s): return s.bytes
        case .twoFour(let s): return s.bytes
        case .bitmask(let s): return s.bytes
        case .csr(let s): return s.bytes
        }
    }

    /// The full row-major [R, C] matrix, zeros included.
    public func dense() -> [Float] {
        switch self {
        case .dense(let d): return d
        case .compacted(let s): return s.dense()
        case .twoFour(let s): return s.dense()
        case .bitmask(let s): return s.dense()
        case .csr(let s): return s.dense()
        }
    }

    /// Zero entries of the [R, C] matrix.
    public var zeroCount: Int {
        switch self {
        case .dense(let d): return d.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        case .compacted(let s): return s.zeroCount
        case .twoFour(let s): return s.zeroCount
        case .bitmask(let s): return s.zeroCount
        case .csr(let s): return s.zeroCount
        }
    }

    /// Logical shape [R, C] of a non-dense storage (nil for dense, whose shape the layer keeps).
    var storedShape: (rows: Int, cols: Int)? {
        switch self {
        case .dense: return nil
        case .compacted(let s): return (s.rows, s.cols)
        case .twoFour(let s): return (s.rows, s.cols)
        case .bitmask(let s): return (s.rows, s.cols)
        case .csr(let s): return (s.rows, s.cols)
        }
    }
}
