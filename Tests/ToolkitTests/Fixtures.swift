import Foundation

enum Fixtures {
    static let root: URL = {
        var u = URL(fileURLWithPath: #filePath)
        while u.path != "/" && !FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) {
            u.deleteLastPathComponent()
        }
        return u
    }()
    static let shared = root.appendingPathComponent("../shared").standardized
    static func fixture(_ name: String) -> String { shared.appendingPathComponent("fixtures/\(name)").path }
    static let smolGGUF = root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let wikiTest = shared.appendingPathComponent("data/wikitext-2-raw/wiki.test.raw").path
    static let wikiValid = shared.appendingPathComponent("data/wikitext-2-raw/wiki.valid.raw").path

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "surgeon-test-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}
