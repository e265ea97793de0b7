import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// Factors from a spilled pass (issue 16): built per layer from the spilled rows, they equal the
/// factors of one in-memory pass bit for bit (biases, shared inputs, sampled labels), the pass keeps
/// no factor in memory, a compression with spilling ends where one without does, and a scratch
/// directory that cannot be written is a clear error.
final class ActivationSpillTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func calibration(_ model: CausalLM) throws -> Calibration { try Fixtures.smallCalibration(model) }

    func testSpilledFactorsEqualOnePass() throws {
        for (name, labels) in [("tiny-llama", FisherLabels.empirical), ("tiny-opt", .empirical), ("tiny-qwen2", .sampled(2, seed: 3))] {
            let model = try Fixtures.model(name)
            let cal = try calibration(model)
            let whole = try Curvature.estimate(model: model, calibration: cal, method: .kfac, labels: labels)
            let dir = Fixtures.tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let spilled = try Curvature.estimateSpilled(model: model, calibration: cal, method: .kfac, labels: labels, directory: dir)
            XCTAssertTrue(spilled.A.isEmpty && spilled.G.isEmpty, "\(name): nothing kept in memory")
            XCTAssertEqual(spilled.metadata["mean_loss"], whole.metadata["mean_loss"], name)
            // bytes: every window's rows of every input group and (k times) every layer's gradients
            let d = model.config.architecture.descriptor
            var width = 0
            for n in model.blockLinearNames {
                guard let l = model.linear(n) else { continue }
                if (d.inputGroup(of: n) ?? n) == n { width += l.inFeatures }
                width += l.outFeatures * (labels == .empirical ? 1 : 2)
            }
            XCTAssertEqual(spilled.spilled?.bytes, 4 * cal.tokenCount * width, name)
            for layer in model.blockLinearNames {
                XCTAssertNotNil(whole.A[layer], "\(name) A of \(layer)")
                XCTAssertEqual(try spilled.a(layer)?.data, whole.A[layer]?.data, "\(name) A of \(layer)")
                XCTAssertEqual(try spilled.g(layer)?.data, whole.G[layer]?.data, "\(name) G of \(layer)")
            }
        }
    }

    /// L-OBD's activations-only curvature spills no gradients and has no G.
    func testActivationsOnlySpillsInputs() throws {
        let model = try Fixtures.model("tiny-llama")
        let cal = try calibration(model)
        let whole = try Curvature.estimate(model: model, calibration: cal, method: .activations)
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spilled = try Curvature.estimateSpilled(model: model, calibration: cal, method: .activations, directory: dir)
        for layer in model.blockLinearNames {
            XCTAssertEqual(try spilled.a(layer)?.data, whole.A[layer]?.data, layer)
            XCTAssertNil(try spilled.g(layer), layer)
        }
    }

    /// A rows-columns surgeon shot whose factors (over a third of the budget) are spilled: same
    /// weights as without a budget, and the scratch directory is gone with the compressor.
    func testCompressionWithSpilledFactorsEqualsOneWithout() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func run(budget: Int?) throws -> CausalLM {
            let model = try Fixtures.model("stories260K")
            let comp = try Compressor(model: model, method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2,
                                      dampG: 0.01, dampA: 0.01, calibration: try calibration(model))
            comp.factorBudget = budget
            comp.spillFactors = true
            comp.scratchDirectory = (dir as NSString).appendingPathComponent("scratch")
            try comp.run()
            XCTAssertEqual(budget != nil, FileManager.default.fileExists(atPath: comp.scratchDirectory ?? ""), "spilled only past the budget")
            return model
        }
        let plain = try run(budget: nil)
        let total = Curvature.factorBytes(model: plain, method: .kfac).reduce(0) { $0 + $1.bytes }
        let tight = try run(budget: total / 3)
        for n in plain.blockLinearNames {
            XCTAssertEqual(plain.linear(n)?.denseWeight.data, tight.linear(n)?.denseWeight.data, n)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("scratch")),
                       "the compressor removes its scratch directory")
    }

    func testUnwritableScratchIsAClearError() throws {
        let model = try Fixtures.model("tiny-llama")
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // a directory where the first stream file should go
        let blocker = (dir as NSString).appendingPathComponent("x-0.f32")
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: true)
        XCTAssertThrowsError(try Curvature.estimateSpilled(model: model, calibration: try calibration(model), method: .kfac, directory: dir)) {
            XCTAssertTrue("\($0)".contains("cannot write the curvature scratch file"), "\($0)")
            XCTAssertTrue("\($0)".contains("x-0.f32"), "\($0)")
        }
    }
}
