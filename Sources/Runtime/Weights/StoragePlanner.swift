/// How `compressStorages` picks each block linear's storage: a cost model of decode time, which
/// is memory-bound (bytes read per token), with per-storage throughputs relative to dense sgemv.
/// Measured on an AMD Zen 5 (AVX-512), one thread, weights streamed from DRAM: sgemv 26 GB/s,
/// 2:4 GEMV 27-29 GB/s and bitmask GEMV (50%) 28-30 GB/s of stored bytes; the scalar CSR kernel
/// is far slower per byte. Each storage states its factor (`LinearStorage.relativeThroughput`,
/// a little conservative for the sparse ones) and its size (`estimatedBytes`).
public struct StoragePolicy: Sendable {
    /// Storages it may choose; dense is always the fallback.
    public var allowed: Set<StorageKind>
    /// Decode bytes per second of each storage relative to dense.
    public var throughput: [StorageKind: Double]
    /// A non-dense storage is kept only when its estimated time is at most this fraction of dense's.
    public var maxRelativeCost: Double
    /// The type every chosen storage holds its values in (`compress --dtype`): f32 keeps the
    /// pruned weights exactly, f16/bf16 round each value once, here.
    public var dtype: WeightDType

    public init(allowed: Set<StorageKind> = Set(StorageKind.allCases),
                throughput: [StorageKind: Double] = StorageRegistry.relativeThroughputs,
                maxRelativeCost: Double = 0.95, dtype: WeightDType = .f32) {
        self.allowed = allowed
        self.throughput = throughput
        self.maxRelativeCost = maxRelativeCost
        self.dtype = dtype
    }

    public static let costModel = StoragePolicy()

    /// Estimated decode time of `bytes` in storage `kind` (arbitrary units).
    func cost(_ kind: StorageKind, bytes: Int) -> Double { Double(bytes) / (throughput[kind] ?? 1) }
}

/// What `compressStorages` chose for one layer.
public struct StorageDecision: Sendable, Equatable {
    public let name: String
    public let kind: StorageKind
    public let bytes: Int        // weight bytes as stored
    public let denseBytes: Int   // 4·R·C
}

/// Converts a model's block linears (dense, with exact zeros) into the storages that decode
/// fastest by the policy's cost model, and wires compacted MLP chains (`MLPChain`) where the
/// intermediate dimension shrinks. Logits stay those of the dense model with the same zeros.
/// `structuredMasks` (layer name -> removed rows and columns, as a structured run records them;
/// column C of a layer with bias, its bias column, is accepted and ignored) restricts compaction
/// to those indices; without it every all-zero row and column counts as removed.
@discardableResult
public func compressStorages(model: CausalLM, structuredMasks: [String: (rows: [Int], cols: [Int])]? = nil,
                             policy: StoragePolicy = .costModel) throws -> [StorageDecision] {
    var decisions: [String: StorageDecision] = [:]
    // a layer's plan holds its float32 weights: made when its layer (or MLP chain) is decided, never
    // all at once (each layer is in at most one chain, so a plan always sees the layer's own storage)
    func plan(_ name: String) throws -> PlannedLayer? {
        try model.linear(name).map { try PlannedLayer(name: name, linear: $0, masks: structuredMasks?[name]) }
    }
    func apply(_ p: PlannedLayer, _ storage: any LinearStorage) {
        model.setLinear(p.name, Linear(weight: storage, outFeatures: p.rows, inFeatures: p.cols, bias: p.bias))
        decisions[p.name] = StorageDecision(name: p.name, kind: storage.kind, bytes: storage.bytes, denseBytes: 4 * p.rows * p.cols)
    }
    // MLP chains first: compacted with a shared prefix when that beats the layers on their own.
    let compacted = StorageKind.compacted.typed(policy.dtype)
    if policy.allowed.contains(compacted) {
        for g in mlpGroups(model) {
            guard let a = try plan(g.first), let d = try plan(g.last) else { continue }
            let b = try g.second.flatMap { try plan($0) }
            if g.second != nil && b == nil { continue }
            let F = a.rows
            var k: [Int32] = []
            for j in 0..<F where !d.removableCol[j] && !a.deadUnit(j) && !(b?.deadUnit(j) ?? false) { k.append(Int32(j)) }
            guard k.count < F else { continue }
            let inK = Set(k)
            func rows(_ p: PlannedLayer) -> [Int32] { k + (0..<p.rows).filter { !p.removableRow[$0] && !inK.contains(Int32($0)) }.map { Int32($0) } }
            let ca = try a.compacted(rows: rows(a), cols: a.keptCols, dtype: policy.dtype)
            let cb = try b.map { try $0.compacted(rows: rows($0), cols: $0.keptCols, dtype: policy.dtype) }
            let dCols = k + (0..<F).filter { !d.removableCol[$0] && !inK.contains(Int32($0)) }.map { Int32($0) }
            let cd = try d.compacted(rows: d.keptRows, cols: dCols, dtype: policy.dtype)
            let chained = [ca, cd] + (cb.map { [$0] } ?? [])
            let chainCost = chained.reduce(0) { $0 + policy.cost(compacted, bytes: $1.bytes) }
            let alone = [a, d] + (b.map { [$0] } ?? [])
            let aloneCost = alone.reduce(0) { $0 + $1.choice(policy).cost }
            guard chainCost <= aloneCost else { continue }
            apply(a, ca)
            if let b, let cb { apply(b, cb) }
            apply(d, cd)
        }
    }
    for name in model.blockLinearNames where decisions[name] == nil {
        guard let p = try plan(name) else { continue }
        apply(p, try p.choice(policy).type.build(p))
    }
    return model.blockLinearNames.compactMap { decisions[$0] }
}

/// The Llama (gate, up, down) and OPT (fc1, fc2) triples of a model, by layer name.
func mlpGroups(_ model: CausalLM) -> [(first: String, second: String?, last: String)] {
    (0..<model.blockCount).map { model.architecture.mlpGroup(block: $0) }
}
