import Foundation
import XCTest
import Runtime
@testable import Surgery
import TestSupport

/// The surgeon on a model held in 16 bits (`compress` from a 16-bit file): the layers stay
/// 16-bit (each is widened only while it is updated and rounded once when written back), and
/// the choices are those of the same weights held in float32.
final class Surgery16Tests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func model(_ path: String, _ dtype: WeightDType) throws -> CausalLM { try Fixtures.model(at: path, dtype: dtype) }

    func check(_ dtype: WeightDType, _ structure: Structure, _ method: PruningMethod, sparsity: Double) throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = Fixtures.fixture("tiny-llama")
        // tiny-llama in 16 bits, as a 16-bit checkpoint holds it
        try ModelWriter.write(model: try model(path, .f32), source: try ModelFiles.open(path), to: dir + "/half", dtype: dtype)
        let ref = try SafetensorsFile(path: path + "/kfac.safetensors")
        let ids = try ref.loadInts("input_ids")
        let T = ids.shape[1]
        let windows = (0..<ids.shape[0]).map { Array(ids.data[$0 * T..<($0 + 1) * T]) }
        let cal = try Calibration(windows: windows, offsets: windows.indices.map { $0 * T })
        func run(_ m: CausalLM) throws -> Compressor {
            let c = try Compressor(model: m, method: method, structure: structure, targetSparsity: sparsity, shots: 1,
                                   dampG: 0.01, dampA: 0.01, calibration: cal)
            try c.run()
            return c
        }
        let half = try model(dir + "/half", dtype), wide = try model(dir + "/half", .f32)
        let ch = try run(half), cw = try run(wide)
        let label = "\(dtype) \(structure.rawValue) \(method)"
        for name in half.blockLinearNames {
            let h = try XCTUnwrap(half.linear(name)), w = try XCTUnwrap(wide.linear(name))
            // not widened: the updated layer was rounded once when written back
            XCTAssertEqual(h.weight.valueDType, dtype, "\(label) \(name)")
            XCTAssertEqual(w.weight.valueDType, .f32, "\(label) \(name)")
            // the same choice (K-FAC and the update are float32 in both runs, from the same weights)
            XCTAssertEqual(ch.state.removedRows[name], cw.state.removedRows[name], "\(label) \(name)")
            XCTAssertEqual(ch.state.removedCols[name], cw.state.removedCols[name], "\(label) \(name)")
            let round: (Float) -> Float = dtype == .bf16 ? { BF16.widen(BF16.round($0)) } : { F16.widen(F16.round($0)) }
            let a = h.denseWeight.data, b = w.denseWeight.data.map(round)
            if method == .surgeon || name.hasPrefix("model.layers.0.") {
                // one shot over all layers at once (or the first block, whose inputs are the
                // embeddings): the same updated weights, rounded once
                XCTAssertEqual(a, b, "\(label) \(name)")
                XCTAssertEqual(h.zeroCount, w.zeroCount, "\(label) \(name)")
            } else {
                // layer by layer: a later block's inputs come through the blocks pruned before it,
                // rounded in one run and not in the other, so the agreement is close, not exact
                // (measured: ≥ 99.7% of the zero pattern, relative Frobenius ≤ 0.046)
                let same = zip(a, b).reduce(0) { $0 + (($1.0 == 0) == ($1.1 == 0) ? 1 : 0) }
                XCTAssertGreaterThanOrEqual(Double(same) / Double(a.count), 0.99, "\(label) \(name): zero pattern")
                XCTAssertLessThanOrEqual(relativeFrobenius(a, b), 0.1, "\(label) \(name)")
            }
        }
        XCTAssertEqual(ch.actualSparsity(), cw.actualSparsity(), accuracy: 1e-9)
    }

    func testSurgeonRowsColumnsF16() throws { try check(.f16, .rowsColumns, .surgeon, sparsity: 0.3) }
    func testSurgeonRowsColumnsBF16() throws { try check(.bf16, .rowsColumns, .surgeon, sparsity: 0.3) }
    func testSparseGPTUnstructuredBF16() throws { try check(.bf16, .unstructured, .sparsegpt, sparsity: 0.5) }
    func testSparseGPTTwoFourF16() throws { try check(.f16, .twoFour, .sparsegpt, sparsity: 0.5) }
}
