import XCTest
@testable import Runtime
import TestSupport

/// Mistral's sliding window far past its length: KV-cache decoding equals full recomputation, and
/// decode never reads what the window has left behind.
final class SlidingWindowTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// tiny-mistral (window 16) with its context raised to 256: a 16-token prompt and 200 greedy
    /// tokens through the KV cache, with every cache row the window has left behind poisoned with
    /// NaN before each step; then one full forward of the 216 tokens gives the same logits at every
    /// position and the same greedy choices. The cache holds 2W + 64 = 96 rows, so it drops the
    /// rows behind the window several times on the way.
    func testDecodingPastTheWindowEqualsFullRecomputation() throws {
        let files = try ModelFiles.open(Fixtures.fixture("tiny-mistral"))
        var config = files.config
        let W = try XCTUnwrap(config.slidingWindow)
        XCTAssertEqual(W, 16)
        config.maxPositions = 256
        let model = try loadModel(config: config, weights: files.weights)
        let V = config.vocabSize, kvDim = config.kvDim
        let prompt = Array(try Fixtures.reference("tiny-mistral").loadInts("input_ids").data.prefix(16))
        let s = InferenceSession(model: model)
        var seq = prompt
        var stepLogits: [[Float]] = []
        var logits = Array(try s.feed(prompt))
        for _ in 0..<200 {
            stepLogits.append(logits)
            let next = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
            seq.append(next)
            // position p = cache.count sees p−W+1 ... p: rows before that are never read
            let stale = s.cache.count - W + 1 - s.cache.base
            if stale > 0 {
                for l in 0..<config.numLayers {
                    s.cache.k[l].pointer.update(repeating: .nan, count: stale * kvDim)
                    s.cache.v[l].pointer.update(repeating: .nan, count: stale * kvDim)
                }
            }
            logits = Array(try s.step(next))
        }
        XCTAssertEqual(seq.count, 216)
        XCTAssertEqual(s.cache.rows, 2 * W + 64)
        XCTAssertGreaterThan(s.cache.base, 100)
        XCTAssertLessThanOrEqual(s.cache.count - s.cache.base, s.cache.rows)
        let full = try InferenceSession(model: model).logitsForAll(seq)
        var worst: Float = 0
        for (i, got) in stepLogits.enumerated() {
            let t = 15 + i
            let row = Array(full[t * V..<(t + 1) * V])
            worst = max(worst, maxAbsDiff(got, row))
            XCTAssertEqual(Int32(row.indices.max { row[$0] < row[$1] }!), seq[t + 1], "greedy at position \(t)")
        }
        XCTAssertLessThanOrEqual(worst, 1e-4)

        // and the window matters: full causal attention gives other logits past position 16
        var unwindowed = config
        unwindowed.slidingWindow = nil
        let plain = try InferenceSession(model: loadModel(config: unwindowed, weights: files.weights)).logitsForAll(seq)
        XCTAssertEqual(maxAbsDiff(Array(plain[0..<W * V]), Array(full[0..<W * V])), 0, accuracy: 1e-5)
        XCTAssertGreaterThan(maxAbsDiff(Array(plain[(W * V)...]), Array(full[(W * V)...])), 0.1)
    }

    /// Rewinding a windowed cache: to a position it still holds keeps it; to one behind the window
    /// starts over (the caller runs the sequence again), and either way the logits are right.
    func testTruncateBehindTheWindow() throws {
        let files = try ModelFiles.open(Fixtures.fixture("tiny-mistral"))
        var config = files.config
        config.maxPositions = 256
        let model = try loadModel(config: config, weights: files.weights)
        let V = config.vocabSize
        let ids: [Int32] = (0..<150).map { Int32(($0 * 29 + 5) % V) }
        let full = try InferenceSession(model: model).logitsForAll(ids)
        let s = InferenceSession(model: model)
        s.chunk = 40
        _ = try s.feed(ids)
        XCTAssertGreaterThan(s.cache.base, 0)
        let held = s.cache.count - 5
        XCTAssertEqual(s.cache.truncate(to: held), held)
        var got = Array(try s.feed(Array(ids[held...])))
        XCTAssertLessThanOrEqual(maxAbsDiff(got, Array(full[149 * V..<150 * V])), 1e-4)
        XCTAssertEqual(s.cache.truncate(to: 10), 0)
        got = Array(try s.feed(ids))
        XCTAssertLessThanOrEqual(maxAbsDiff(got, Array(full[149 * V..<150 * V])), 1e-4)
    }

    /// Prefill in chunks (rows of one forward call spanning the window edge) equals one call.
    func testChunkedPrefillWithWindow() throws {
        let model = try Fixtures.model("tiny-mistral")
        let ids = Array(try Fixtures.reference("tiny-mistral").loadInts("input_ids").data.prefix(48))
        let V = model.config.vocabSize
        let full = try InferenceSession(model: model).logitsForAll(ids)
        let s = InferenceSession(model: model)
        s.chunk = 7
        let last = Array(try s.feed(ids))
        XCTAssertLessThanOrEqual(maxAbsDiff(last, Array(full[47 * V..<48 * V])), 1e-4)
    }
}
