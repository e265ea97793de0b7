import Foundation
import XCTest
import Runtime
@testable import Surgery
import TestSupport

/// Calibration from 16-bit weights (`calibrate --dtype f16|bf16`, compress from a 16-bit model):
/// the tape's forward and backward run over the 16-bit storages (embedding, block linears and
/// lm_head stay 16-bit), activations, gradients and K-FAC factors in float32.
final class Calibrate16Tests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func model(_ path: String, _ dtype: WeightDType) throws -> CausalLM { try Fixtures.model(at: path, dtype: dtype) }

    func check(_ dtype: WeightDType, bound: Double) throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = Fixtures.fixture("tiny-llama")
        let ref = try SafetensorsFile(path: path + "/kfac.safetensors")
        let ids = try ref.loadInts("input_ids")
        let T = ids.shape[1]
        let windows = (0..<ids.shape[0]).map { Array(ids.data[$0 * T..<($0 + 1) * T]) }
        let cal = try Calibration(windows: windows, offsets: windows.indices.map { $0 * T })

        let half = try model(path, dtype)
        XCTAssertTrue(half.blockLinearNames.allSatisfy { half.linear($0)?.weight.valueDType == dtype })
        let f16 = try Curvature.estimate(model: half, calibration: cal, method: .kfac)
        // the same rounded weights held in float32: only the 16-bit kernels differ
        try ModelWriter.write(model: half, source: try ModelFiles.open(path), to: dir + "/rounded", dtype: dtype)
        let wide = try model(dir + "/rounded", .f32)
        XCTAssertTrue(wide.blockLinearNames.allSatisfy { wide.linear($0)?.weight.valueDType == .f32 })
        let same = try Curvature.estimate(model: wide, calibration: cal, method: .kfac)
        // the float32 model
        let f32 = try Curvature.estimate(model: try model(path, .f32), calibration: cal, method: .kfac)
        XCTAssertEqual(f16.tokens, f32.tokens)
        for layer in half.blockLinearNames {
            for (kind, got, exact, full) in [("A", f16.A[layer], same.A[layer], f32.A[layer]), ("G", f16.G[layer], same.G[layer], f32.G[layer])] {
                let g = try XCTUnwrap(got), e = try XCTUnwrap(exact), w = try XCTUnwrap(full)
                XCTAssertLessThanOrEqual(relativeFrobenius(g.data, e.data), 1e-5, "\(dtype) \(kind).\(layer) vs the rounded float32 model")
                let d = relativeFrobenius(g.data, w.data)
                XCTAssertLessThanOrEqual(d, bound, "\(dtype) \(kind).\(layer) vs float32")
                XCTAssertGreaterThan(d, 0, "\(dtype) \(kind).\(layer): rounding changes the factors")
            }
        }
    }

    // measured on tiny-llama: max relative Frobenius 1.2e-3 (f16), 9.5e-3 (bf16); 0 against the rounded float32 model
    func testKFACFromF16() throws { try check(.f16, bound: 3e-3) }
    func testKFACFromBF16() throws { try check(.bf16, bound: 2.5e-2) }
}
