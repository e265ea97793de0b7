import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// `surgeon compress --lowrank` through the job: the correction needs calibration data even for a
/// data-free method, runs, and is recorded in compression.json.
final class LowRankJobTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testLowRankIsRecordedAndNeedsData() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let opened = try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true)
        var o = CompressionOptions(recipe: CompressionRecipe(method: .magnitude, structure: .unstructured, targetSparsity: 0.3, shots: 1,
                                                             dampG: 0, dampA: 0),
                                   output: dir + "/out")
        o.recipe.lowrank = LowRankRecipe(rank: 2, learningRate: 1e-3, stepsPerShot: 1, finalEpochs: 1, layers: .attn, seed: 100)
        XCTAssertThrowsError(try CompressionJob(opened: opened, options: o).run()) { XCTAssertTrue("\($0)".contains("low-rank"), "\($0)") }
        o.calibFile = Fixtures.wikiValid
        o.nsamples = 2
        o.seqlen = 32
        var lines: [String] = []
        let job = CompressionJob(opened: opened, options: o)
        job.log = { lines.append($0) }
        let s = try job.run()
        XCTAssertEqual(s.report.actualSparsity, 0.3, accuracy: 0.01)
        let report = try CompressionReport.read(path: dir + "/out/compression.json")
        XCTAssertEqual(report.recipe.lowrank, o.recipe.lowrank)
        XCTAssertEqual(report.shots.first?.lowrank?.steps, 1)
        XCTAssertEqual(report.shots.first?.lowrankFinal?.steps, 2)
        XCTAssertTrue(lines.contains { $0.hasPrefix("shot 1/1") && $0.contains("low-rank 2 steps") }, "\(lines)")
    }
}
