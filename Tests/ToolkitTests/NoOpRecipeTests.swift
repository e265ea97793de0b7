import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// Defect 8: `--sparsity 0` passed validation, ran the whole compression, then failed encoding a
/// `-inf` threshold. Zero is refused by the recipe's validation; a positive target too small to
/// remove anything records no threshold instead of −∞, and its compression.json is written.
final class NoOpRecipeTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testZeroSparsityIsRefusedNamingTheField() {
        let r = CompressionRecipe(method: .magnitude, structure: .rowsColumns, targetSparsity: 0, shots: 1, dampG: 0.01, dampA: 0.01)
        XCTAssertThrowsError(try r.validate()) {
            guard case SurgeryError.invalidRecipe(let field, let message)? = $0 as? SurgeryError else { return XCTFail("\($0)") }
            XCTAssertEqual(field, .targetSparsity)
            XCTAssertTrue(message.contains("0 removes nothing"), message)
        }
    }

    func testATargetThatRemovesNothingWritesItsReport() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let o = CompressionOptions(recipe: CompressionRecipe(method: .magnitude, structure: .rowsColumns, targetSparsity: 1e-9, shots: 1,
                                                             dampG: 0.01, dampA: 0.01), output: dir + "/out")
        let s = try CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K")), options: o).run()
        XCTAssertEqual(s.report.shots.map(\.threshold), [nil])
        let written = try CompressionReport.read(path: dir + "/out/compression.json")
        XCTAssertEqual(written.shots.first?.threshold, nil)
        XCTAssertTrue(written.actualSparsity.isFinite)
    }
}
