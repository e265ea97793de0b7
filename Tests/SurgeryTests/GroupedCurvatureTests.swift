import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// K-FAC factors under a memory budget (issue 16): grouped passes give the factors of one pass bit
/// for bit, keep input groups whole, never accumulate more than the budget, and a compression with
/// a tiny budget ends exactly where one without a budget does.
final class GroupedCurvatureTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func calibration(_ model: CausalLM) throws -> Calibration { try Fixtures.smallCalibration(model) }

    func testGroupedFactorsEqualOnePassAndStayWithinTheBudget() throws {
        for name in ["tiny-llama", "tiny-opt"] {
            let model = try Fixtures.model(name)
            let cal = try calibration(model)
            let whole = try Curvature.estimate(model: model, calibration: cal, method: .kfac)
            let sizes = Curvature.factorBytes(model: model, method: .kfac)
            let total = sizes.reduce(0) { $0 + $1.bytes }
            XCTAssertEqual(Int(whole.metadata["accumulated_bytes"] ?? ""), total, "\(name): the sizes are what a pass allocates")
            let budget = total / 3
            let dir = Fixtures.tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let grouped = try Curvature.estimateInGroups(model: model, calibration: cal, method: .kfac, budget: budget, directory: dir)
            XCTAssertGreaterThanOrEqual(Int(grouped.metadata["layer_groups"] ?? "") ?? 0, 3, name)
            XCTAssertLessThanOrEqual(Int(grouped.metadata["accumulated_bytes"] ?? "") ?? .max, budget, name)
            XCTAssertTrue(grouped.A.isEmpty && grouped.G.isEmpty, "nothing kept in memory")
            for layer in model.blockLinearNames {
                XCTAssertEqual(try grouped.a(layer)?.data, whole.A[layer]?.data, "\(name) A of \(layer)")
                XCTAssertEqual(try grouped.g(layer)?.data, whole.G[layer]?.data, "\(name) G of \(layer)")
            }
        }
    }

    func testLayerGroupsKeepInputGroupsWhole() throws {
        let model = try Fixtures.model("tiny-llama")
        let sizes = Dictionary(uniqueKeysWithValues: Curvature.factorBytes(model: model, method: .kfac).map { ($0.layer, $0.bytes) })
        let d = model.config.architecture.descriptor
        let unit = model.blockLinearNames.reduce(into: [String: Int]()) { $0[d.inputGroup(of: $1) ?? $1, default: 0] += sizes[$1] ?? 0 }
        let budget = unit.values.max() ?? 0
        let groups = try Curvature.layerGroups(model: model, method: .kfac, budget: budget)
        XCTAssertEqual(groups.flatMap { $0 }, model.blockLinearNames)
        for g in groups {
            XCTAssertLessThanOrEqual(g.reduce(0) { $0 + (sizes[$1] ?? 0) }, budget)
            for name in g { XCTAssertTrue(g.contains(d.inputGroup(of: name) ?? name), "\(name) with its input group") }
        }
        XCTAssertThrowsError(try Curvature.layerGroups(model: model, method: .kfac, budget: budget - 1)) {
            XCTAssertTrue("\($0)".contains("allow more memory"), "\($0)")
        }
    }

    /// A rows-columns surgeon shot with a budget of a third of the factors: same weights as without.
    func testCompressionWithATinyBudgetEqualsOneWithout() throws {
        func run(budget: Int?) throws -> (CausalLM, KFACFactors?) {
            let model = try Fixtures.model("stories260K")
            let comp = try Compressor(model: model, method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 1,
                                      dampG: 0.01, dampA: 0.01, calibration: try calibration(model))
            comp.factorBudget = budget
            try comp.run()
            return (model, comp.lastCurvature)
        }
        let (plain, _) = try run(budget: nil)
        let total = Curvature.factorBytes(model: plain, method: .kfac).reduce(0) { $0 + $1.bytes }
        let (tight, _) = try run(budget: total / 3)
        for n in plain.blockLinearNames {
            XCTAssertEqual(plain.linear(n)?.denseWeight.data, tight.linear(n)?.denseWeight.data, n)
        }
    }
}
