import Foundation

// How a block linear `<layer>` (e.g. `model.layers.0.mlp.up_proj`) is stored in model.safetensors.
// The bias is always `<layer>.bias` (F32 [R]); the weight is one of:
//   dense      <layer>.weight              F32 [R, C]
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
// Layouts are described in CompactedWeight, TwoFourWeight, BitmaskWeight and CSRWeight.

extension Linear {
    /// The tensors that store this layer's weight under `name` (the layer name, without `.weight`).
    public func storageItems(name: String) -> [SafetensorsWriter.Item] {
        let w = name + ".weight"
        func ints<T: FixedWidthInteger>(_ n: String, _ dtype: SafetensorsDType, _ shape: [Int], _ v: [T]) -> SafetensorsWriter.Item {
            SafetensorsWriter.Item(name: n, dtype: dtype, shape: shape, bytes: v.map { $0.littleEndian }.withUnsafeBytes { Array($0) })
        }
        switch weight {
        case .dense(let d):
            return [.init(name: w, shape: [outFeatures, inFeatures], floats: d)]
        case .compacted(let s):
            return [.init(name: w + ".values", shape: [s.keptRows.count, s.keptCols.count], floats: s.values),
                    ints(w + ".kept_rows", .i32, [s.keptRows.count], s.keptRows),
                    ints(w + ".kept_cols", .i32, [s.keptCols.count], s.keptCols)]
        case .twoFour(let s):
            return [.init(name: w + ".values", shape: [s.rows, s.valuesPerRow], floats: s.values),
                    ints(w + ".positions", .u32, [s.rows, s.wordsPerRow], s.positions)]
        case .bitmask(let s):
            return [.init(name: w + ".values", shape: [s.nonzeros], floats: Array(s.values)),
                    ints(w + ".bitmask", .u16, [s.rows, s.wordsPerRow], s.mask)]
        case .csr(let s):
            return [.init(name: w + ".values", shape: [s.values.count], floats: s.values),
                    ints(w + ".col_indices", .u16, [s.colIndices.count], s.colIndices),
                    ints(w + ".row_offsets", .i32, [s.rowOffsets.count], s.rowOffsets)]
        }
    }

    /// Loads layer `name` in whichever storage the source holds, checking every shape and index
    /// against the config's [rows, cols] (a corrupt file throws, it never crashes a forward).
    public static func load(from src: WeightSource, name: String, rows R: Int, cols C: Int, bias: Bool) throws -> Linear {
        let w = name + ".weight"
        let b = bias ? try src.load(name + ".bias", shape: [R]).data : nil
        if src.has(w) {
            return Linear(weight: .dense(try src.load(w, shape: [R, C]).data), outFeatures: R, inFeatures: C, bias: b)
        }
        let o = src.origin
        func values(_ shape: [Int]?) throws -> [Float] {
            let n = w + ".values"
            guard let s = src.shape(of: n) else { throw ModelError.missingTensor(file: o, tensor: n) }
            if let shape, s != shape { throw ModelError.shapeMismatch(file: o, tensor: n, expected: shape, found: s) }
            guard s.count == (shape?.count ?? 1) else { throw ModelError.shapeMismatch(file: o, tensor: n, expected: [-1], found: s) }
            return try src.load(n).data
        }
        let storage: LinearWeight
        if src.has(w + ".kept_rows") {
            let kr: [Int32] = try loadIntegers(src, w + ".kept_rows", .i32, rank: 1)
            let kc: [Int32] = try loadIntegers(src, w + ".kept_cols", .i32, rank: 1)
            storage = .compacted(try CompactedWeight(rows: R, cols: C, keptRows: kr, keptCols: kc,
                                                     values: try values([kr.count, kc.count]), origin: o, name: w))
        } else if src.has(w + ".positions") {
            let nv = 2 * ((C + 3) / 4)
            let pos: [UInt32] = try loadIntegers(src, w + ".positions", .u32, shape: [R, (nv + 15) / 16])
            storage = .twoFour(try TwoFourWeight(rows: R, cols: C, values: try values([R, nv]), positions: pos, origin: o, name: w))
        } else if src.has(w + ".bitmask") {
            let mask: [UInt16] = try loadIntegers(src, w + ".bitmask", .u16, shape: [R, (C + 15) / 16])
            storage = .bitmask(try BitmaskWeight(rows: R, cols: C, values: try values(nil), mask: mask, origin: o, name: w))
        } else if src.has(w + ".col_indices") {
            let ci: [UInt16] = try loadIntegers(src, w + ".col_indices", .u16, rank: 1)
            let ro: [Int32] = try loadIntegers(src, w + ".row_offsets", .i32, shape: [R + 1])
            storage = .csr(try CSRWeight(rows: R, cols: C, values: try values([ci.count]), colIndices: ci, rowOffsets: ro, origin: o, name: w))
        } else {
            throw ModelError.missingTensor(file: o, tensor: w)
        }
        return Linear(weight: storage, outFeatures: R, inFeatures: C, bias: b)
    }
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
