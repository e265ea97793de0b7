import Foundation
import Runtime
import Surgery
import TestSupport
import XCTest

/// The checkpoint fuzz target's crashers (scripts/fuzz.sh): a resumed state with a negative
/// removed row or column trapped on an index, and a hugely negative completed_shots ran for
/// ever; the state is now checked against the model and the recipe before the run starts.
final class FuzzCrasherTests: XCTestCase {
    /// state.json's layout (`{recipe, state}`, as Toolkit's checkpoint writes it).
    private struct CheckpointFile: Codable {
        var recipe: CompressionRecipe
        var state: CompressionState
    }

    private func resume(_ name: String) throws {
        let data = try Data(contentsOf: FuzzCrashers.directory("checkpoint").appendingPathComponent(name))
        let file = try JSONDecoder().decode(CheckpointFile.self, from: data)
        let dir = Fixtures.tempDir()
        try TinyModel.writeDirectory(dir)
        let model = try loadModel(ModelFiles.open(dir))
        let comp = try Compressor(model: model, recipe: file.recipe, calibration: nil, state: file.state)
        try comp.run()
    }

    func testDamagedStatesAreRefusedBeforeTheRun() throws {
        let expected = [
            "completed-shots-minus-100000000.json": CompressionStateError(field: "completed_shots", detail: "is -100000000, outside 0...3"),
            "removed-col-minus-3.json": CompressionStateError(field: "removed_cols", detail: "of model.layers.0.mlp.down_proj holds -3, outside 0..<16"),
            "removed-row-minus-1.json": CompressionStateError(field: "removed_rows", detail: "of model.layers.0.mlp.up_proj holds -1, outside 0..<16"),
        ]
        let crashers = try FuzzCrashers.inputs("checkpoint").map(\.lastPathComponent)
        XCTAssertEqual(crashers, expected.keys.sorted())
        for name in crashers {
            XCTAssertThrowsError(try resume(name), name) { XCTAssertEqual($0 as? CompressionStateError, expected[name]) }
        }
    }

    /// A state the run itself wrote still resumes (the check refuses only what cannot belong to the model).
    func testAGenuineStateResumes() throws {
        let dir = Fixtures.tempDir()
        try TinyModel.writeDirectory(dir)
        let recipe = CompressionRecipe(method: .magnitude, structure: .rowsColumns, targetSparsity: 0.3, shots: 3, dampG: 0.01, dampA: 0.01)
        let first = try Compressor(model: loadModel(ModelFiles.open(dir)), recipe: recipe, calibration: nil)
        _ = try first.runShot(1)
        XCTAssertFalse(first.state.removedRows.values.allSatisfy(\.isEmpty) && first.state.removedCols.values.allSatisfy(\.isEmpty))
        let resumed = try Compressor(model: first.model, recipe: recipe, calibration: nil, state: first.state)
        try resumed.run()
        XCTAssertEqual(resumed.state.completedShots, 3)
    }
}
