import Foundation
import Runtime

/// Paths of the shared fixtures (../shared from the package root), the default model, the
/// wikitext-2 files, and fresh temporary directories; every test target reads fixtures through here.
public enum Fixtures {
    /// The package root: the nearest directory above this file holding Package.swift.
    public static let root: URL = {
        var u = URL(fileURLWithPath: #filePath)
        while u.path != "/" && !FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) {
            u.deleteLastPathComponent()
        }
        return u
    }()
    public static let shared = root.appendingPathComponent("../shared").standardized
    public static let fixtures = shared.appendingPathComponent("fixtures")

    /// A fixture file or directory by name (e.g. "stories260K", "tiny-opt/reference.safetensors").
    public static func fixture(_ name: String) -> String { directory(name).path }
    public static func directory(_ name: String) -> URL { fixtures.appendingPathComponent(name) }

    public static let smolGGUF = root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    public static let wikiTestURL = shared.appendingPathComponent("data/wikitext-2-raw/wiki.test.raw")
    public static let wikiValidURL = shared.appendingPathComponent("data/wikitext-2-raw/wiki.valid.raw")
    public static let wikiTest = wikiTestURL.path
    public static let wikiValid = wikiValidURL.path

    /// A fixture model (HF directory).
    public static func model(_ name: String) throws -> CausalLM {
        try loadModel(ModelFiles.open(fixture(name)))
    }

    /// The model at `path` with its large weights held in `dtype` (16-bit storages: no widening).
    public static func model(at path: String, dtype: WeightDType) throws -> CausalLM {
        let files = try ModelFiles.open(path)
        files.weights.weightDType = dtype
        return try loadModel(files)
    }

    /// A fixture's reference tensors (made with Hugging Face transformers).
    public static func reference(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: fixture("\(name)/reference.safetensors"))
    }

    /// A JSON file whose top level is an object.
    public static func json(_ url: URL) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw FixtureError.unexpectedContent(url.path, "a JSON object")
        }
        return object
    }

    /// A UTF-8 text file.
    public static func text(_ url: URL) throws -> String {
        guard let s = String(data: try Data(contentsOf: url), encoding: .utf8) else {
            throw FixtureError.unexpectedContent(url.path, "UTF-8 text")
        }
        return s
    }

    /// A new empty directory under the system's temporary directory.
    public static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "surgeon-test-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// A fixture file that does not hold what a test expects.
public enum FixtureError: Error, CustomStringConvertible {
    case unexpectedContent(String, String)

    public var description: String {
        switch self {
        case .unexpectedContent(let path, let expected): return "\(path): expected \(expected)"
        }
    }
}
