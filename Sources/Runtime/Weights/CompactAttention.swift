/// Attention served per head at the sizes the heads keep (surgeon.md §8). Structured pruning
/// removes q/k/v rows and o_proj columns head by head; this drops, per kv group g:
/// - a q·k dimension (a RoPE pair (i, i + d/2) with rotary embeddings) when it is dead in k_g or in
///   every query head of the group: its term of q·k is then exactly 0 (a dead row outputs 0, and
///   rotating a zero pair gives zeros);
/// - a value dimension j when v_g's row j is dead or o_proj's column h·d + j is dead for every query
///   head h of the group: it then adds exactly 0 to the output.
/// A row is dead when it keeps no weight and has no bias (an OPT bias keeps it alive).
/// q/k/v are repacked with their kept rows in `HeadLayout` order (written compactly, no scatter)
/// and o_proj with its kept columns in the compact output order (read directly, no gather); the
/// KV cache holds the compact k and v rows (stride kWidth / vWidth inside the full-width buffers).
/// The repacked copies sit beside the layers' own storages (which stay what is saved and
/// inspected): a compacted attention holds its kept weights twice in memory (reads them once per token).
public struct CompactAttention: Sendable {
    public let layout: HeadLayout
    let q: Linear, k: Linear, v: Linear, o: Linear
    /// The layers' storages the plan was built from, retained so their addresses stay unique.
    private let sq: any LinearStorage, sk: any LinearStorage, sv: any LinearStorage, so: any LinearStorage

    /// True while the layers still hold the storages the plan was built from.
    @inline(__always)
    public func matches(_ q: Linear, _ k: Linear, _ v: Linear, _ o: Linear) -> Bool {
        sq === q.weight && sk === k.weight && sv === v.weight && so === o.weight
    }

    /// The per-head plan of these layers, or nil when no head loses a dimension, no layer is
    /// compacted, or a layer is in a sparse storage (the layers then run as they are, still exactly).
    /// q: [heads·d, C]; k, v: [kvHeads·d, C]; o: [C', heads·d]
    public static func detect(q: Linear, k: Linear, v: Linear, o: Linear, heads: Int, kvHeads: Int, headDim d: Int,
                              rotary: Bool) -> CompactAttention? {
        let layers = [q, k, v, o]
        guard layers.contains(where: { $0.compact != nil }),
              layers.allSatisfy({ $0.compact != nil || StorageKind.denseKinds.contains($0.storageKind) }),
              kvHeads > 0, heads % kvHeads == 0, !rotary || d % 2 == 0,
              q.outFeatures == heads * d, k.outFeatures == kvHeads * d, v.outFeatures == kvHeads * d,
              o.inFeatures == heads * d, q.inFeatures == k.inFeatures, k.inFeatures == v.inFeatures else { return nil }
        let wq = q.weight.dense(), wk = k.weight.dense(), wv = v.weight.dense(), wo = o.weight.dense()
        let qLive = liveRows(wq, q), kLive = liveRows(wk, k), vLive = liveRows(wv, v), oLive = liveCols(wo, o)
        let group = heads / kvHeads, half = d / 2
        // A q·k unit: a rotation pair (i, i + d/2) with RoPE, a single dimension without.
        func unitLive(_ live: [Bool], _ head: Int, _ i: Int) -> Bool {
            rotary ? live[head * d + i] || live[head * d + i + half] : live[head * d + i]
        }
        var units: [[Int32]] = [], vIndex: [[Int32]] = []
        for g in 0..<kvHeads {
            let members = g * group ..< (g + 1) * group
            units.append((0..<(rotary ? half : d)).filter { i in
                unitLive(kLive, g, i) && members.contains { unitLive(qLive, $0, i) }
            }.map { Int32($0) })
            vIndex.append((0..<d).filter { j in vLive[g * d + j] && members.contains { oLive[$0 * d + j] } }.map { Int32($0) })
        }
        let layout = HeadLayout(heads: heads, kvHeads: kvHeads, headDim: d, qkIndex: rotary ? [] : units, vIndex: vIndex,
                                rotaryPairs: rotary ? units : nil)
        if layout.isFull { return nil }
        let qRows = (0..<heads).flatMap { h in layout.qkIndex[layout.group(of: h)].map { Int32(h * d) + $0 } }
        let kRows = (0..<kvHeads).flatMap { g in layout.qkIndex[g].map { Int32(g * d) + $0 } }
        let vRows = (0..<kvHeads).flatMap { g in layout.vIndex[g].map { Int32(g * d) + $0 } }
        let oCols = (0..<heads).flatMap { h in layout.vIndex[layout.group(of: h)].map { Int32(h * d) + $0 } }
        guard let rq = repack(q, wq, rows: qRows), let rk = repack(k, wk, rows: kRows), let rv = repack(v, wv, rows: vRows),
              let ro = repack(o, wo, cols: oCols) else { return nil }
        return CompactAttention(layout: layout, q: rq, k: rk, v: rv, o: ro, sq: q.weight, sk: k.weight, sv: v.weight, so: o.weight)
    }

    /// One attention sub-block at the compact sizes.
    /// x: [T, C] normalized input; residual: [T, C'] (+= o_proj(attention));
    /// kCache, vCache: this layer's caches with pos0 positions filled, rows of kWidth / vWidth floats;
    /// qBuf: [T, ≥ qWidth] and att: [T, ≥ outWidth] scratch; rope: nil for OPT; window: sliding window (0: none);
    /// positionOffset: position of cache row 0 (RoPE rotates row pos0 + t by pos0 + t + positionOffset).
    public func forward(_ x: UnsafePointer<Float>, T: Int, residual: UnsafeMutablePointer<Float>,
                        kCache: UnsafeMutablePointer<Float>, vCache: UnsafeMutablePointer<Float>, pos0: Int, rope: RoPETable?,
                        scale: Float, qBuf: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, window: Int = 0,
                        positionOffset: Int = 0) {
        let L = layout
        let kNew = kCache + pos0 * L.kWidth, vNew = vCache + pos0 * L.vWidth
        Linear.forwardManyKept(x, T: T, q, qBuf, k, kNew, v, vNew)
        if let rope, let pairs = L.rotaryPairs {
            rope.apply(qBuf, ld: L.qWidth, T: T, pos0: pos0 + positionOffset, offsets: L.qOffset, pairs: pairs,
                       groupSize: L.heads / L.kvHeads)
            rope.apply(kNew, ld: L.kWidth, T: T, pos0: pos0 + positionOffset, offsets: L.kOffset, pairs: pairs, groupSize: 1)
        }
        attentionForward(q: qBuf, k: kCache, ldk: L.kWidth, v: vCache, ldv: L.vWidth, out: att, T: T, pos0: pos0,
                         layout: L, scale: scale, window: window)
        o.forward(prefixInput: att, n: L.outWidth, residual, T: T, accumulate: true)
    }

    // MARK: detection helpers

    /// Rows that keep a weight or a nonzero bias.  w: [R, C]
    private static func liveRows(_ w: [Float], _ l: Linear) -> [Bool] {
        let C = l.inFeatures
        return (0..<l.outFeatures).map { r in
            (l.bias.map { $0[r] != 0 } ?? false) || (0..<C).contains { w[r * C + $0] != 0 }
        }
    }

    /// Columns that keep a weight.  w: [R, C]
    private static func liveCols(_ w: [Float], _ l: Linear) -> [Bool] {
        let C = l.inFeatures
        var live = [Bool](repeating: false, count: C)
        for r in 0..<l.outFeatures { for c in 0..<C where w[r * C + c] != 0 { live[c] = true } }
        return live
    }

    /// The layer compacted to exactly `rows` in this order (output compact), columns where they have a weight.
    private static func repack(_ l: Linear, _ w: [Float], rows: [Int32]) -> Linear? {
        let C = l.inFeatures
        let cols = (0..<C).filter { c in rows.contains { w[Int($0) * C + c] != 0 } }.map { Int32($0) }
        guard let s = try? compactedStorage(dense: w, rows: l.outFeatures, cols: C, keptRows: rows, keptCols: cols, dtype: l.weight.valueDType) else { return nil }
        return Linear(weight: s, outFeatures: l.outFeatures, inFeatures: C, bias: l.bias)
    }

    /// The layer compacted to exactly `cols` in this order (input read compactly), rows where they have a weight.
    private static func repack(_ l: Linear, _ w: [Float], cols: [Int32]) -> Linear? {
        let C = l.inFeatures
        let rows = (0..<l.outFeatures).filter { r in cols.contains { w[r * C + Int($0)] != 0 } }.map { Int32($0) }
        guard let s = try? compactedStorage(dense: w, rows: l.outFeatures, cols: C, keptRows: rows, keptCols: cols, dtype: l.weight.valueDType) else { return nil }
        return Linear(weight: s, outFeatures: l.outFeatures, inFeatures: C, bias: l.bias)
    }
}
