import XCTest
@testable import Runtime
import TestSupport

/// Hand-written backward passes against Hugging Face gradients and finite differences.
final class BackwardTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// d loss / d parameter over both rows of the fixture (mean over the 94 predictions) equals `grad.*`.
    func checkGradients(_ name: String) throws {
        let model = try Fixtures.model(name)
        let ref = try Fixtures.reference(name)
        let ids = try ref.loadInts("input_ids")
        let rows = ids.shape[0], T = ids.shape[1]
        let grads = Gradients(for: model)
        let tape = model.makeTrainingTape()
        var lossSum = 0.0
        for r in 0..<rows {
            let tokens = Array(ids.data[r * T..<(r + 1) * T])
            lossSum += try model.forwardBackward(tokens: tokens, targets: nextTokenTargets(tokens), gradients: grads, tape: tape)
        }
        // every row has T−1 predictions: the mean over all of them is the mean of the row means
        grads.scale(by: 1 / Float(rows))
        let refLoss = Double(try ref.load("loss").data[0])
        XCTAssertEqual(lossSum / Double(rows), refLoss, accuracy: 1e-5 * refLoss, "\(name) loss")
        let refNames = Set(ref.tensorNames.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) })
        XCTAssertEqual(Set(grads.names), refNames, "\(name): parameter names")
        for p in grads.names {
            let expected = try ref.load("grad." + p)
            let got = try XCTUnwrap(grads[p])
            XCTAssertEqual(got.shape, expected.shape, p)
            var tol = 1e-4 * expected.maxAbs
            if p.hasSuffix("k_proj.bias") {
                // Exactly zero in exact arithmetic (a key bias shifts a whole score row; softmax ignores
                // it): the reference holds float64 rounding (~1e-22), we hold float32 rounding. Bound it
                // by the scale of the same layer's weight gradient instead.
                let wScale = try ref.load("grad." + p.dropLast(4) + "weight").maxAbs
                tol = 1e-5 * wScale
            } else {
                XCTAssertGreaterThan(expected.maxAbs, 0, p)
            }
            XCTAssertLessThanOrEqual(maxAbsDiff(got.data, expected.data), tol, "\(name) \(p)")
        }
    }

    func testGradientsTinyOPT() throws { try checkGradients("tiny-opt") }
    func testGradientsTinyLlama() throws { try checkGradients("tiny-llama") }
    func testGradientsTinyQwen2() throws { try checkGradients("tiny-qwen2") }
    func testGradientsTinyMistral() throws { try checkGradients("tiny-mistral") }
    func testGradientsTinyLlama3() throws { try checkGradients("tiny-llama3") }

    /// Central differences of the loss (an independent forward: InferenceSession) for a few weights of
    /// every kind, each chosen at random among the coordinates whose gradient is ≥ 30% of the tensor's
    /// largest, checked at steps h and h/2 (they must agree: the difference is in its linear regime).
    func checkFiniteDifferences(model: CausalLM, tokens: [Int32], tensors: [String], perTensor: Int = 2,
                                seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        let grads = Gradients(for: model)
        _ = try model.forwardBackward(tokens: tokens, targets: nextTokenTargets(tokens), gradients: grads)
        // hundreds of tiny forwards follow: one thread (no hand-offs); the gradient above used two
        Parallel.setThreads(1)
        defer { Parallel.setThreads(2) }
        var rng = SeededRandom(seed: seed)
        let V = model.config.vocabSize
        var params = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor) })
        // the loss of a model rebuilt from `params` (a tied lm_head follows its embedding)
        func loss() throws -> Double {
            let m = try loadModel(config: model.config, weights: MemoryWeights(params))
            let logits = try InferenceSession(model: m, capacity: tokens.count).logitsForAll(tokens)
            return meanNextTokenLoss(logits, tokens: tokens, V: V)
        }
        for name in tensors {
            let g = try XCTUnwrap(grads[name], "no gradient for \(name)", file: file, line: line).data
            let gMax = g.map(abs).max() ?? 0
            XCTAssertGreaterThan(gMax, 0, name, file: file, line: line)
            let candidates = g.indices.filter { abs(g[$0]) >= 0.3 * gMax }
            for _ in 0..<perTensor {
                let i = candidates[Int(rng.next() % UInt64(candidates.count))]
                // a step that moves the loss by about 3e-4: far above the float32 noise of the loss
                // (~1e-7 relative), small enough for the h⁴ term left after extrapolation
                let h = Float(min(5e-2, max(1e-4, 3e-4 / Double(abs(g[i])))))
                func central(_ h: Float) throws -> Double {
                    let w = params[name]?.data[i] ?? 0
                    let wUp = w + h, wDown = w - h   // the steps as float32 represents them
                    params[name]?.data[i] = wUp
                    let up = try loss()
                    params[name]?.data[i] = wDown
                    let down = try loss()
                    params[name]?.data[i] = w
                    return (up - down) / (Double(wUp) - Double(wDown))
                }
                // double check: steps h and h/2 agree, and their Richardson extrapolation (h² error
                // cancelled) is what the analytic gradient must match
                let fd1 = try central(h), fd2 = try central(h / 2)
                let fd = (4 * fd2 - fd1) / 3
                let scale = max(abs(fd), 1e-12)
                let what = "\(name)[\(i)] h=\(h): analytic \(g[i]), numeric \(fd1) (h), \(fd2) (h/2)"
                XCTAssertLessThan(abs(fd1 - fd2) / scale, 2e-2, "unstable: " + what, file: file, line: line)
                XCTAssertLessThan(abs(Double(g[i]) - fd) / scale, 5e-3, what, file: file, line: line)
            }
        }
    }

    func testFiniteDifferencesStories260K() throws {
        let model = try Fixtures.model("stories260K")
        let ids = Array(try Fixtures.reference("stories260K").loadInts("input_ids").data.prefix(48))
        var names = ["model.embed_tokens.weight", "model.norm.weight"]
        for l in [0, 2, 4] {
            let p = "model.layers.\(l)."
            names += ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                      "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"].map { p + $0 + ".weight" }
            names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        }
        try checkFiniteDifferences(model: model, tokens: ids, tensors: names, seed: 7)
    }

    /// Mistral's window in the training kernels where query-row blocks start past it (T = 150 > 64
    /// rows per block, window 16): the training loss equals the inference loss, and the gradients of
    /// every attention weight and the norms match central differences of the inference forward.
    func testFiniteDifferencesSlidingWindowLongWindow() throws {
        let files = try ModelFiles.open(Fixtures.fixture("tiny-mistral"))
        var config = files.config
        config.maxPositions = 256
        let model = try loadModel(config: config, weights: files.weights)
        let tokens: [Int32] = (0..<150).map { Int32(($0 * 37 + 11) % config.vocabSize) }
        let grads = Gradients(for: model)
        let loss = try model.forwardBackward(tokens: tokens, targets: nextTokenTargets(tokens), gradients: grads)
        let logits = try InferenceSession(model: model).logitsForAll(tokens)
        XCTAssertEqual(loss, meanNextTokenLoss(logits, tokens: tokens, V: config.vocabSize), accuracy: 1e-5 * loss)
        let names = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"].map { "model.layers.0.\($0).weight" }
            + ["model.layers.1.self_attn.k_proj.weight", "model.layers.0.input_layernorm.weight"]
        try checkFiniteDifferences(model: model, tokens: tokens, tensors: names, perTensor: 2, seed: 5)
    }

    /// OPT variants the fixture does not cover: LayerNorm after the sub-blocks (OPT-350m style) with
    /// GELU and project_in/out, and LayerNorm before them without affine parameters and an untied lm_head.
    func testFiniteDifferencesOPTVariants() throws {
        // (ReLU's kinks make finite differences unreliable; its backward is checked on tiny-opt.)
        for (post, affine, gelu, proj, tied) in [(true, true, true, 12, true), (false, false, true, 16, false)] {
            let model = try randomOPT(postNorm: post, affine: affine, gelu: gelu, projDim: proj, tied: tied, seed: 3)
            let tokens: [Int32] = (0..<20).map { Int32(($0 * 37 + 11) % 64) }
            // k_proj.bias has an exactly zero gradient (softmax is shift-invariant): nothing to difference
            let names = model.namedParameters().map(\.name).filter { !$0.hasSuffix("k_proj.bias") }
            try checkFiniteDifferences(model: model, tokens: tokens, tensors: names, perTensor: 1, seed: 11)
        }
    }

    /// The observer sees every block linear once in forward and once in backward, and dyᵀ·x (+ Σ dy)
    /// rebuilds the weight (bias) gradient.
    func testObserverMatchesGradients() throws {
        for name in ["tiny-opt", "tiny-llama"] {
            let model = try Fixtures.model(name)
            let tokens = Array(try Fixtures.reference(name).loadInts("input_ids").data.prefix(48))
            let grads = Gradients(for: model)
            let obs = Recorder()
            let tape = model.makeTrainingTape()
            try tape.forward(tokens, observer: obs)
            XCTAssertEqual(obs.forward, model.blockLinearNames)
            _ = try tape.backward(labels: .given(nextTokenTargets(tokens)), observer: obs, gradients: grads)
            XCTAssertEqual(Set(obs.backward.keys), Set(model.blockLinearNames))
            for (layer, dW) in obs.backward {
                let ref = try XCTUnwrap(grads[layer + ".weight"])
                XCTAssertLessThanOrEqual(maxAbsDiff(dW.w, ref.data), 1e-5 * ref.maxAbs + 1e-9, layer)
                if let db = dW.b, let refB = grads[layer + ".bias"] {
                    XCTAssertLessThanOrEqual(maxAbsDiff(db, refB.data), 1e-5 * refB.maxAbs + 1e-9, layer + ".bias")
                }
            }
            XCTAssertEqual(obs.groups["\(name == "tiny-opt" ? "model.decoder.layers.0.self_attn.v_proj" : "model.layers.1.mlp.up_proj")"],
                           name == "tiny-opt" ? "model.decoder.layers.0.self_attn.q_proj" : "model.layers.1.mlp.gate_proj")
        }
    }

    /// Sampled labels are reproducible, do not depend on the thread count, and differ with the seed.
    func testSampledLabelsReproducible() throws {
        let model = try Fixtures.model("tiny-llama")
        let tokens = Array(try Fixtures.reference("tiny-llama").loadInts("input_ids").data.prefix(48))
        let scored = (0..<48).map { $0 < 47 }
        func run(seed: UInt64, threads: Int) throws -> (Double, [Float]) {
            Parallel.setThreads(threads)
            let g = Gradients(for: model)
            let tape = model.makeTrainingTape()
            try tape.forward(tokens, observer: nil)
            let loss = try tape.backward(labels: .sampled(scored: scored, seed: seed), observer: nil, gradients: g)
            return (loss, try XCTUnwrap(g["model.layers.0.mlp.down_proj.weight"]).data)
        }
        let a = try run(seed: 1, threads: 1), b = try run(seed: 1, threads: 2), c = try run(seed: 2, threads: 2)
        XCTAssertEqual(a.0, b.0, accuracy: 1e-6 * a.0)   // same labels; gemm blocking differs with threads
        XCTAssertLessThanOrEqual(maxAbsDiff(a.1, b.1), 1e-6 * (a.1.map(abs).max() ?? 1))
        XCTAssertNotEqual(a.0, c.0)
    }

    func testErrors() throws {
        let model = try Fixtures.model("tiny-llama")
        let tape = model.makeTrainingTape()
        XCTAssertThrowsError(try tape.backward(labels: .given([1]), observer: nil, gradients: nil)) {
            XCTAssertEqual($0 as? TrainingError, .backwardBeforeForward)
        }
        XCTAssertThrowsError(try model.forwardBackward(tokens: [1, 600], targets: [600, -1])) {
            XCTAssertEqual($0 as? TrainingError, .invalidTarget(position: 0, label: 600, vocabSize: 512))
        }
        XCTAssertThrowsError(try model.forwardBackward(tokens: [1, 600], targets: [2, -1])) {
            XCTAssertEqual($0 as? TrainingError, .invalidToken(id: 600, vocabSize: 512))
        }
        XCTAssertThrowsError(try model.forwardBackward(tokens: [1, 2], targets: [2])) {
            XCTAssertEqual($0 as? TrainingError, .labelCountMismatch(tokens: 2, labels: 1))
        }
        XCTAssertThrowsError(try model.forwardBackward(tokens: [1, 2], targets: [-1, -1])) {
            XCTAssertEqual($0 as? TrainingError, .noScoredPositions)
        }
        XCTAssertThrowsError(try model.forwardBackward(tokens: [Int32](repeating: 1, count: 129), targets: [Int32](repeating: 1, count: 129))) {
            XCTAssertEqual($0 as? TrainingError, .windowTooLong(length: 129, maxPositions: 128))
        }
    }
}

/// Records what an observer sees and rebuilds dW = dyᵀ·x, db = Σ_t dy.
final class Recorder: LinearObserver {
    var forward: [String] = []
    var backward: [String: (w: [Float], b: [Float]?)] = [:]
    var groups: [String: String] = [:]

    func observe(_ a: LinearActivity) {
        groups[a.name] = a.inputGroup
        guard let dy = a.outputGradient else { forward.append(a.name); return }
        let T = a.tokens, C = a.inFeatures, R = a.outFeatures
        var w = [Float](repeating: 0, count: R * C)
        var b = [Float](repeating: 0, count: R)
        for t in 0..<T {
            for r in 0..<R {
                let d = dy[t * R + r]
                b[r] += d
                for c in 0..<C { w[r * C + c] += d * a.input[t * C + c] }
            }
        }
        backward[a.name] = (w, a.hasBias ? b : nil)
    }
}
