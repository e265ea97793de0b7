import XCTest
@testable import Runtime
import TestSupport

/// Whole models in compressed storages give the logits of the masked dense model, in prefill and
/// decode, and again after a save/reload round trip.
final class SparseModelTests: XCTestCase {
    enum Structure: String, CaseIterable { case rowsColumns = "rows-columns", twoFour = "2:4", unstructured = "unstructured 50%" }

    /// Zeros the model's block linears in the pattern of `structure`; returns the removed rows and
    /// columns of a structured run. MLP intermediate units are removed consistently (gate/up or fc1
    /// rows with down or fc2 columns), except in block 0 where gate/fc1 drop extra rows on their own.
    static func mask(_ model: CausalLM, _ structure: Structure, seed: UInt64) -> [String: (rows: [Int], cols: [Int])] {
        var rng = SeededRandom(seed: seed)
        var removed: [String: (rows: [Int], cols: [Int])] = [:]
        func zero(_ name: String, rows: [Int], cols: [Int], biasToo: Bool = true) {
            guard var l = model.linear(name) else { return }
            var w = l.denseWeight.data
            Masks.rowsCols(&w, rows: l.outFeatures, cols: l.inFeatures, removedRows: rows, removedCols: cols)
            l.setDense(Tensor(shape: [l.outFeatures, l.inFeatures], data: w))
            if biasToo { for r in rows { l.bias?[r] = 0 } }
            model.setLinear(name, l)
            removed[name] = (rows, cols)
        }
        switch structure {
        case .twoFour, .unstructured:
            for name in model.blockLinearNames {
                guard var l = model.linear(name) else { continue }
                var w = l.denseWeight.data
                if structure == .twoFour { Masks.twoFour(&w, rows: l.outFeatures, cols: l.inFeatures) }
                else { Masks.unstructured(&w, sparsity: 0.5, rng: &rng) }
                l.setDense(Tensor(shape: [l.outFeatures, l.inFeatures], data: w))
                model.setLinear(name, l)
            }
        case .rowsColumns:
            for (i, g) in mlpGroups(model).enumerated() {
                guard let first = model.linear(g.first), let last = model.linear(g.last) else { continue }
                let F = first.outFeatures, C = first.inFeatures
                let units = Masks.subset(F, fraction: 0.3, rng: &rng)
                let extra = i == 0 ? Masks.subset(F, fraction: 0.1, rng: &rng) : []
                let residualIn = Masks.subset(C, fraction: 0.1, rng: &rng), residualOut = Masks.subset(last.outFeatures, fraction: 0.1, rng: &rng)
                zero(g.first, rows: Array(Set(units + extra)).sorted(), cols: residualIn)
                if let s = g.second { zero(s, rows: units, cols: []) }
                zero(g.last, rows: residualOut, cols: units)
            }
            for name in model.blockLinearNames where removed[name] == nil {
                guard let l = model.linear(name) else { continue }
                zero(name, rows: Masks.subset(l.outFeatures, fraction: 0.25, rng: &rng), cols: Masks.subset(l.inFeatures, fraction: 0.15, rng: &rng))
            }
        }
        return removed
    }

    func check(_ fixture: String, _ structure: Structure) throws {
        let masked = try Fixtures.model(fixture), compressed = try Fixtures.model(fixture)
        let masks = Self.mask(masked, structure, seed: 5)
        _ = Self.mask(compressed, structure, seed: 5)
        let decisions = try compressStorages(model: compressed, structuredMasks: structure == .rowsColumns ? masks : nil)
        let expected: StorageKind = structure == .rowsColumns ? .compacted : structure == .twoFour ? .twoFour : .bitmask
        XCTAssertEqual(Set(decisions.map(\.kind)), [expected], "\(fixture) \(structure.rawValue)")
        XCTAssertLessThan(weightStats(compressed).bytes, weightStats(masked).bytes)
        if structure == .rowsColumns {
            switch compressed {
            case let m as LlamaModel: XCTAssertTrue(m.blocks.allSatisfy { $0.mlpChain != nil }, "\(fixture): MLP chains")
            case let m as OPTModel: XCTAssertTrue(m.blocks.allSatisfy { $0.mlpChain != nil }, "\(fixture): MLP chains")
            default: XCTFail("unknown architecture")
            }
        }
        for name in masked.blockLinearNames {
            XCTAssertEqual(compressed.linear(name)?.denseWeight.data, masked.linear(name)?.denseWeight.data, name)
        }
        let ids: [Int32] = [1, 7, 300, 42, 5, 99, 12, 400, 3, 250, 17, 8, 64, 128, 255, 2, 33]
        let want = try prefillAndDecodeLogits(masked, ids)
        let what = "\(fixture) \(structure.rawValue)"
        var got = try prefillAndDecodeLogits(compressed, ids)
        XCTAssertLessThanOrEqual(relativeError(got.prefill, want.prefill), 1e-4, what + " prefill")
        XCTAssertLessThanOrEqual(relativeError(got.decode, want.decode), 1e-4, what + " decode")

        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try ModelFiles.open(Fixtures.fixture(fixture))
        try ModelWriter.write(model: compressed, source: files, to: dir + "/compressed")
        try ModelWriter.write(model: masked, source: files, to: dir + "/dense")
        let size = { (d: String) in (try FileManager.default.attributesOfItem(atPath: d + "/model.safetensors")[.size] as? Int) ?? 0 }
        XCTAssertLessThan(try size(dir + "/compressed"), try size(dir + "/dense"), what + " file size")
        let reloaded = try loadModel(ModelFiles.open(dir + "/compressed"))
        for name in masked.blockLinearNames {
            XCTAssertEqual(reloaded.linear(name)?.storageKind, compressed.linear(name)?.storageKind, name)
        }
        got = try prefillAndDecodeLogits(reloaded, ids)
        XCTAssertLessThanOrEqual(relativeError(got.prefill, want.prefill), 1e-4, what + " prefill after reload")
        XCTAssertLessThanOrEqual(relativeError(got.decode, want.decode), 1e-4, what + " decode after reload")
    }

    func testStories260K() throws { for s in Structure.allCases { try check("stories260K", s) } }
    func testTinyOPT() throws { for s in Structure.allCases { try check("tiny-opt", s) } }
    func testTinyLlama() throws { for s in Structure.allCases { try check("tiny-llama", s) } }

    /// A chain is dropped as soon as one of its layers is replaced, and the model stays exact.
    func testReplacingALayerBreaksTheChain() throws {
        let masked = try Fixtures.model("stories260K"), compressed = try Fixtures.model("stories260K")
        let masks = Self.mask(masked, .rowsColumns, seed: 9)
        _ = Self.mask(compressed, .rowsColumns, seed: 9)
        try compressStorages(model: compressed, structuredMasks: masks)
        let name = "model.layers.1.mlp.up_proj"
        guard let up = masked.linear(name), let m = compressed as? LlamaModel else { return XCTFail("layers") }
        compressed.setLinear(name, up)   // dense again
        XCTAssertNil(m.blocks[1].mlpChain)
        XCTAssertNotNil(m.blocks[0].mlpChain)
        let ids: [Int32] = [1, 20, 30, 40]
        XCTAssertLessThanOrEqual(relativeError(try prefillAndDecodeLogits(compressed, ids).prefill, try prefillAndDecodeLogits(masked, ids).prefill), 1e-4)
    }
}
