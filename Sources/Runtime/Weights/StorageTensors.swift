import Foundation

// How a block linear `<layer>` (e.g. `model.layers.0.mlp.up_proj`) is stored in model.safetensors.
// The bias is always `<layer>.bias` (F32 [R]). The weight's storage is named by an explicit tag in
// the safetensors header, `__metadata__["<layer>.weight.storage"]`, whose value is the storage's
// `StorageKind` (`dense`, `dense-f16`, `dense-bf16`, `compacted`, `2:4`, `bitmask`, `csr`, and
// each compressed one with 16-bit values: `compacted-f16`, `2:4-bf16`, ...); its tensors are those
// the storage writes (`LinearStorage.items(weight:)`), `<layer>.weight` or `<layer>.weight.<part>`.
// A compressed storage with 16-bit values has the same tensors with `.values` F16 or BF16:
//   dense      <layer>.weight              F32 [R, C]
//   dense-f16  <layer>.weight              F16 [R, C]
//   dense-bf16 <layer>.weight              BF16 [R, C]
//   compacted  <layer>.weight.values       F32 [nr, nc]
//              <layer>.weight.kept_rows    I32 [nr]
//              <layer>.weight.kept_cols    I32 [nc]
//   2:4        <layer>.weight.values       F32 [R, 2·ceil(C/4)]
//              <layer>.weight.positions    U32 [R, ceil(2·ceil(C/4)/16)]   (2 bits per value)
//   bitmask    <layer>.weight.values       F32 [nnz]
//              <layer>.weight.bitmask      U16 [R, ceil(C/16)]
//   csr        <layer>.weight.values       F32 [nnz]
//              <layer>.weight.col_indices  U16 [nnz]
//              <layer>.weight.row_offsets  I32 [R + 1]
// Layouts are described in DenseStorage, CompactedWeight, TwoFourWeight, BitmaskWeight and CSRWeight.
// The loader dispatches on the tag through `StorageRegistry`; a tag it does not know is refused.
// The three dense tags are one family: a dense weight loads into the dense storage of the source's
// `weightDType` (`--dtype`), kept as stored when the types match, else converted once; so are the
// three types of each compressed storage (`2:4`, `2:4-f16`, `2:4-bf16`: `ValueConvertible`).
// A layer without a tag is dense when `<layer>.weight` exists (every Hugging Face checkpoint), and
// otherwise comes from a file written before the tags existed (LegacyStorageLayout.swift).

extension Linear {
    /// The metadata key of layer `name`'s storage tag (`name` without `.weight`).
    public static func storageTagKey(_ name: String) -> String { name + ".weight.storage" }

    /// The tensors that store this layer's weight under `name` (the layer name, without `.weight`).
    public func storageItems(name: String) -> [SafetensorsWriter.Item] { weight.items(weight: name + ".weight") }

    /// The metadata entry naming this layer's storage: `<name>.weight.storage` = its tag.
    public func storageTag(name: String) -> (key: String, value: String) { (Linear.storageTagKey(name), storageKind.rawValue) }

    /// Loads layer `name` in the storage its tag names, checking every shape and index against the
    /// config's [rows, cols] (a corrupt file throws, it never crashes a forward).
    public static func load(from src: WeightSource, name: String, rows R: Int, cols C: Int, bias: Bool) throws -> Linear {
        let w = name + ".weight"
        let b = bias ? try src.load(name + ".bias", shape: [R]).data : nil
        var kind = try storedKind(src, layer: name)
        // a dense weight of any float type loads into the dense storage of the requested type
        if StorageKind.denseKinds.contains(kind) { kind = denseStorageType(src.weightDType).kind }
        guard let type = StorageRegistry.type(of: kind) else {
            throw StorageError.unknownStorage(file: src.origin, layer: name, tag: kind.rawValue, known: StorageKind.allCases.map(\.rawValue))
        }
        var storage = try type.load(from: src, weight: w, rows: R, cols: C)
        // a compressed layer's values likewise: widened or rounded (once) to the requested type
        if let c = storage as? any ValueConvertible { storage = try c.converted(to: src.weightDType, origin: src.origin, name: w) }
        return Linear(weight: storage, outFeatures: R, inFeatures: C, bias: b)
    }

    /// The storage layer `name` is saved in: its tag, else dense for a plain `<name>.weight`, else
    /// what a file from before the tags holds.
    static func storedKind(_ src: WeightSource, layer name: String) throws -> StorageKind {
        if let tag = src.metadata[storageTagKey(name)] { return StorageKind(tag: tag) }
        let w = name + ".weight"
        if src.has(w) { return .dense }
        if let legacy = legacyStorageKind(src, weight: w) { return legacy }
        throw ModelError.missingTensor(file: src.origin, tensor: w)
    }
}

/// The storage tags of a model's block linears, for the safetensors metadata of a saved model.
public func storageTags(_ model: CausalLM) -> [String: String] {
    var tags: [String: String] = [:]
    for name in model.blockLinearNames {
        guard let tag = model.linear(name)?.storageTag(name: name) else { continue }
        tags[tag.key] = tag.value
    }
    return tags
}

/// The tensor `<weight>.values` of a compressed layer in the storage's value format `V` (F32,
/// F16 or BF16 as its tag says), with its shape checked (`shape`), or any length of rank 1
/// (`shape` nil).
func loadStoredValues<V: ValueFormat>(_ src: WeightSource, weight w: String, shape: [Int]?, as format: V.Type) throws -> [V.Element] {
    let n = w + ".values", o = src.origin
    guard let s = src.shape(of: n) else { throw ModelError.missingTensor(file: o, tensor: n) }
    if let shape, s != shape { throw ModelError.shapeMismatch(file: o, tensor: n, expected: shape, found: s) }
    guard s.count == (shape?.count ?? 1) else { throw ModelError.shapeMismatch(file: o, tensor: n, expected: [-1], found: s) }
    return try V.load(src, n, shape: s)
}

/// An integer tensor read exactly from a safetensors source (single file or shards), with its
/// dtype and shape (or rank) checked.
func loadIntegers<T: FixedWidthInteger>(_ src: WeightSource, _ name: String, _ dtype: SafetensorsDType,
                                        shape: [Int]? = nil, rank: Int? = nil) throws -> [T] {
    let file: SafetensorsFile
    if let s = src as? SafetensorsFile {
        file = s
    } else if let s = src as? ShardedSafetensors, let f = s.map[name], let shard = s.shards[f] {
        file = shard
    } else if src.has(name) {
        throw StorageError.corrupt(file: src.origin, tensor: name, detail: "integer tensors of compressed layers are read from safetensors files only")
    } else {
        throw ModelError.missingTensor(file: src.origin, tensor: name)
    }
    let (entry, raw) = try file.rawBytes(name)
    guard entry.dtype == dtype, dtype.size == MemoryLayout<T>.size else {
        throw ModelError.unknownDType(file: file.origin, tensor: name, dtype: entry.dtype.rawValue + " (\(dtype.rawValue) expected)")
    }
    if let shape, entry.shape != shape { throw ModelError.shapeMismatch(file: file.origin, tensor: name, expected: shape, found: entry.shape) }
    if let rank, entry.shape.count != rank {
        throw StorageError.corrupt(file: file.origin, tensor: name, detail: "rank \(entry.shape.count), expected \(rank)")
    }
    let n = raw.count / MemoryLayout<T>.size
    return (0..<n).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
}

/// The tensor of a compressed layer's stored values: F32, or F16/BF16 bits as `V` holds them.
func storedValuesItem<V: ValueFormat>(_ name: String, shape: [Int], _ values: [V.Element], as format: V.Type) -> SafetensorsWriter.Item {
    if let f = values as? [Float] { return .init(name: name, shape: shape, floats: f) }
    return .init(name: name, dtype: V.dtype.safetensors, shape: shape, integers: values as? [UInt16] ?? [])
}
