import XCTest
@testable import Runtime
import TestSupport

/// Logits, loss and greedy ids of the fixture models against Hugging Face references.
final class ForwardTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func checkTiny(_ name: String) throws {
        let model = try Fixtures.model(name)
        let ref = try Fixtures.reference(name)
        let ids = try ref.loadInts("input_ids")
        let refLogits = try ref.load("logits").data
        let V = model.config.vocabSize
        let T = ids.shape[1]
        var lossSum = 0.0
        for row in 0..<ids.shape[0] {
            let tokens = Array(ids.data[row * T..<(row + 1) * T])
            let session = InferenceSession(model: model)
            let logits = try session.logitsForAll(tokens)
            let diff = maxAbsDiff(logits, Array(refLogits[row * T * V..<(row + 1) * T * V]))
            XCTAssertLessThanOrEqual(diff, 1e-4, "\(name) row \(row) logits")
            lossSum += meanNextTokenLoss(logits, tokens: tokens, V: V)
        }
        let loss = lossSum / Double(ids.shape[0])
        let refLoss = Double(try ref.load("loss").data[0])
        XCTAssertEqual(loss, refLoss, accuracy: 1e-5 * abs(refLoss), "\(name) loss")

        let greedy = try ref.loadInts("greedy").data
        let session = InferenceSession(model: model)
        var sampler = Sampler(.greedy)
        let prompt = Array(ids.data[0..<16])
        let (out, _) = try generate(session: session, prompt: prompt, maxTokens: 16, sampler: &sampler, stop: [])
        XCTAssertEqual(prompt + out, greedy, "\(name) greedy")

        // the same greedy sequence without the KV cache: a full forward of the sequence so far per token
        var seq = prompt
        while seq.count < greedy.count {
            let all = try InferenceSession(model: model).logitsForAll(seq)
            let last = all[(seq.count - 1) * V..<seq.count * V]
            seq.append(Int32(last.indices.max { last[$0] < last[$1] }! - (seq.count - 1) * V))
        }
        XCTAssertEqual(seq, greedy, "\(name) greedy without the KV cache")
    }

    func testTinyOPT() throws { try checkTiny("tiny-opt") }
    func testTinyLlama() throws { try checkTiny("tiny-llama") }
    /// q/k/v biases, theta 1e6.
    func testTinyQwen2() throws { try checkTiny("tiny-qwen2") }
    /// Sliding window 16 on 48 positions; the greedy sequence crosses it through the KV cache.
    func testTinyMistral() throws { try checkTiny("tiny-mistral") }
    /// Llama-3 scaled RoPE (all three frequency bands), tied embeddings.
    func testTinyLlama3() throws { try checkTiny("tiny-llama3") }

    func testStories260K() throws {
        let model = try Fixtures.model("stories260K")
        let ref = try Fixtures.reference("stories260K")
        let ids = try ref.loadInts("input_ids").data
        let session = InferenceSession(model: model)
        let logits = try session.logitsForAll(ids)
        XCTAssertLessThanOrEqual(maxAbsDiff(logits, try ref.load("logits").data), 1e-4)
        let loss = meanNextTokenLoss(logits, tokens: ids, V: model.config.vocabSize)
        XCTAssertEqual(loss, 0.40356106, accuracy: 1e-5)

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.fixture("stories260K/reference.json")))) as! [String: Any]
        let expected = (json["greedy_ids"] as! [Int]).map(Int32.init)
        let prompt = (json["prompt_ids"] as! [Int]).map(Int32.init)
        let n = json["max_new_tokens"] as! Int
        let s2 = InferenceSession(model: model)
        var sampler = Sampler(.greedy)
        let (out, _) = try generate(session: s2, prompt: prompt, maxTokens: n, sampler: &sampler, stop: [])
        XCTAssertEqual(prompt + out, expected)
    }

    /// Decoding token by token through the KV cache gives the logits of one full forward.
    func checkIncremental(_ name: String) throws {
        let model = try Fixtures.model(name)
        let ref = try Fixtures.reference(name)
        let ids = Array(try ref.loadInts("input_ids").data.prefix(48))
        let V = model.config.vocabSize
        let full = try InferenceSession(model: model).logitsForAll(ids)
        let s = InferenceSession(model: model)
        // a 5-token prefill first, then single steps
        var got = Array(try s.feed(Array(ids[0..<5])))
        XCTAssertLessThanOrEqual(maxAbsDiff(got, Array(full[4 * V..<5 * V])), 1e-4)
        for t in 5..<ids.count {
            got = Array(try s.step(ids[t]))
            XCTAssertLessThanOrEqual(maxAbsDiff(got, Array(full[t * V..<(t + 1) * V])), 1e-4, "\(name) position \(t)")
        }
    }

    func testIncrementalOPT() throws { try checkIncremental("tiny-opt") }
    func testIncrementalLlama() throws { try checkIncremental("tiny-llama") }
    func testIncrementalQwen2() throws { try checkIncremental("tiny-qwen2") }
    func testIncrementalMistral() throws { try checkIncremental("tiny-mistral") }
    func testIncrementalLlama3() throws { try checkIncremental("tiny-llama3") }
}

/// OPT variants the shared fixtures lack (post-LayerNorm; project_in/out), against an independent
/// numpy transcription of Hugging Face's OPT (scripts/reference/opt_variants.py).
final class OPTVariantTests: XCTestCase {
    func check(_ name: String) throws {
        let dir = Fixtures.root.appendingPathComponent("Tests/RuntimeTests/Resources/\(name)").path
        let model = try loadModel(ModelFiles.open(dir))
        let ref = try SafetensorsFile(path: dir + "/reference.safetensors")
        let ids = try ref.loadInts("input_ids").data
        let full = try InferenceSession(model: model).logitsForAll(ids)
        XCTAssertLessThanOrEqual(maxAbsDiff(full, try ref.load("logits").data), 1e-4, name)
        // and the cached path agrees with the full pass
        let s = InferenceSession(model: model)
        let V = model.config.vocabSize
        _ = try s.feed(Array(ids[0..<3]))
        for t in 3..<ids.count {
            let got = Array(try s.step(ids[t]))
            XCTAssertLessThanOrEqual(maxAbsDiff(got, Array(full[t * V..<(t + 1) * V])), 1e-4)
        }
    }

    func testPostLayerNorm() throws { try check("opt-postln") }
    func testProjectInOut() throws { try check("opt-proj") }
}
