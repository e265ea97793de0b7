import Foundation
import Runtime
import TestSupport
import XCTest

/// The fuzz harness's crashers of the model-file loaders (scripts/fuzz.sh, Fuzz/README.md),
/// replayed as the targets do: each must be refused with an error naming the key, not crash.
final class FuzzCrasherTests: XCTestCase {
    /// config target: the crasher as config.json beside the tiny model's weights.
    func testConfigCrashersAreRefused() throws {
        let crashers = try FuzzCrashers.inputs("config")
        XCTAssertEqual(crashers.count, 2)
        for url in crashers {
            let dir = Fixtures.tempDir()
            try TinyModel.writeDirectory(dir)
            try Data(contentsOf: url).write(to: URL(fileURLWithPath: dir + "/config.json"))
            XCTAssertThrowsError(try loadModel(ModelFiles.open(dir)), url.lastPathComponent) { error in
                guard case ModelError.valueOutOfRange(_, let key, _, _) = error else { return XCTFail("\(url.lastPathComponent): \(error)") }
                XCTAssertTrue(key == "max_position_embeddings" || key == "eos_token_id", key)
            }
        }
    }

    /// The same config loads once the crashing value is taken out (the crasher tests the value, not the file).
    func testTinyModelLoads() throws {
        let dir = Fixtures.tempDir()
        try TinyModel.writeDirectory(dir)
        let model = try loadModel(ModelFiles.open(dir))
        XCTAssertEqual(model.contextLength, TinyModel.context)
    }

    /// gguf target, model half: a declared context of 2^31 - 1 is refused before any table is allocated.
    func testGGUFContextCrasherIsRefused() throws {
        let url = FuzzCrashers.directory("gguf").appendingPathComponent("context-length-2147483647.gguf")
        XCTAssertThrowsError(try loadModel(ModelFiles.open(url.path))) { error in
            XCTAssertTrue("\(error)".contains("\"llama.context_length\" is 2147483647"), "\(error)")
        }
    }
}
