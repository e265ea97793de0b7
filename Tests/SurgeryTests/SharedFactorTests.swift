import XCTest
import Runtime
@testable import Surgery
import TestSupport

/// The shared A factor of linears reading the same input (q/k/v, gate/up; OPT q/k/v) against a
/// per-linear accumulation done here in float64 from every linear's own observed input.
final class SharedFactorTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// Accumulates A = Σ [x 1]ᵀ[x 1] / tokens for every linear separately (no sharing), in float64.
    final class PerLinearA: LinearObserver {
        var a: [String: [Double]] = [:]
        var groupOf: [String: String] = [:]
        var inputs: [String: Int] = [:]     // forward observations per linear
        func observe(_ act: LinearActivity) {
            guard act.outputGradient == nil else { return }
            let C = act.inFeatures, n = C + (act.hasBias ? 1 : 0)
            var m = a[act.name] ?? [Double](repeating: 0, count: n * n)
            for t in 0..<act.tokens {
                let x = (0..<n).map { $0 < C ? Double(act.input[t * C + $0]) : 1 }
                for i in 0..<n where x[i] != 0 { for j in 0..<n { m[i * n + j] += x[i] * x[j] } }
            }
            a[act.name] = m
            groupOf[act.name] = act.inputGroup
            inputs[act.name, default: 0] += 1
        }
    }

    func check(_ name: String, groups expected: Int) throws {
        let model = try Fixtures.model(name)
        let ref = try SafetensorsFile(path: Fixtures.fixture("\(name)/kfac.safetensors"))
        let ids = try ref.loadInts("input_ids")
        let T = ids.shape[1]
        let windows = (0..<ids.shape[0]).map { Array(ids.data[$0 * T..<($0 + 1) * T]) }
        let cal = try Calibration(windows: windows, offsets: windows.indices.map { $0 * T })
        let shared = try Curvature.estimate(model: model, calibration: cal, method: .activations)
        let perLinear = PerLinearA()
        let tape = model.makeTrainingTape()
        for w in windows { try tape.forward(w, observer: perLinear) }
        let layers = model.blockLinearNames
        XCTAssertEqual(Set(perLinear.a.keys), Set(layers))
        // the architecture's input groups: members really see the same input, and share one tensor
        let leaders = Set(layers.compactMap { perLinear.groupOf[$0] })
        XCTAssertEqual(leaders.count, expected, "\(name): input groups")
        func base(_ layer: String) -> UnsafeRawPointer? { shared.A[layer]?.data.withUnsafeBytes { $0.baseAddress } }
        for layer in layers {
            let got = try XCTUnwrap(shared.A[layer], layer)
            let own = try XCTUnwrap(perLinear.a[layer]).map { Float($0 / Double(cal.tokenCount)) }
            XCTAssertLessThanOrEqual(relativeFrobenius(got.data, own), 1e-5, "\(name) A.\(layer) vs its own inputs")
            XCTAssertEqual(perLinear.inputs[layer], windows.count)
            let leader = try XCTUnwrap(perLinear.groupOf[layer])
            XCTAssertEqual(base(layer), base(leader), "\(layer) shares the storage of \(leader)")
            if leader != layer { XCTAssertEqual(perLinear.a[layer], perLinear.a[leader], "\(layer) reads \(leader)'s input") }
        }
    }

    /// tiny-llama: per block q/k/v, o, gate/up, down = 4 groups of 7 linears.
    func testSharedAEqualsPerLinearTinyLlama() throws {
        let model = try Fixtures.model("tiny-llama")
        try check("tiny-llama", groups: 4 * model.blockLinearNames.count / 7)
    }

    /// tiny-opt: per block q/k/v, out_proj, fc1, fc2 = 4 groups of 6 linears.
    func testSharedAEqualsPerLinearTinyOPT() throws {
        let model = try Fixtures.model("tiny-opt")
        try check("tiny-opt", groups: 4 * model.blockLinearNames.count / 6)
    }
}
