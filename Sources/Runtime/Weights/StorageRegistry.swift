/// The storages a linear layer may be held in. The loader finds a layer's storage here by the tag
/// its file records, and the planner asks each one for its size estimate.
///
/// Adding a storage: its file (a final class conforming to `LinearStorage`, with its
/// `StorageKind` constant and kernels), its tests, and one line below. A compressed storage is
/// generic over its value type (`ValueFormat`: F32, F16, BF16) and listed once per type, its
/// 16-bit tags being `<tag>-f16` and `<tag>-bf16` (`StorageKind.typed`).
public enum StorageRegistry {
    /// Every storage, dense first. The order is also the planner's preference between storages of
    /// equal estimated cost.
    public static let types: [any LinearStorage.Type] = [
        DenseStorage.self,
        Dense16Storage<F16>.self, Dense16Storage<BF16>.self,
        CompactedWeight<F32>.self, TwoFourWeight<F32>.self, BitmaskWeight<F32>.self, CSRWeight<F32>.self,
        CompactedWeight<F16>.self, TwoFourWeight<F16>.self, BitmaskWeight<F16>.self, CSRWeight<F16>.self,
        CompactedWeight<BF16>.self, TwoFourWeight<BF16>.self, BitmaskWeight<BF16>.self, CSRWeight<BF16>.self,
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
