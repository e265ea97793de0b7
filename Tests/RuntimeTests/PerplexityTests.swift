import XCTest
@testable import Runtime
import TestSupport

final class PerplexityTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// Two rows of 48 tokens, seqlen 48: two segments scoring 47 tokens each; the mean NLL is the
    /// reference loss (mean next-token CE over both rows).
    func checkFixture(_ name: String) throws {
        let model = try Fixtures.model(name)
        let ref = try Fixtures.reference(name)
        let ids = try ref.loadInts("input_ids")
        let loss = Double(try ref.load("loss").data[0])
        let r = try PerplexityEvaluator(model: model, seqlen: ids.shape[1], protocol: .paper).run(tokens: ids.data)
        XCTAssertEqual(r.segments, ids.shape[0])
        XCTAssertEqual(r.scored, ids.shape[0] * (ids.shape[1] - 1))
        XCTAssertEqual(r.tokens, ids.data.count)
        XCTAssertEqual(r.ppl, exp(loss), accuracy: exp(loss) * 1e-5)
    }

    func testTinyOPT() throws { try checkFixture("tiny-opt") }
    func testTinyLlama() throws { try checkFixture("tiny-llama") }

    func testStories260K() throws {
        let model = try Fixtures.model("stories260K")
        let ids = try Fixtures.reference("stories260K").loadInts("input_ids").data
        // one segment of 64: 63 predictions; a 65th token would be a dropped tail
        let r = try PerplexityEvaluator(model: model, seqlen: 64, protocol: .paper).run(tokens: ids + [5])
        XCTAssertEqual(r.segments, 1)
        XCTAssertEqual(r.scored, 63)
        XCTAssertEqual(r.ppl, exp(0.40356106), accuracy: exp(0.40356106) * 1e-5)
    }

    func testSegmentingRules() {
        // paper: floor(n / L) segments, tail dropped, rows 0..L-2 scored (tokens 1..L-1)
        let p = perplexitySegments(tokenCount: 10, seqlen: 4, protocol: .paper)
        XCTAssertEqual(p, [SegmentPlan(start: 0, length: 4, scoredRows: 0..<3), SegmentPlan(start: 4, length: 4, scoredRows: 0..<3)])
        XCTAssertEqual(perplexitySegments(tokenCount: 3, seqlen: 4, protocol: .paper), [])
        XCTAssertEqual(perplexitySegments(tokenCount: 8, seqlen: 4, protocol: .paper).count, 2)
        // llama.cpp: second half scored: rows L/2 ..< L-1
        let l = perplexitySegments(tokenCount: 1030, seqlen: 512, protocol: .llamacpp)
        XCTAssertEqual(l.count, 2)
        XCTAssertEqual(l[1], SegmentPlan(start: 512, length: 512, scoredRows: 256..<511))
    }

    /// llama.cpp protocol: BOS replaces each chunk's first token and only rows L/2..L-2 are scored —
    /// checked against the NLL computed by hand from full logits.
    func testUnscoredFirstTokenAndBOSReplacement() throws {
        let model = try Fixtures.model("stories260K")
        let ids = Array(try Fixtures.reference("stories260K").loadInts("input_ids").data.prefix(64))
        let ev = PerplexityEvaluator(model: model, seqlen: 32, protocol: .paper)
        let a = try ev.run(tokens: ids)
        // the llama.cpp protocol with BOS replacement equals the paper protocol's NLL on rows 16..30
        // computed by hand with the first token set to BOS
        var ev2 = PerplexityEvaluator(model: model, seqlen: 32, protocol: .llamacpp)
        ev2.bos = 1
        let b = try ev2.run(tokens: ids)
        XCTAssertEqual(b.scored, 2 * 15)
        var acc = NLLAccumulator()
        for s in 0..<2 {
            var seg = Array(ids[(s * 32)..<(s * 32 + 32)])
            seg[0] = 1
            let logits = try InferenceSession(model: model).logitsForAll(seg)
            for row in 16..<31 {
                logits.withUnsafeBufferPointer { acc.add(crossEntropy($0.baseAddress! + row * 512, V: 512, target: Int(seg[row + 1]))) }
            }
        }
        XCTAssertEqual(b.ppl, acc.perplexity, accuracy: 1e-6 * acc.perplexity)
        XCTAssertEqual(a.scored, 62)
    }

    func testKLAgainstItselfIsZero() throws {
        let model = try Fixtures.model("tiny-llama")
        let ids = try Fixtures.reference("tiny-llama").loadInts("input_ids").data
        let r = try PerplexityEvaluator(model: model, seqlen: 48, protocol: .paper, reference: model).run(tokens: ids)
        XCTAssertEqual(r.kl?.values.count, 94)
        XCTAssertEqual(r.kl?.mean ?? 1, 0, accuracy: 1e-9)
        XCTAssertEqual(r.kl?.top1Agreement, 1)
    }

    func testKLFormula() {
        let p: [Float] = [1, 2, 0.5], q: [Float] = [0.3, 2.5, -1]
        func sm(_ x: [Float]) -> [Double] { let e = x.map { exp(Double($0)) }; let s = e.reduce(0, +); return e.map { $0 / s } }
        let P = sm(p), Q = sm(q)
        let expected = zip(P, Q).map { $0 * log($0 / $1) }.reduce(0, +)
        let (kl, same) = klDivergence(p: p, q: q, V: 3)
        XCTAssertEqual(kl, expected, accuracy: 1e-6)
        XCTAssertTrue(same)
    }

    func testStandardErrorFormula() {
        var a = NLLAccumulator()
        let xs = [1.0, 2.0, 4.0]
        for x in xs { a.add(x) }
        let m = 7.0 / 3
        let v = xs.map { $0 * $0 }.reduce(0, +) / 3 - m * m
        XCTAssertEqual(a.perplexity, exp(m), accuracy: 1e-12)
        XCTAssertEqual(a.standardError, (v / 2).squareRoot() * exp(m), accuracy: 1e-12)
    }
}
