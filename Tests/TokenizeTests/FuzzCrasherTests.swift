import Foundation
import TestSupport
import Tokenize
import XCTest

/// The tokenizer fuzz targets' crashers (scripts/fuzz.sh): a token id of 2^31 - 1 sized a 34 GB
/// id table; now ids beyond the entries the file holds (plus the unused-id allowance), and numbers
/// that are not exactly an Int32, are refused.
final class FuzzCrasherTests: XCTestCase {
    /// Writes the crasher's parts as the target does (NUL-separated files) and loads the directory.
    private func load(_ target: String, _ name: String, files: [String]) throws -> TokenizerFiles {
        let dir = Fixtures.tempDir()
        let bytes = try Data(contentsOf: FuzzCrashers.directory(target).appendingPathComponent(name))
        for (part, file) in zip(FuzzCrashers.parts(bytes, count: files.count), files) {
            try part.write(to: URL(fileURLWithPath: dir + "/" + file))
        }
        return try TokenizerFiles.load(directory: URL(fileURLWithPath: dir))
    }

    private func assertRefusesHugeId(_ error: Error) {
        guard case .malformed(_, let reason)? = error as? TokenizerError else { return XCTFail("\(error)") }
        XCTAssertTrue(reason.contains("id 2147483647") && reason.contains("ids must lie from 0 to"), reason)
    }

    func testTokenizerJSONHugeIdIsRefused() {
        XCTAssertThrowsError(try load("tokenizer-json", "vocab-id-2147483647", files: ["tokenizer.json", "tokenizer_config.json"]),
                             "", assertRefusesHugeId)
    }

    func testVocabJSONHugeIdIsRefused() {
        XCTAssertThrowsError(try load("bpe-files", "vocab-id-2147483647", files: ["vocab.json", "merges.txt", "tokenizer_config.json"]),
                             "", assertRefusesHugeId)
    }

    /// 3000000000 used to be truncated to a negative Int32 and 4294967297 to id 1: neither is an id.
    func testIdsThatAreNotExactlyInt32AreRefused() throws {
        for id in ["4294967297", "3000000000", "1.5"] {
            let dir = Fixtures.tempDir()
            try Data("{\"a\": 0, \"b\": \(id)}".utf8).write(to: URL(fileURLWithPath: dir + "/vocab.json"))
            try Data("#version: 0.2\n".utf8).write(to: URL(fileURLWithPath: dir + "/merges.txt"))
            XCTAssertThrowsError(try TokenizerFiles.load(directory: URL(fileURLWithPath: dir)), id) { error in
                guard case .malformed(let path, let reason)? = error as? TokenizerError else { return XCTFail("\(error)") }
                XCTAssertEqual(path, dir + "/vocab.json")
                XCTAssertTrue(reason.contains("entry \"b\" has id \(id), not a token id"), reason)
            }
        }
    }
}
