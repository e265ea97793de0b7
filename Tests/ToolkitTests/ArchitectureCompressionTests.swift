import Foundation
import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// Surgery on the Llama-shaped variants (tiny-qwen2: q/k/v biases; tiny-mistral: sliding window;
/// tiny-llama3: scaled RoPE, tied head): a structured and a 2:4 compression each, written, reloaded
/// (same config, same logits through the compact storages and attention plans), and `inspect`
/// consistent with what the compressor did. (2:4 by SparseGPT: the surgeon's 2:4 on these takes ~30 s;
/// its 2:4 validity is tested on tiny-llama in SurgeryTests.)
final class ArchitectureCompressionTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    static let fixtures = ["tiny-qwen2", "tiny-mistral", "tiny-llama3"]

    /// Random windows of 40 tokens (longer than Mistral's window of 16).
    func calibration(_ m: CausalLM, seed: UInt64) throws -> Calibration {
        var rng = SeededRandom(seed: seed)
        let V = UInt64(m.config.vocabSize)
        let windows = (0..<4).map { _ in (0..<40).map { _ in Int32(rng.next() % V) } }
        return try Calibration(windows: windows, offsets: Array(0..<4), source: "random")
    }

    /// Compresses, writes, reloads; checks the reloaded model and returns it with the compressor.
    func roundTrip(_ name: String, method: PruningMethod = .surgeon, structure: Structure, sparsity: Double,
                   shots: Int) throws -> (CausalLM, Compressor) {
        let files = try ModelFiles.open(Fixtures.fixture(name))
        let m = try loadModel(files)
        let c = try Compressor(model: m, method: method, structure: structure, targetSparsity: sparsity, shots: shots,
                               dampG: 0.01, dampA: 0.01, calibration: try calibration(m, seed: 5))
        try c.run()
        // the masked dense model's logits, then the storages that serve the zeros (as `compress` does)
        let ids = Array(try Fixtures.reference(name).loadInts("input_ids").data.prefix(40))
        let masked = try InferenceSession(model: m).logitsForAll(ids)
        let masks = structure == .rowsColumns
            ? Dictionary(uniqueKeysWithValues: c.layerNames.map { ($0, (rows: c.state.removedRows[$0] ?? [], cols: c.state.removedCols[$0] ?? [])) })
            : nil
        _ = try compressStorages(model: m, structuredMasks: masks)
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeAtomically(dir + "/out", overwrite: false) { tmp in
            try ModelWriter.write(model: m, source: files, to: tmp,
                                  extraFiles: ["compression.json": try c.report(source: files.path).jsonData()])
        }
        let again = try loadModel(ModelFiles.open(dir + "/out"))
        XCTAssertEqual(again.config, m.config, "\(name): the written config reads back the same")
        let a = try InferenceSession(model: again).logitsForAll(ids), b = try InferenceSession(model: m).logitsForAll(ids)
        XCTAssertLessThanOrEqual(maxAbsDiff(b, masked), 1e-4, "\(name) \(structure): compressed storages")
        XCTAssertLessThanOrEqual(maxAbsDiff(a, masked), 1e-4, "\(name) \(structure): reloaded logits")
        // and the KV-cache path of the reloaded model agrees with its full pass over 120 positions
        // (Mistral's cache of 2·16 + 64 rows drops the rows behind the window, compact rows included)
        let V = again.config.vocabSize
        let long: [Int32] = (0..<120).map { Int32(($0 * 37 + 11) % V) }
        let fullLong = try InferenceSession(model: again).logitsForAll(long)
        let s = InferenceSession(model: again)
        _ = try s.feed(Array(long[0..<4]))
        for t in 4..<long.count {
            XCTAssertLessThanOrEqual(maxAbsDiff(Array(try s.step(long[t])), Array(fullLong[t * V..<(t + 1) * V])), 1e-4, "\(name) \(t)")
        }
        if again.config.slidingWindow != nil { XCTAssertGreaterThan(s.cache.base, 0, name) }
        // inspect agrees with the compressor
        let report = InspectReport(model: again)
        XCTAssertEqual(report.architecture, m.config.architecture.rawValue)
        XCTAssertEqual(report.layers.map(\.name), again.blockLinearNames)
        XCTAssertEqual(report.sparsity, c.actualSparsity(), accuracy: 1e-9, name)
        // structured: some block's heads lost dimensions and run at their kept sizes (GQA groups)
        if structure == .rowsColumns { XCTAssertFalse(report.attention.isEmpty, "\(name): compact attention") }
        for l in report.layers {
            XCTAssertEqual(l.removedRows.count, c.state.removedRows[l.name]?.count ?? 0, "\(name) \(l.name) rows")
        }
        return (again, c)
    }

    func testStructuredCompressionReloads() throws {
        for name in Self.fixtures {
            let (m, c) = try roundTrip(name, structure: .rowsColumns, sparsity: 0.25, shots: 2)
            XCTAssertEqual(c.actualSparsity(), 0.25, accuracy: 0.02, name)
            var removed = 0
            for layer in m.blockLinearNames {
                let l = try XCTUnwrap(m.linear(layer)), w = l.denseWeight.data, C = l.inFeatures
                for r in c.state.removedRows[layer] ?? [] {
                    removed += 1
                    XCTAssertTrue(w[(r * C)..<((r + 1) * C)].allSatisfy { $0 == 0 }, "\(name) \(layer) row \(r)")
                    // a pruned q/k/v row removes its bias entry (Qwen2)
                    if let bias = l.bias { XCTAssertEqual(bias[r], 0, "\(name) \(layer) bias \(r)") }
                }
            }
            XCTAssertGreaterThan(removed, 0, name)
            XCTAssertTrue(m.blockLinearNames.contains { m.linear($0)?.storageKind == .compacted }, name)
            if name == "tiny-qwen2" {
                let q = try XCTUnwrap(m.linear("model.layers.0.self_attn.q_proj"))
                XCTAssertNotNil(q.bias)
                XCTAssertNil(m.linear("model.layers.0.self_attn.o_proj")?.bias)
            }
        }
    }

    func testTwoFourCompressionReloads() throws {
        for name in Self.fixtures {
            let (m, _) = try roundTrip(name, method: .sparsegpt, structure: .twoFour, sparsity: 0.5, shots: 1)
            for layer in m.blockLinearNames {
                let l = try XCTUnwrap(m.linear(layer))
                XCTAssertTrue(isValid2of4(weight: l.denseWeight.data, rows: l.outFeatures, cols: l.inFeatures), "\(name) \(layer)")
            }
            XCTAssertTrue(InspectReport(model: m).layers.allSatisfy(\.validTwoFour), name)
        }
    }

    /// The other methods on each variant: the unstructured surgeon, the baselines (K-OBD, L-OBD,
    /// magnitude, Wanda, SparseGPT) and the low-rank correction reach their target and leave a
    /// model whose logits are finite and whose full and cached passes agree.
    func testUnstructuredBaselinesAndLowRank() throws {
        let runs: [(PruningMethod, Structure, LowRankRecipe?)] = [
            (.surgeon, .unstructured, nil), (.kobd, .rowsColumns, nil), (.lobd, .unstructured, nil),
            (.wanda, .unstructured, nil), (.sparsegpt, .unstructured, nil),
            (.magnitude, .unstructured, LowRankRecipe(rank: 2, learningRate: 1e-3, stepsPerShot: 1, finalEpochs: 1, layers: .attn, seed: 1)),
        ]
        // every method on Qwen2 (biases); the cheap ones on the others (the surgeon's unstructured and
        // 2:4 passes take seconds per fixture)
        for name in Self.fixtures {
            for (method, structure, lowRank) in runs where name == "tiny-qwen2" || [.wanda, .magnitude].contains(method) {
                let m = try loadModel(ModelFiles.open(Fixtures.fixture(name)))
                let c = try Compressor(model: m, method: method, structure: structure, targetSparsity: 0.3,
                                       shots: method.isLayerwise || method == .surgeon ? 1 : 2, dampG: 0.01, dampA: 0.01,
                                       calibration: try calibration(m, seed: 9), lowRank: lowRank)
                let label = "\(name) \(method.rawValue) \(structure.rawValue)"
                try c.run()
                XCTAssertEqual(c.actualSparsity(), 0.3, accuracy: 0.02, label)
                let ids: [Int32] = (0..<40).map { Int32(($0 * 13 + 7) % m.config.vocabSize) }
                let full = try InferenceSession(model: m).logitsForAll(ids)
                XCTAssertTrue(full.allSatisfy(\.isFinite), label)
                let s = InferenceSession(model: m)
                _ = try s.feed(Array(ids[0..<39]))
                let V = m.config.vocabSize
                XCTAssertLessThanOrEqual(maxAbsDiff(Array(try s.step(ids[39])), Array(full[39 * V..<40 * V])), 1e-4, label)
                if lowRank != nil { XCTAssertNotNil(c.state.shots.first?.lowrank, label) }
            }
        }
    }
}
