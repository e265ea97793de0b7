/// How a linear layer's weight W [R, C] is stored. Layers call `Linear.forward` and never care
/// which storage is behind it. Runtime knows nothing of pruning methods; storages only see zeros
/// and index lists.
///
/// Each storage is one immutable final class in its own file and owns everything about its format:
/// - its bytes, dense view and zero count;
/// - its kernels: a GEMV path for decode (T < `SparseKernels.gemmMinTokens`) and a GEMM path for
///   prefill, both over any band of output rows (the workers split layers by rows);
/// - its safetensors tensors (`items(weight:)`) and how to read them back (`load`), checking every
///   shape and index so that a corrupt file throws and never crashes a later forward;
/// - its size estimate and construction from a pruned dense weight (`estimatedBytes`, `build`),
///   which the storage planner asks instead of switching on kinds.
/// Every storage is listed once in `StorageRegistry.types`; files name each layer's storage by its
/// tag (`kind.rawValue`), see StorageTensors.swift. Storages are classes: copies of a `Linear`
/// share one, and plans built over layers (`MLPChain`, `CompactAttention`) recognise theirs by
/// identity (`===`).
public protocol LinearStorage: AnyObject, Sendable {
    /// The tag of this storage in files, compression.json and reports (e.g. `compacted`, `2:4`).
    static var kind: StorageKind { get }
    /// Decode bytes per second of this storage's GEMV relative to dense sgemv (the planner's
    /// default cost model, see `StoragePolicy`).
    static var relativeThroughput: Double { get }

    /// The type its values are stored in (f32 unless the storage holds 16-bit values; indices and
    /// masks are the same in every type).
    static var valueDType: WeightDType { get }

    /// R, the output features.
    var rows: Int { get }
    /// C, the input features.
    var cols: Int { get }
    /// Bytes the weight occupies as stored (index lists and masks included).
    var bytes: Int { get }
    /// W: [R, C], zeros included.
    func dense() -> [Float]
    /// Zero entries of W.
    var zeroCount: Int { get }
    /// One line for reports and compression.json, e.g. `bitmask (1234 nonzeros)`.
    var summary: String { get }

    /// y = x Wᵀ (y += x Wᵀ when `accumulate`) for output rows `rows`.
    /// x: [T, C] (stride ldx); y: [T, R] (stride ldy)
    func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                 rows: Range<Int>, accumulate: Bool)
    /// The same plus bias[r] on every output row r (default: `forward`, then `addBias`).
    /// x: [T, C] (stride ldx); y: [T, R] (stride ldy); bias: [R] or nil
    func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                 rows: Range<Int>, accumulate: Bool, bias: UnsafePointer<Float>?)

    /// The tensors that hold W, named `weight` (`<layer>.weight`) or `weight.<part>`.
    func items(weight: String) -> [SafetensorsWriter.Item]
    /// W [rows, cols] read back from the tensors `items(weight:)` wrote, every shape, index and
    /// value checked (`StorageError.corrupt` / `ModelError` on a damaged file).
    static func load(from src: WeightSource, weight: String, rows: Int, cols: Int) throws -> Self

    /// Bytes this storage would take for `layer`'s weight, or nil when it cannot hold it exactly.
    static func estimatedBytes(_ layer: PlannedLayer) -> Int?
    /// `layer`'s weight in this storage (exact: same dense view), for a layer it can hold.
    static func build(_ layer: PlannedLayer) throws -> Self
}

extension LinearStorage {
    @inline(__always)
    public func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                        rows: Range<Int>, accumulate: Bool, bias: UnsafePointer<Float>?) {
        forward(x, ldx: ldx, y, ldy: ldy, T: T, rows: rows, accumulate: accumulate)
        if let bias { addBias(y, ldy: ldy, bias, T: T, rows: rows) }
    }

    /// The tag of this storage's type.
    public var kind: StorageKind { Self.kind }
    /// The type of its stored values.
    public var valueDType: WeightDType { Self.valueDType }
    public static var valueDType: WeightDType { .f32 }
}

/// A storage generic over its value type (`ValueFormat`): the same indices with the values in
/// another type (widened exactly, or rounded once), e.g. a `2:4-f16` layer loaded with
/// `--dtype f32`. A value beyond the new type's range is `StorageError.corrupt`.
public protocol ValueConvertible: LinearStorage {
    func converted<W: ValueFormat>(to format: W.Type, origin: String, name: String) throws -> any LinearStorage
}

extension ValueConvertible {
    /// This storage with values of `dtype` (itself when they already are).
    public func converted(to dtype: WeightDType, origin: String = "<memory>", name: String = "weight") throws -> any LinearStorage {
        if dtype == valueDType { return self }
        switch dtype {
        case .f32: return try converted(to: F32.self, origin: origin, name: name)
        case .f16: return try converted(to: F16.self, origin: origin, name: name)
        case .bf16: return try converted(to: BF16.self, origin: origin, name: name)
        }
    }
}

/// The extra capabilities of a storage that keeps whole rows and columns of W (structured pruning,
/// surgeon.md §8): index lists, parallel work units over kept rows, inputs holding only a prefix of
/// the kept columns, and outputs written compactly in kept-row order. `Linear` checks for it once,
/// when its storage is set; `MLPChain` and `CompactAttention` are built on it.
public protocol RowColumnCompacted: LinearStorage {
    /// [nr] distinct rows < R, in stored order.
    var keptRows: [Int32] { get }
    /// [nc] distinct columns < C, in stored order.
    var keptCols: [Int32] { get }
    /// The rows not kept, ascending (they output their bias only).
    var removedRows: [Int32] { get }
    /// Parallel work units: the kept rows, plus one last unit that writes the removed rows.
    var units: Int { get }
    /// Runs work units `units` (kept rows i ∈ units; unit nr writes the removed rows).
    /// x: [T, C] (stride ldx) — or [T, n] holding the first n kept columns when inputPrefix = n;
    /// y: [T, R] (stride ldy) — or [T, ·] in kept-row order when compactOutput (no removed rows).
    func forward(_ x: UnsafePointer<Float>, ldx: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int, T: Int,
                 units: Range<Int>, accumulate: Bool, bias: UnsafePointer<Float>?, inputPrefix: Int?, compactOutput: Bool)
}

/// Which storage a linear layer's weight uses: the tag written in files and the name
/// compression.json and inspect print. Each storage declares its own (`LinearStorage.kind`), e.g.
/// `extension StorageKind { public static let csr = StorageKind(tag: "csr") }` in CSRWeight.swift.
public struct StorageKind: RawRepresentable, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    public let rawValue: String
    /// Any tag, known or not (a file may name a storage this build does not have).
    public init(tag: String) { rawValue = tag }
    /// The kind of a registered storage, nil for a tag no storage has (as the enum this was).
    public init?(rawValue: String) {
        guard let type = StorageRegistry.types.first(where: { $0.kind.rawValue == rawValue }) else { return nil }
        self = type.kind
    }
    public var description: String { rawValue }
    /// This storage's tag for values of `dtype`: the tag itself for f32, `<tag>-f16` or
    /// `<tag>-bf16` for 16-bit values (`2:4-bf16`, `compacted-f16`, as `dense-f16`).
    public func typed(_ dtype: WeightDType) -> StorageKind {
        dtype == .f32 ? self : StorageKind(tag: rawValue + "-" + dtype.rawValue)
    }
    /// The kinds of every registered storage (`StorageRegistry.types`).
    public static var allCases: [StorageKind] { StorageRegistry.types.map { $0.kind } }
}
