/// How `compressStorages` picks each block linear's storage: a cost model of decode time, which
/// is memory-bound (bytes read per token), with per-storage throughputs relative to dense sgemv.
/// Measured on an AMD Zen 5 (AVX-512), one thread, weights streamed from DRAM: sgemv 26 GB/s,
/// 2:4 GEMV 27-29 GB/s and bitmask GEMV (50%) 28-30 GB/s of stored bytes; the scalar CSR kernel
/// is far slower per byte. The factors below are a little conservative for the sparse ones.
public struct StoragePolicy: Sendable {
    /// Storages it may choose; dense is always the fallback.
    public var allowed: Set<StorageKind>
    /// Decode bytes per second of each storage relative to dense.
    public var throughput: [StorageKind: Double]
    /// A non-dense storage is kept only when its estimated time is at most this fraction of dense's.
    public var maxRelativeCost: Double

    public init(allowed: Set<StorageKind> = Set(StorageKind.allCases),
                throughput: [StorageKind: Double] = [.dense: 1, .compacted: 1, .twoFour: 1, .bitmask: 0.9, .csr: 0.4],
                maxRelativeCost: Double = 0.95) {
        self.allowed = allowed
        self.throughput = throughput
        self.maxRelativeCost = maxRelativeCost
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
    var plans: [String: PlannedLayer] = [:]
    for name in model.blockLinearNames {
        guard let l = model.linear(name) else { continue }
        plans[name] = try PlannedLayer(name: name, linear: l, masks: structuredMasks?[name])
    }
    func apply(_ p: PlannedLayer, _ storage: LinearWeight) {
        model.setLinear(p.name, Linear(weight: storage, outFeatures: p.R, inFeatures: p.C, bias: p.bias))
        decisions[p.name] = StorageDecision(name: p.name, kind: storage.kind, bytes: storage.bytes, denseBytes: 4 * p.R * p.C)
    }
    // MLP chains first: compacted with a shared prefix when that beats the layers on their own.
    if policy.allowed.contains(.compacted) {
        for g in mlpGroups(model) {
            guard let a = plans[g.first], let d = plans[g.last] else { continue }
            let b = g.second.flatMap { plans[$0] }
            if g.second != nil && b == nil { continue }
            let F = a.R
            var k: [Int32] = []
            for j in 0..<F where !d.removableCol[j] && !a.deadUnit(j) && !(b?.deadUnit(j) ?? false) { k.append(Int32(j)) }
            guard k.count < F else { continue }
            let inK = Set(k)
            func rows(_ p: PlannedLayer) -> [Int32] { k + (0..<p.R).filter { !p.removableRow[$0] && !inK.contains(Int32($0)) }.map { Int32($0) } }
            let ca = try a.compacted(rows: rows(a), cols: a.keptCols)
            let cb = try b.map { try $0.compacted(rows: rows($0), cols: $0.keptCols) }
            let dCols = k + (0..<F).filter { !d.removableCol[$0] && !inK.contains(Int32($0)) }.map { Int32($0) }
            let cd = try d.compacted(rows: d.keptRows, cols: dCols)
            let chained = [ca, cd] + (cb.map { [$0] } ?? [])
            let chainCost = chained.reduce(0) { $0 + policy.cost(.compacted, bytes: $1.bytes) }
            let alone = [a, d] + (b.map { [$0] } ?? [])
            let aloneCost = alone.reduce(0) { $0 + $1.choice(policy).cost }
            guard chainCost <= aloneCost else { continue }
            apply(a, .compacted(ca))
            if let b, let cb { apply(b, .compacted(cb)) }
            apply(d, .compacted(cd))
        }
    }
    for name in model.blockLinearNames where decisions[name] == nil {
        guard let p = plans[name] else { continue }
        apply(p, try p.build(p.choice(policy).kind))
    }
    return model.blockLinearNames.compactMap { decisions[$0] }
}

/// The Llama (gate, up, down) and OPT (fc1, fc2) triples of a model, by layer name.
func mlpGroups(_ model: CausalLM) -> [(first: String, second: String?, last: String)] {
    (0..<model.blockCount).map { model.architecture.mlpGroup(block: $0) }
}

/// One layer's dense weight with what may be dropped from it.
struct PlannedLayer {
    let name: String
    let R: Int, C: Int
    let w: [Float]
    let bias: [Float]?
    let removableRow: [Bool]
    let removableCol: [Bool]

    init(name: String, linear l: Linear, masks: (rows: [Int], cols: [Int])?) throws {
        self.name = name
        R = l.outFeatures
        C = l.inFeatures
        w = l.weight.dense()
        bias = l.bias
        var zr = [Bool](repeating: true, count: R), zc = [Bool](repeating: true, count: C)
        for r in 0..<R {
            for c in 0..<C where w[r * C + c] != 0 { zr[r] = false; zc[c] = false }
        }
        if let masks {
            var mr = [Bool](repeating: false, count: R), mc = [Bool](repeating: false, count: C)
            for r in masks.rows {
                guard r >= 0 && r < R else { throw StorageError.patternMismatch(layer: name, storage: "compacted", detail: "removed row \(r) outside 0..<\(R)") }
                mr[r] = true
            }
            for c in masks.cols {
                if c == C && l.bias != nil { continue }   // the bias column of a [W | b] layer
                guard c >= 0 && c < C else { throw StorageError.patternMismatch(layer: name, storage: "compacted", detail: "removed column \(c) outside 0..<\(C)") }
                mc[c] = true
            }
            for r in 0..<R { zr[r] = zr[r] && mr[r] }
            for c in 0..<C { zc[c] = zc[c] && mc[c] }
        }
        removableRow = zr
        removableCol = zc
    }

    var keptRows: [Int32] { (0..<R).filter { !removableRow[$0] }.map { Int32($0) } }
    var keptCols: [Int32] { (0..<C).filter { !removableCol[$0] }.map { Int32($0) } }

    /// Output j is exactly 0 for every input: its row is dropped and its bias is 0.
    func deadUnit(_ j: Int) -> Bool { removableRow[j] && (bias?[j] ?? 0) == 0 }

    func compacted(rows: [Int32], cols: [Int32]) throws -> CompactedWeight {
        try CompactedWeight(dense: w, rows: R, cols: C, keptRows: rows, keptCols: cols)
    }

    /// The storage with the lowest estimated decode time (dense unless another clearly wins).
    func choice(_ policy: StoragePolicy) -> (kind: StorageKind, cost: Double) {
        let nnz = w.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        let dense = policy.cost(.dense, bytes: 4 * R * C)
        let kr = removableRow.filter { !$0 }.count, kc = removableCol.filter { !$0 }.count
        var options: [(StorageKind, Double)] = []
        if kr < R || kc < C { options.append((.compacted, policy.cost(.compacted, bytes: 4 * (kr * kc + kr + kc)))) }
        if isValidTwoFour(w, rows: R, cols: C) {
            let nv = 2 * ((C + 3) / 4)
            options.append((.twoFour, policy.cost(.twoFour, bytes: 4 * R * (nv + (nv + 15) / 16))))
        }
        options.append((.bitmask, policy.cost(.bitmask, bytes: 4 * nnz + 2 * R * ((C + 15) / 16))))
        if C <= CSRWeight.maxColumns { options.append((.csr, policy.cost(.csr, bytes: 6 * nnz + 4 * (R + 1)))) }
        let pick = options.filter { policy.allowed.contains($0.0) && $0.1 <= policy.maxRelativeCost * dense }.min { $0.1 < $1.1 }
        return pick.map { (kind: $0.0, cost: $0.1) } ?? (kind: .dense, cost: dense)
    }

    func build(_ kind: StorageKind) throws -> LinearWeight {
        switch kind {
        case .compacted: return .compacted(try compacted(rows: keptRows, cols: keptCols))
        case .twoFour: return .twoFour(try TwoFourWeight(dense: w, rows: R, cols: C, layer: name))
        case .bitmask: return .bitmask(try BitmaskWeight(dense: w, rows: R, cols: C))
        case .csr: return .csr(try CSRWeight(dense: w, rows: R, cols: C))
        case .dense: return .dense(w)
        }
    }
}
