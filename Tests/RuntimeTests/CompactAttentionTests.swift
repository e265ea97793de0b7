import XCTest
@testable import Runtime
import TestSupport

/// Attention served at per-head kept sizes (surgeon.md §8): the compact kernel, compact RoPE and
/// whole models whose heads lose different q·k and value dimensions equal the full-width path on
/// the masked dense weights.
final class CompactAttentionTests: XCTestCase {
    /// Two workers: attention units and cost-split linear rows run in parallel.
    override func setUp() { Parallel.setThreads(2) }

    func testLayoutOffsets() {
        let l = HeadLayout(heads: 4, kvHeads: 2, headDim: 8, qkIndex: [], vIndex: [[0, 5], []], rotaryPairs: [[1, 3], [0, 1, 2]])
        XCTAssertEqual(l.qkIndex, [[1, 3, 5, 7], [0, 1, 2, 4, 5, 6]])
        XCTAssertEqual(l.qOffset, [0, 4, 8, 14])
        XCTAssertEqual(l.kOffset, [0, 4])
        XCTAssertEqual(l.vOffset, [0, 2])
        XCTAssertEqual(l.outOffset, [0, 2, 4, 4])
        XCTAssertEqual([l.qWidth, l.kWidth, l.vWidth, l.outWidth], [20, 10, 2, 4])
        XCTAssertFalse(l.isFull)
        XCTAssertTrue(HeadLayout(heads: 2, kvHeads: 1, headDim: 2, qkIndex: [[0, 1]], vIndex: [[0, 1]]).isFull)
    }

    /// Compact RoPE + attention on gathered columns equal full-width RoPE + attention on inputs
    /// whose dropped dimensions are zero, with cached positions before the new ones.
    func testKernelMatchesFullWidth() {
        let heads = 6, kvHeads = 2, d = 8, group = 3
        let layouts = [
            // group 1 keeps no q·k dimension (uniform weights); RoPE pairs
            HeadLayout(heads: heads, kvHeads: kvHeads, headDim: d, qkIndex: [], vIndex: [[1, 4, 5, 7], Array(0..<8)],
                       rotaryPairs: [[0, 2, 3], []]),
            // no RoPE; group 0 keeps no value dimension (its heads output nothing)
            HeadLayout(heads: heads, kvHeads: kvHeads, headDim: d, qkIndex: [[0, 3, 6], [1, 2, 4, 5, 7]], vIndex: [[], [2, 6]]),
        ]
        let rope = RoPETable(headDim: d, positions: 128, theta: 10000)
        var rng = SeededRandom(seed: 11)
        let pos0 = 5, T = 70, n = pos0 + T   // two blocks of query rows
        for layout in layouts {
            let rotary = layout.rotaryPairs != nil
            var q = (0..<T * heads * d).map { _ in Float(rng.uniform() * 2 - 1) }
            var k = (0..<n * kvHeads * d).map { _ in Float(rng.uniform() * 2 - 1) }
            var v = (0..<n * kvHeads * d).map { _ in Float(rng.uniform() * 2 - 1) }
            for t in 0..<T { for h in 0..<heads { for i in 0..<d where !layout.qkIndex[h / group].contains(Int32(i)) { q[(t * heads + h) * d + i] = 0 } } }
            for t in 0..<n {
                for g in 0..<kvHeads {
                    for i in 0..<d where !layout.qkIndex[g].contains(Int32(i)) { k[(t * kvHeads + g) * d + i] = 0 }
                    for i in 0..<d where !layout.vIndex[g].contains(Int32(i)) { v[(t * kvHeads + g) * d + i] = 0 }
                }
            }
            // compact copies (before rotation)
            func gather(_ x: [Float], rows: Int, blocks: Int, index: (Int) -> [Int32]) -> [Float] {
                var out: [Float] = []
                for t in 0..<rows { for b in 0..<blocks { for i in index(b) { out.append(x[(t * blocks + b) * d + Int(i)]) } } }
                return out
            }
            var cq = gather(q, rows: T, blocks: heads) { layout.qkIndex[$0 / group] }
            var ck = gather(k, rows: n, blocks: kvHeads) { layout.qkIndex[$0] }
            let cv = gather(v, rows: n, blocks: kvHeads) { layout.vIndex[$0] }
            if rotary, let pairs = layout.rotaryPairs {
                rope.apply(&q, ld: heads * d, T: T, heads: heads, pos0: pos0)
                rope.apply(&k, ld: kvHeads * d, T: n, heads: kvHeads, pos0: 0)
                rope.apply(&cq, ld: layout.qWidth, T: T, pos0: pos0, offsets: layout.qOffset, pairs: pairs, groupSize: group)
                rope.apply(&ck, ld: layout.kWidth, T: n, pos0: 0, offsets: layout.kOffset, pairs: pairs, groupSize: 1)
                // rotated compact columns are the rotated full ones
                XCTAssertLessThanOrEqual(relativeError(cq, gather(q, rows: T, blocks: heads) { layout.qkIndex[$0 / group] }), 1e-6)
                XCTAssertLessThanOrEqual(relativeError(ck, gather(k, rows: n, blocks: kvHeads) { layout.qkIndex[$0] }), 1e-6)
            }
            let scale = 1 / Float(d).squareRoot()
            var full = [Float](repeating: 0, count: T * heads * d)
            var compact = [Float](repeating: .nan, count: max(1, T * layout.outWidth))
            attentionForward(q: q, ldq: heads * d, k: k, v: v, ldkv: kvHeads * d, out: &full, T: T, pos0: pos0,
                             heads: heads, kvHeads: kvHeads, headDim: d, scale: scale)
            attentionForward(q: cq, k: ck, ldk: layout.kWidth, v: cv, ldv: layout.vWidth, out: &compact, T: T, pos0: pos0,
                             layout: layout, scale: scale)
            let want = gather(full, rows: T, blocks: heads) { layout.vIndex[$0 / group] }
            XCTAssertEqual(want.count, T * layout.outWidth)
            XCTAssertLessThanOrEqual(relativeError(Array(compact.prefix(want.count)), want), 1e-5, "rotary \(rotary)")
            // the dropped output dimensions are exactly zero in the full path
            let dropped = (0..<T * heads * d).filter { !layout.vIndex[($0 / d % heads) / group].contains(Int32($0 % d)) }
            XCTAssertTrue(dropped.allSatisfy { full[$0] == 0 })
        }
    }

    // MARK: whole models

    struct HeadMasks {
        var removed: [String: (rows: [Int], cols: [Int])] = [:]
        var qk: [[Int]] = []   // per layer, per kv group: q·k units (pairs or dims) expected to stay
        var v: [[Int]] = []    // per layer, per kv group: value dims expected to stay
    }

    /// Removes q/k rows by whole RoPE pairs (and some single rows), v rows and o columns per head,
    /// plus residual columns/rows, differently per layer; layer 0 loses every k unit of group 0
    /// and the last layer every value dim of the last group. OPT keeps the bias of head 0's removed
    /// q rows (those rows stay live). Returns the masks and the per-group sizes expected to stay.
    static func maskHeads(_ model: CausalLM, seed: UInt64) -> HeadMasks {
        let c = model.config, H = c.numHeads, G = c.numKVHeads, d = c.headDim, group = H / G
        let rotary = c.architecture == .llama, half = d / 2, unitCount = rotary ? half : d
        var rng = SeededRandom(seed: seed)
        var out = HeadMasks()
        func rowsOf(_ unit: Int, block: Int) -> [Int] { rotary ? [block * d + unit, block * d + unit + half] : [block * d + unit] }
        for l in 0..<c.numLayers {
            let names = model.blockLinearNames.filter { $0.contains("layers.\(l).") }
            guard let qn = names.first(where: { $0.hasSuffix("q_proj") }), let kn = names.first(where: { $0.hasSuffix("k_proj") }),
                  let vn = names.first(where: { $0.hasSuffix("v_proj") }),
                  let on = names.first(where: { $0.hasSuffix("o_proj") || $0.hasSuffix("out_proj") }),
                  let qLayer = model.linear(qn), let oLayer = model.linear(on) else { continue }
            let C = qLayer.inFeatures
            var qDead = [[Bool]](repeating: [Bool](repeating: false, count: unitCount), count: H)
            var kDead = [[Bool]](repeating: [Bool](repeating: false, count: unitCount), count: G)
            var vDead = [[Bool]](repeating: [Bool](repeating: false, count: d), count: G)
            var oDead = [[Bool]](repeating: [Bool](repeating: false, count: d), count: H)
            var qRows: [Int] = [], kRows: [Int] = [], vRows: [Int] = [], oCols: [Int] = []
            for h in 0..<H {
                for u in 0..<unitCount {
                    if rng.uniform() < 0.4 { qDead[h][u] = true; qRows += rowsOf(u, block: h) }
                    else if rotary && rng.uniform() < 0.2 { qRows.append(h * d + u) }   // half a pair: the pair stays
                }
                for j in 0..<d where rng.uniform() < 0.3 { oDead[h][j] = true; oCols.append(h * d + j) }
            }
            for g in 0..<G {
                for u in 0..<unitCount where rng.uniform() < 0.3 || (l == 0 && g == 0) { kDead[g][u] = true; kRows += rowsOf(u, block: g) }
                for j in 0..<d where rng.uniform() < 0.3 || (l == c.numLayers - 1 && g == G - 1) { vDead[g][j] = true; vRows.append(g * d + j) }
            }
            let keepBias = c.architecture == .opt
            if keepBias { for u in 0..<unitCount { qDead[0][u] = false } }   // head 0's removed rows keep their bias
            out.qk.append((0..<G).map { g in
                (0..<unitCount).filter { u in !kDead[g][u] && (g * group ..< (g + 1) * group).contains { !qDead[$0][u] } }.count
            })
            out.v.append((0..<G).map { g in
                (0..<d).filter { j in !vDead[g][j] && (g * group ..< (g + 1) * group).contains { !oDead[$0][j] } }.count
            })
            func zero(_ name: String, rows: [Int], cols: [Int], keepBiasOf keep: Set<Int> = []) {
                guard var lin = model.linear(name) else { return }
                var w = lin.denseWeight.data
                Masks.rowsCols(&w, rows: lin.outFeatures, cols: lin.inFeatures, removedRows: rows, removedCols: cols)
                lin.setDense(Tensor(shape: [lin.outFeatures, lin.inFeatures], data: w))
                for r in rows where !keep.contains(r) { lin.bias?[r] = 0 }
                model.setLinear(name, lin)
                out.removed[name] = (rows.sorted(), cols.sorted())
            }
            let residualIn = Masks.subset(C, fraction: 0.1, rng: &rng)
            zero(qn, rows: Array(Set(qRows)), cols: residualIn, keepBiasOf: keepBias ? Set(0..<d) : [])
            zero(kn, rows: kRows, cols: residualIn)
            zero(vn, rows: vRows, cols: [])
            zero(on, rows: Masks.subset(oLayer.outFeatures, fraction: 0.1, rng: &rng), cols: oCols)
        }
        return out
    }

    static func plans(_ m: CausalLM) -> [CompactAttention?] {
        switch m {
        case let l as LlamaModel: return l.blocks.map(\.attention)
        case let o as OPTModel: return o.blocks.map(\.attention)
        default: return []
        }
    }

    func check(_ fixture: String) throws {
        let masked = try Fixtures.model(fixture), compressed = try Fixtures.model(fixture)
        let masks = Self.maskHeads(masked, seed: 21)
        _ = Self.maskHeads(compressed, seed: 21)
        try compressStorages(model: compressed, structuredMasks: masks.removed)
        XCTAssertTrue(Self.plans(masked).allSatisfy { $0 == nil }, "\(fixture): masked dense runs full width")
        let plans = Self.plans(compressed)
        XCTAssertEqual(plans.count, masked.config.numLayers)
        for (l, plan) in plans.enumerated() {
            guard let plan else { XCTFail("\(fixture) layer \(l): no per-head plan"); continue }
            XCTAssertEqual(plan.layout.qkIndex.map(\.count), masks.qk[l].map { plan.layout.rotaryPairs == nil ? $0 : 2 * $0 }, "\(fixture) layer \(l) q·k")
            XCTAssertEqual(plan.layout.vIndex.map(\.count), masks.v[l], "\(fixture) layer \(l) values")
        }
        XCTAssertEqual(plans.first??.layout.qkIndex.first?.count, 0, "layer 0, group 0 keeps no q·k dimension")
        XCTAssertEqual(plans.last??.layout.vIndex.last?.count, 0, "last layer, last group keeps no value dimension")
        let ids: [Int32] = [1, 7, 300, 42, 5, 99, 12, 400, 3, 250, 17, 8, 64, 128, 255, 2, 33]
        let want = try prefillAndDecodeLogits(masked, ids)
        var got = try prefillAndDecodeLogits(compressed, ids)
        XCTAssertLessThanOrEqual(relativeError(got.prefill, want.prefill), 1e-4, fixture + " prefill")
        XCTAssertLessThanOrEqual(relativeError(got.decode, want.decode), 1e-4, fixture + " decode")

        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ModelWriter.write(model: compressed, source: try ModelFiles.open(Fixtures.fixture(fixture)), to: dir + "/m")
        let reloaded = try loadModel(ModelFiles.open(dir + "/m"))
        XCTAssertEqual(Self.plans(reloaded).map { $0?.layout }, plans.map { $0?.layout }, fixture + " plans after reload")
        got = try prefillAndDecodeLogits(reloaded, ids)
        XCTAssertLessThanOrEqual(relativeError(got.prefill, want.prefill), 1e-4, fixture + " prefill after reload")
    }

    func testStories260K() throws { try check("stories260K") }
    func testTinyLlama() throws { try check("tiny-llama") }
    func testTinyOPT() throws { try check("tiny-opt") }

    /// Replacing one of the four layers drops the plan; the model stays exact.
    func testReplacingALayerDropsThePlan() throws {
        let masked = try Fixtures.model("stories260K"), compressed = try Fixtures.model("stories260K")
        let masks = Self.maskHeads(masked, seed: 4)
        _ = Self.maskHeads(compressed, seed: 4)
        try compressStorages(model: compressed, structuredMasks: masks.removed)
        let name = "model.layers.2.self_attn.v_proj"
        guard let v = masked.linear(name), let m = compressed as? LlamaModel else { return XCTFail("layers") }
        XCTAssertNotNil(m.blocks[2].attention)
        m.blocks[2].v = v   // behind the model's back: the plan no longer matches and is ignored
        XCTAssertEqual(m.blocks[2].attention.map { $0.matches(m.blocks[2].q, m.blocks[2].k, m.blocks[2].v, m.blocks[2].o) }, false)
        let ids: [Int32] = [1, 20, 30, 40, 50]
        XCTAssertLessThanOrEqual(relativeError(try prefillAndDecodeLogits(compressed, ids).prefill, try prefillAndDecodeLogits(masked, ids).prefill), 1e-4)
        compressed.setLinear(name, v)
        XCTAssertNotNil(m.blocks[2].attention, "still compact: q/k/o are compacted and v's dead rows are found in the dense weight")
        XCTAssertLessThanOrEqual(relativeError(try prefillAndDecodeLogits(compressed, ids).prefill, try prefillAndDecodeLogits(masked, ids).prefill), 1e-4)
    }
}
