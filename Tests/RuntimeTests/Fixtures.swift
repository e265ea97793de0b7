import Foundation
import XCTest
@testable import Runtime

/// Paths of the shared fixtures (../shared from the package root) and the default model.
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

    static func model(_ name: String) throws -> CausalLM {
        try loadModel(ModelFiles.open(fixture(name)))
    }

    static func reference(_ name: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: fixture("\(name)/reference.safetensors"))
    }

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "surgeon-test-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// Largest |a[i] − b[i]|; +∞ when a NaN or ∞ appears on either side (max() would skip a NaN).
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var m: Float = 0
    for i in 0..<a.count {
        let d = abs(a[i] - b[i])
        if !d.isFinite { return .infinity }
        m = max(m, d)
    }
    return m
}

/// Logits of every position, from one prefill of `ids` and from decoding them one by one.
func prefillAndDecodeLogits(_ model: CausalLM, _ ids: [Int32]) throws -> (prefill: [Float], decode: [Float]) {
    let prefill = try InferenceSession(model: model).logitsForAll(ids)
    let s = InferenceSession(model: model)
    var decode: [Float] = []
    for id in ids { decode += Array(try s.step(id)) }
    return (prefill, decode)
}
