import Foundation
import XCTest
import Runtime
@testable import Surgery
import TestSupport

final class CurvatureTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// The fixture's two rows as two calibration windows.
    func fixtureCalibration(_ name: String) throws -> (CausalLM, Calibration, SafetensorsFile) {
        let model = try Fixtures.model(name)
        let ref = try SafetensorsFile(path: Fixtures.fixture("\(name)/kfac.safetensors"))
        let ids = try ref.loadInts("input_ids")
        let T = ids.shape[1]
        let windows = (0..<ids.shape[0]).map { Array(ids.data[$0 * T..<($0 + 1) * T]) }
        return (model, try Calibration(windows: windows, offsets: windows.indices.map { $0 * T }), ref)
    }

    func checkKFAC(_ name: String) throws {
        let (model, cal, ref) = try fixtureCalibration(name)
        let f = try Curvature.estimate(model: model, calibration: cal, method: .kfac)
        XCTAssertEqual(f.tokens, 96)
        XCTAssertEqual(Set(f.A.keys), Set(model.blockLinearNames))
        XCTAssertEqual(Set(f.G.keys), Set(model.blockLinearNames))
        for layer in model.blockLinearNames {
            for (kind, got) in [("A", f.A[layer]), ("G", f.G[layer])] {
                let expected = try ref.load("\(kind).\(layer)")
                let g = try XCTUnwrap(got, "\(kind).\(layer)")
                XCTAssertEqual(g.shape, expected.shape, "\(kind).\(layer)")
                XCTAssertLessThanOrEqual(relativeFrobenius(g.data, expected.data), 1e-4, "\(name) \(kind).\(layer)")
            }
        }
        // q/k/v share one A, gate/up share one A (the same storage, not copies)
        func base(_ layer: String) -> UnsafeRawPointer? { f.A[layer]?.data.withUnsafeBytes { $0.baseAddress } }
        let groups: [[String]] = name == "tiny-opt"
            ? [["q_proj", "k_proj", "v_proj"].map { "model.decoder.layers.1.self_attn.\($0)" }]
            : [["q_proj", "k_proj", "v_proj"].map { "model.layers.0.self_attn.\($0)" },
               ["gate_proj", "up_proj"].map { "model.layers.1.mlp.\($0)" }]
        for group in groups {
            XCTAssertNotNil(base(group[0]))
            for layer in group.dropFirst() { XCTAssertEqual(base(layer), base(group[0]), layer) }
        }
        XCTAssertNotEqual(base(groups[0][0]), base(model.blockLinearNames[3]))
    }

    func testKFACTinyOPT() throws { try checkKFAC("tiny-opt") }
    func testKFACTinyLlama() throws { try checkKFAC("tiny-llama") }
    /// q/k/v A factors carry the trailing 1 of the bias.
    func testKFACTinyQwen2() throws { try checkKFAC("tiny-qwen2") }
    func testKFACTinyMistral() throws { try checkKFAC("tiny-mistral") }
    func testKFACTinyLlama3() throws { try checkKFAC("tiny-llama3") }

    func testActivationsAndIdentity() throws {
        let (model, cal, ref) = try fixtureCalibration("tiny-opt")
        let f = try Curvature.estimate(model: model, calibration: cal, method: .activations)
        XCTAssertTrue(f.G.isEmpty)
        XCTAssertEqual(Set(f.A.keys), Set(model.blockLinearNames))
        for layer in model.blockLinearNames {
            let expected = try ref.load("A.\(layer)")
            XCTAssertLessThanOrEqual(relativeFrobenius(try XCTUnwrap(f.A[layer]).data, expected.data), 1e-4, layer)
        }
        let id = try Curvature.estimate(model: model, calibration: cal, method: .identity)
        XCTAssertTrue(id.A.isEmpty && id.G.isEmpty)
        XCTAssertEqual(id.method, .identity)
    }

    func testWriteAndRead() throws {
        let (model, cal, _) = try fixtureCalibration("tiny-llama")
        let f = try Curvature.estimate(model: model, calibration: cal, method: .kfac)
        let path = NSTemporaryDirectory() + "kfac-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try f.write(to: path, metadata: ["model": "tiny-llama"])
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.tensorNames.count, 2 * model.blockLinearNames.count)
        XCTAssertEqual(file.metadata["method"], "kfac")
        XCTAssertEqual(file.metadata["model"], "tiny-llama")
        XCTAssertEqual(file.metadata["labels"], "empirical")
        XCTAssertEqual(file.metadata["tokens"], "96")
        let back = try KFACFactors.read(path: path)
        XCTAssertEqual(back.method, .kfac)
        XCTAssertEqual(back.tokens, 96)
        for layer in model.blockLinearNames {
            XCTAssertEqual(back.A[layer]?.data, f.A[layer]?.data, layer)
            XCTAssertEqual(back.G[layer]?.data, f.G[layer]?.data, layer)
        }
    }

    /// True Fisher: the Monte-Carlo G from k sampled labels approaches its exact expectation
    /// E_y[g gᵀ] = Σ_t Σ_v p_t(v)·g⁽ᵗ'ᵛ⁾g⁽ᵗ'ᵛ⁾ᵀ / (n²·L), where g⁽ᵗ'ᵛ⁾ is the output gradient when only
    /// position t is scored, with label v (labels of different positions are independent).
    func testSampledFisherMatchesItsExpectation() throws {
        Parallel.setThreads(1)   // thousands of tiny passes: no thread hand-offs (the parallel paths are tested elsewhere)
        defer { Parallel.setThreads(2) }
        let model = try Fixtures.model("tiny-llama")
        let ids = try SafetensorsFile(path: Fixtures.fixture("tiny-llama/kfac.safetensors")).loadInts("input_ids")
        let window = Array(ids.data.prefix(6))
        let L = window.count, n = L - 1, V = model.config.vocabSize
        let layers = ["model.layers.1.mlp.down_proj", "model.layers.0.self_attn.v_proj"]
        let logits = try InferenceSession(model: model).logitsForAll(window)
        let tape = model.makeTrainingTape()
        try tape.forward(window, observer: nil)
        let exact = GCollector(layers)
        for t in 0..<n {
            let row = logits[t * V..<(t + 1) * V].map(Double.init)
            let m = row.max() ?? 0
            let e = row.map { exp($0 - m) }
            let z = e.reduce(0, +)
            for v in 0..<V {
                exact.weight = e[v] / z / Double(n * n * L)
                var targets = [Int32](repeating: -1, count: L)
                targets[t] = Int32(v)
                _ = try tape.backward(labels: .given(targets), observer: exact, gradients: nil)
            }
        }
        let cal = try Calibration(windows: [window], offsets: [0])
        let sampled = try Curvature.estimate(model: model, calibration: cal, method: .kfac, labels: .sampled(1000, seed: 5))
        let empirical = try Curvature.estimate(model: model, calibration: cal, method: .kfac)
        for layer in layers {
            let ex = try XCTUnwrap(exact.G[layer]).map(Float.init)
            let mc = relativeFrobenius(try XCTUnwrap(sampled.G[layer]).data, ex)
            let emp = relativeFrobenius(try XCTUnwrap(empirical.G[layer]).data, ex)
            // Monte-Carlo error here is ≈ 3/√k (measured: 0.20, 0.10, 0.05 at k = 250, 1000, 4000: no
            // bias); the empirical Fisher is off by 1.5–3, so the test tells them apart.
            XCTAssertLessThan(mc, 0.2, "\(layer): sampled G vs its expectation")
            XCTAssertGreaterThan(emp, 1.0, "\(layer): the empirical Fisher should differ from the true one")
        }
        let again = try Curvature.estimate(model: model, calibration: cal, method: .kfac, labels: .sampled(3, seed: 5))
        let again2 = try Curvature.estimate(model: model, calibration: cal, method: .kfac, labels: .sampled(3, seed: 5))
        XCTAssertEqual(again.G[layers[0]]?.data, again2.G[layers[0]]?.data)
        XCTAssertThrowsError(try Curvature.estimate(model: model, calibration: cal, method: .kfac, labels: .sampled(0)))
    }

    func testCalibrationWindows() throws {
        let tokens = (0..<1000).map { Int32($0) }
        let a = try CalibrationWindows.sample(tokens: tokens, count: 20, length: 64, seed: 100)
        let b = try CalibrationWindows.sample(tokens: tokens, count: 20, length: 64, seed: 100)
        let c = try CalibrationWindows.sample(tokens: tokens, count: 20, length: 64, seed: 101)
        XCTAssertEqual(a.offsets, b.offsets)
        XCTAssertNotEqual(a.offsets, c.offsets)
        XCTAssertEqual(Set(a.offsets).count, 20)
        XCTAssertEqual(a.tokenCount, 20 * 64)
        for (o, w) in zip(a.offsets, a.windows) {
            XCTAssertTrue(o >= 0 && o + 64 <= 1000)
            XCTAssertEqual(w, Array(tokens[o..<(o + 64)]))
        }
        // every offset taken when asked for all of them
        let all = try CalibrationWindows.sample(tokens: tokens, count: 937, length: 64, seed: 1)
        XCTAssertEqual(Set(all.offsets), Set(0...936))
        XCTAssertThrowsError(try CalibrationWindows.sample(tokens: tokens, count: 938, length: 64, seed: 1)) {
            XCTAssertEqual($0 as? CalibrationError, .notEnoughOffsets(requested: 938, available: 937))
        }
        XCTAssertThrowsError(try CalibrationWindows.sample(tokens: Array(tokens.prefix(10)), count: 1, length: 64, seed: 1)) {
            XCTAssertEqual($0 as? CalibrationError, .textTooShort(tokens: 10, length: 64))
        }
        XCTAssertThrowsError(try CalibrationWindows.sample(tokens: tokens, count: 0, length: 64, seed: 1))
        XCTAssertThrowsError(try Calibration(windows: [[1, 2]], offsets: []))
    }

    /// The blocked, parallel upper-triangle update equals xᵀx.
    func testSyrkUpper() {
        let T = 37, n = 300
        var rng = SeededRandom(seed: 9)
        let x = (0..<(T * n)).map { _ in Float(rng.normal()) }
        var c = [Float](repeating: 0, count: n * n)
        x.withUnsafeBufferPointer { xp in
            c.withUnsafeMutableBufferPointer { syrkUpper(xp.baseAddress!, ldx: n, T: T, n: n, alpha: 0.5, $0.baseAddress!, ldc: n) }
        }
        var worst: Float = 0
        for i in 0..<n {
            for j in i..<n {
                var s: Float = 0
                for t in 0..<T { s += x[t * n + i] * x[t * n + j] }
                worst = max(worst, abs(c[i * n + j] - 0.5 * s))
            }
        }
        XCTAssertLessThan(worst, 1e-4)
    }
}

/// K-FAC estimation speed on SmolLM2-135M (prints only; opt-in, release build):
/// `SURGEON_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter CurvatureBenchmark`
final class CurvatureBenchmark: XCTestCase {
    func testSmolLM2KFAC() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["SURGEON_BENCH"] != nil else { throw XCTSkip("set SURGEON_BENCH=1 to run the benchmark") }
        let path = Fixtures.root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no \(path)") }
        Parallel.setThreads(Int(env["SURGEON_THREADS"] ?? "") ?? 2)
        let model = try loadModel(ModelFiles.open(path))
        var rng = SeededRandom(seed: 2)
        let text = (0..<20_000).map { _ in Int32(rng.next() % UInt64(model.config.vocabSize)) }
        let cal = try CalibrationWindows.sample(tokens: text, count: 4, length: 512, seed: 100)
        for method in [CurvatureMethod.activations, .kfac] {
            let t0 = Date()
            let f = try Curvature.estimate(model: model, calibration: cal, method: method)
            let dt = Date().timeIntervalSince(t0)
            print(String(format: "SmolLM2 %@ on 4 x 512 tokens: %.1f tok/s (%d A, %d G)", method.rawValue,
                         Double(cal.tokenCount) / dt, Set(f.A.values.map { $0.data.withUnsafeBytes { $0.baseAddress } }).count, f.G.count))
        }
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        print(status.split(separator: "\n").first { $0.hasPrefix("VmHWM") } ?? "")
    }
}

/// Accumulates weight·dyᵀdy (double) for chosen layers.
final class GCollector: LinearObserver {
    let layers: Set<String>
    var weight = 1.0
    var G: [String: [Double]] = [:]
    init(_ layers: [String]) { self.layers = Set(layers) }

    func observe(_ a: LinearActivity) {
        guard let dy = a.outputGradient, layers.contains(a.name) else { return }
        let R = a.outFeatures
        var g = G[a.name] ?? [Double](repeating: 0, count: R * R)
        for t in 0..<a.tokens {
            for i in 0..<R {
                let di = Double(dy[t * R + i]) * weight
                if di == 0 { continue }
                for j in 0..<R { g[i * R + j] += di * Double(dy[t * R + j]) }
            }
        }
        G[a.name] = g
    }
}
