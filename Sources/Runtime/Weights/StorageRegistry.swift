/// The storages a linear layer may be held in. The loader finds a layer's storage here by the tag
/// its file records, and the planner asks each one for its size estimate.
///
/// Adding a storage: its file (a final class conforming to `LinearStorage`, with its
/// `StorageKind` constant and kernels), its tests, and one line below.
public enum StorageRegistry {
    /// Every storage, dense first. The order is also the planner's preference between storages of
    /// equal estimated cost.
    public static let types: [any LinearStorage.Type] = [
        DenseStorage.self,
        Dense16Storage<F16>.self, Dense16Storage<BF16>.self,
        CompactedWeight.self,
        TwoFourWeight.self,
        BitmaskWeight.self,
        CSRWeight.self,
    ]

    /// The storage whose tag is `kind`, or nil for a tag this build does not know.
    public static func type(of kind: StorageKind) -> (any LinearStorage.Type)? {
        types.first { $0.kind == kind }
    }

    /// Decode throughput of each storage relative to dense (`LinearStorage.relativeThroughput`).
    public static var relativeThroughputs: [StorageKind: Double] {
        Dictionary(uniqueKeysWithValues: types.map { ($0.kind, $0.relativeThroughput) })
    }
}
