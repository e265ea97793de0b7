import Foundation
import XCTest
import Runtime
@testable import Surgery
import TestSupport

/// Issue 20, defect 7: a finite weight that overflows float32 (3e38) must not give NaN factors or
/// NaN-updated weights: the calibration loss and every factor are checked where they are made.
final class FiniteCurvatureTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// An overflowing copy of stories260K, removed when the test ends.
    func overflowingCopy() throws -> String {
        let dir = try OverflowingModel.copy()
        addTeardownBlock { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        return dir
    }

    func calibration() throws -> Calibration {
        let ids = try Fixtures.reference("stories260K").loadInts("input_ids").data
        let windows = [Array(ids.prefix(32)), Array(ids.dropFirst(16).prefix(32))]
        return try Calibration(windows: windows, offsets: [0, 16])
    }

    func overflowing() throws -> CausalLM { try loadModel(ModelFiles.open(try overflowingCopy())) }

    func testKFACStopsAtTheFirstWindowWithANonFiniteLoss() throws {
        for labels in [FisherLabels.empirical, .sampled(2, seed: 3)] {
            XCTAssertThrowsError(try Curvature.estimate(model: try overflowing(), calibration: try calibration(), method: .kfac,
                                                        labels: labels)) { e in
                XCTAssertEqual((e as? NonFiniteError)?.quantity, .calibrationLoss(window: 0), "\(labels): \(e)")
            }
        }
    }

    /// Without a backward pass (A only) the factor check names the layer and the factor.
    func testActivationFactorsAreCheckedAfterAccumulation() throws {
        let model = try overflowing()
        XCTAssertThrowsError(try Curvature.estimate(model: model, calibration: try calibration(), method: .activations)) { e in
            guard let err = e as? NonFiniteError, case .factor(let kind, let layer, let windows) = err.quantity else {
                return XCTFail("\(e)")
            }
            XCTAssertEqual(kind, "A")
            XCTAssertEqual(windows, 2)
            // the first layer reading block 0's overflowing normalized input, in model order
            XCTAssertEqual(layer, model.blockLinearNames.first)
            XCTAssertTrue(err.description.contains("the curvature factor A of \(layer) contains"), err.description)
        }
        // the check passes finite factors through unchanged
        let intact = try Fixtures.model("stories260K")
        let f = try Curvature.estimate(model: intact, calibration: try calibration(), method: .kfac)
        XCTAssertEqual(Set(f.G.keys), Set(intact.blockLinearNames))
    }

    func testTheFactorCheckFindsABadEntryInAnyLayer() throws {
        let layers = ["a", "b"]
        let good = Tensor(shape: [2, 2], data: [1, 0, 0, 1])
        var bad = good
        bad.data[3] = .nan
        XCTAssertNoThrow(try Curvature.checkFiniteFactors(A: ["a": good, "b": good], G: ["a": good], layers: layers, windows: 1))
        XCTAssertThrowsError(try Curvature.checkFiniteFactors(A: ["a": good, "b": good], G: ["a": good, "b": bad], layers: layers,
                                                              windows: 3)) {
            XCTAssertEqual($0 as? NonFiniteError, NonFiniteError(.factor("G", layer: "b", windows: 3), value: .nan, index: 3))
        }
    }

    /// The surgeon's shots estimate curvature on the current model: a run on an overflowing model
    /// fails at the first shot and leaves the weights as they were.
    func testCompressionFailsBeforeUpdatingWeights() throws {
        let model = try overflowing()
        let before = model.blockLinearNames.compactMap { model.linear($0)?.denseWeight.data }
        for structure in [Structure.rowsColumns, .unstructured] {
            let c = try Compressor(model: model, method: .surgeon, structure: structure, targetSparsity: 0.2, shots: 2,
                                   dampG: 0.01, dampA: 0.01, calibration: try calibration())
            XCTAssertThrowsError(try c.run()) { XCTAssertTrue($0 is NonFiniteError, "\($0)") }
            XCTAssertEqual(c.state.completedShots, 0)
        }
        // the layer-wise methods check each block's input statistics the same way
        for method in [PruningMethod.sparsegpt, .wanda] {
            let c = try Compressor(model: model, method: method, structure: .unstructured, targetSparsity: 0.5, shots: 1,
                                   dampG: 0.01, dampA: 0.01, calibration: try calibration())
            XCTAssertThrowsError(try c.run()) { e in
                guard let err = e as? NonFiniteError, case .factor("A", _, 2) = err.quantity else { return XCTFail("\(e)") }
            }
        }
        XCTAssertEqual(model.blockLinearNames.compactMap { model.linear($0)?.denseWeight.data }, before)
    }
}
