import Foundation
import XCTest

/// The reproductions end to end: a 4-byte patch of the SmolLM2 GGUF made `inspect` and
/// `generate` die on a trap or a giant allocation; now the built binary exits 1 with an error
/// naming the key (issue 20, defects 1 and 2).
final class LoaderLimitCLITests: XCTestCase {
    static let root: URL = {
        var u = URL(fileURLWithPath: #filePath)
        while u.path != "/" && !FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) {
            u.deleteLastPathComponent()
        }
        return u
    }()
    static let binary = root.appendingPathComponent(".build/debug/surgeon").path
    static let smol = root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    var dir = ""
    override func setUp() {
        dir = NSTemporaryDirectory() + "surgeon-cli-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A copy of the SmolLM2 GGUF with the u32 value of `key` set to `value`.
    func patched(_ key: String, _ value: UInt32) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.smol)))
        let needle = withUnsafeBytes(of: UInt64(key.utf8.count).littleEndian) { Array($0) } + Array(key.utf8)
        let limit = min(bytes.count, 4 << 20) - needle.count - 8
        guard let start = (0..<limit).first(where: { s in needle.indices.allSatisfy { bytes[s + $0] == needle[$0] } }) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        let at = start + needle.count
        XCTAssertEqual(bytes[at], 4, "\(key) is not a u32")   // type code of u32, little-endian low byte
        withUnsafeBytes(of: value.littleEndian) { for (j, b) in $0.enumerated() { bytes[at + 4 + j] = b } }
        let path = "\(dir)/\(key).gguf"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs the binary; returns its exit status, whether it ended on a signal, and its stderr.
    func run(_ arguments: [String]) throws -> (status: Int32, signalled: Bool, stderr: String) {
        let p = try SurgeonProcess.run(arguments)
        return (p.status, !p.exitedNormally, p.stderr)
    }

    func testPatchedGGUFIsAnErrorNotACrash() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: Self.smol), "models/fetch.sh not run")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: swift build --build-tests")
        let cases: [(key: String, value: UInt32, command: [String])] = [
            ("llama.context_length", 2_147_483_647, ["inspect"]),
            ("tokenizer.ggml.eos_token_id", 3_000_000_000, ["generate", "--ids", "1", "-n", "1"]),
        ]
        for c in cases {
            let path = try patched(c.key, c.value)
            let r = try run([c.command[0], "-m", path] + c.command.dropFirst())
            XCTAssertFalse(r.signalled, "\(c.key): \(r.stderr)")
            XCTAssertEqual(r.status, 1, "\(c.key): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(c.key) && r.stderr.contains("\(c.value)"), r.stderr)
        }
    }
}
