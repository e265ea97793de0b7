import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// The adaptive shot schedule and the held-out guard, end to end on stories260K (issue 21): a shot
/// past the bound is undone and retried in smaller steps, the undo is exact, a resumed run ends
/// where an uninterrupted one does, and `strict` refuses a result past the guard's bound.
final class AdaptiveScheduleJobTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    struct Stop: Error {}

    /// rows-columns surgeon to 20% on 4 windows of 64 tokens, 2 more held out.
    func options(_ out: String, rule: AdaptiveSchedule, shots: Int = 1) -> CompressionOptions {
        var o = CompressionOptions(recipe: CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: shots,
                                                             dampG: 0.01, dampA: 0.01, updates: .joint, schedule: .adaptive,
                                                             adaptive: rule, heldOut: 2),
                                   output: out)
        o.calibFile = Fixtures.wikiValid
        o.nsamples = 4
        o.seqlen = 64
        return o
    }

    func open() throws -> OpenedModel { try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true) }

    /// A bound so tight that any shot breaks it (0.001 nat per unit of sparsity): made to fail on purpose.
    let tight = AdaptiveSchedule(firstStep: 0.2, minStep: 0.05, maxStep: 0.2, growth: 1.5, minRate: 0.001, rateFactor: 1)

    func testAShotPastTheBoundIsUndoneAndRetriedInSmallerSteps() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try CompressionJob(opened: try open(), options: options(dir + "/out", rule: tight)).run()
        let a = try XCTUnwrap(s.report.attempts)
        // 0 → 20% rejected, 0 → 10% rejected (curvature of 0 reused), 0 → 5% kept at the smallest step
        XCTAssertEqual(a.prefix(3).map(\.verdict), [.rejected, .rejected, .acceptedOverBound])
        XCTAssertEqual(a.prefix(3).map(\.to), [0.2, 0.1, 0.05])
        XCTAssertEqual(a.prefix(3).map(\.freshCurvature), [true, false, false])
        for x in a {
            XCTAssertEqual(x.rise > x.bound, x.verdict != .accepted, "attempt \(x.attempt): the verdict follows the bound")
            XCTAssertEqual(x.bound, tight.bound(step: x.to - x.from, from: x.from, loss: x.lossBefore, denseLoss: s.report.heldOut?.dense ?? .nan),
                           accuracy: 1e-12)
        }
        // accepted attempts chain from target to target and end at the target; shots list exactly them
        let kept = a.filter { $0.verdict != .rejected }
        XCTAssertEqual(kept.map(\.to), s.report.shots.map(\.targetSparsity))
        XCTAssertEqual(zip(kept.dropLast(), kept.dropFirst()).filter { $0.to != $1.from }.count, 0)
        XCTAssertEqual(kept.last?.to, 0.2)
        XCTAssertEqual(s.report.shots.map(\.shot), Array(1...kept.count))
        XCTAssertEqual(s.report.actualSparsity, 0.2, accuracy: 0.01)
        // a rejected attempt leaves the loss where it was: the next attempt starts from the same loss
        XCTAssertEqual(a[1].lossBefore, a[0].lossBefore)
        XCTAssertEqual(a[2].lossBefore, a[0].lossBefore)
        XCTAssertEqual(s.report.heldOut?.current, kept.last?.lossAfter)
        let written = try CompressionReport.read(path: dir + "/out/compression.json")
        XCTAssertEqual(written.attempts, s.report.attempts)
        XCTAssertEqual(written.recipe.schedule, .adaptive)
    }

    /// The undo is exact: after two rejected attempts, the kept 5% shot (on the reused curvature) is
    /// the one a run that started with a 5% step makes.
    func testUndoRestoresTheModelExactly() throws {
        func firstShot(_ rule: AdaptiveSchedule) throws -> CausalLM {
            let job = CompressionJob(opened: try open(), options: options(Fixtures.tempDir() + "/x", rule: rule))
            let (cal, recipe) = try job.loadCalibration()
            let comp = try Compressor(model: job.opened.model, recipe: recipe, calibration: cal)
            XCTAssertThrowsError(try comp.run { _, _ in throw Stop() })
            return comp.model
        }
        let retried = try firstShot(tight)
        var direct = tight
        direct.firstStep = 0.05
        let fresh = try firstShot(direct)
        for n in retried.blockLinearNames {
            XCTAssertEqual(retried.linear(n)?.denseWeight.data, fresh.linear(n)?.denseWeight.data, n)
        }
    }

    /// With a loose bound nothing is rejected and the step grows by `growth` after each shot.
    func testTheStepGrowsWhileShotsGoWell() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let loose = AdaptiveSchedule(firstStep: 0.04, minStep: 0.01, maxStep: 0.09, growth: 1.5, minRate: 1000, rateFactor: 1)
        let s = try CompressionJob(opened: try open(), options: options(dir + "/out", rule: loose)).run()
        let a = try XCTUnwrap(s.report.attempts)
        XCTAssertTrue(a.allSatisfy { $0.verdict == .accepted })
        // steps 4%, 6%, 9% (capped), then the 1% left
        let steps = a.map { $0.to - $0.from }
        XCTAssertEqual(steps.count, 4)
        for (x, y) in zip(steps, [0.04, 0.06, 0.09, 0.01]) { XCTAssertEqual(x, y, accuracy: 1e-9) }
    }

    /// Interrupted after its first kept shot (checkpoint written as the job writes it), the run
    /// resumes with the recorded step and ends exactly where an uninterrupted run ends.
    func testResumedAdaptiveRunEqualsAnUninterruptedOne() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rule = tight
        rule.minStep = 0.1   // 0 → 20% rejected, 0 → 10% and 10% → 20% kept
        let o = options(dir + "/out", rule: rule)
        let job = CompressionJob(opened: try open(), options: o)
        let (cal, recipe) = try job.loadCalibration()
        let comp = try Compressor(model: job.opened.model, recipe: recipe, calibration: cal)
        let source = try SourceIdentity.of(job.opened.files)
        XCTAssertThrowsError(try comp.run { report, state in
            try job.saveCheckpoint(model: job.opened.model, state: state, recipe: comp.recipe, source: source)
            if report.shot == 1 { throw Stop() }
        })
        var r = o
        r.resume = true
        let resumed = try CompressionJob(opened: try open(), options: r).run()
        var f = o
        f.output = dir + "/full"
        let full = try CompressionJob(opened: try open(), options: f).run()
        func plain(_ a: [ScheduleAttempt]?) -> [ScheduleAttempt] { (a ?? []).map { var x = $0; x.seconds = 0; return x } }
        XCTAssertEqual(plain(resumed.report.attempts), plain(full.report.attempts))
        XCTAssertEqual(full.report.attempts?.map(\.verdict).first, .rejected)
        XCTAssertEqual(resumed.report.shots.map(\.targetSparsity), full.report.shots.map(\.targetSparsity))
        XCTAssertEqual(resumed.report.heldOut, full.report.heldOut)
        let a = try loadModel(ModelFiles.open(dir + "/out")), b = try loadModel(ModelFiles.open(dir + "/full"))
        for n in a.blockLinearNames { XCTAssertEqual(a.linear(n)?.denseWeight.data, b.linear(n)?.denseWeight.data, n) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.partial"))
    }

    /// With a grid, a run to 2g passes through exactly the model a run to g ends with (same attempts
    /// up to g, same weights), and each kept shot's curvature read the next block of 2 of the 4 windows.
    func testARunToTwiceTheGridPassesThroughTheRunToTheGrid() throws {
        var rule = AdaptiveSchedule(firstStep: 0.06, minStep: 0.02, maxStep: 0.1, growth: 1.5, minRate: 1000, rateFactor: 1, grid: 0.1)
        rule.growth = 2
        func run(_ target: Double) throws -> (attempts: [ScheduleAttempt], at10: [String: [Float]], offsets: [String]) {
            var o = options(Fixtures.tempDir() + "/x", rule: rule)
            o.recipe.targetSparsity = target
            o.recipe.curvatureWindows = 2
            let job = CompressionJob(opened: try open(), options: o)
            let (cal, recipe) = try job.loadCalibration()
            let comp = try Compressor(model: job.opened.model, recipe: recipe, calibration: cal)
            var at10: [String: [Float]] = [:], offsets: [String] = []
            try comp.run { report, _ in
                offsets.append(comp.lastCurvature?.metadata["offsets"] ?? "none")
                if abs(report.targetSparsity - 0.1) < 1e-12 {
                    for n in comp.layerNames { at10[n] = comp.model.linear(n)?.denseWeight.data }
                }
            }
            let all: [Int] = try XCTUnwrap(cal).offsets
            XCTAssertEqual(all.count, 4)
            var blocks: [String] = []
            for k in 0..<offsets.count {
                let pair: [String] = [String(all[(2 * k) % 4]), String(all[(2 * k + 1) % 4])]
                blocks.append(pair.joined(separator: ","))
            }
            XCTAssertEqual(offsets, blocks, "shot k reads windows 2k, 2k+1 (mod 4)")
            return ((comp.state.adaptive?.attempts ?? []), at10, offsets)
        }
        let short = try run(0.1), long = try run(0.2)
        // 6%, then 4% to the grid point (not 12%), then the 10% to the next one in one shot: the step
        // taken, doubled (8%), would leave 2%, under half a step, and 10% is within the largest step
        let ends = long.attempts.map(\.to)
        XCTAssertEqual(ends.count, 3)
        for (x, y) in zip(ends, [0.06, 0.1, 0.2]) { XCTAssertEqual(x, y, accuracy: 1e-12) }
        func plain(_ a: [ScheduleAttempt]) -> [ScheduleAttempt] { a.map { var x = $0; x.seconds = 0; return x } }
        XCTAssertEqual(plain(Array(long.attempts.prefix(short.attempts.count))), plain(short.attempts))
        XCTAssertFalse(short.at10.isEmpty)
        XCTAssertEqual(short.at10, long.at10, "the same weights at 10%")
    }

    /// The guard applies to one-shot methods too: past the bound the result is written and marked,
    /// or with `strict` refused with nothing left behind.
    func testGuardMarksOrRefusesADegradedResult() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = CompressionOptions(recipe: CompressionRecipe(method: .magnitude, structure: .unstructured, targetSparsity: 0.6, shots: 1,
                                                             dampG: 0.1, dampA: 0.01, heldOut: 2, maxLossRise: 0.01),
                                   output: dir + "/loud")
        o.calibFile = Fixtures.wikiValid
        o.nsamples = 2
        o.seqlen = 64
        var lines: [String] = []
        let job = CompressionJob(opened: try open(), options: o)
        job.log = { lines.append($0) }
        let s = try job.run()
        let verdict = try XCTUnwrap(s.report.guardVerdict)
        XCTAssertFalse(verdict.passed)
        XCTAssertEqual(verdict.rise, (s.report.heldOut?.current ?? 0) - (s.report.heldOut?.dense ?? 0), accuracy: 1e-12)
        XCTAssertGreaterThan(verdict.rise, 0.01)
        XCTAssertTrue(lines.contains { $0.hasPrefix("WARNING") }, "\(lines)")
        XCTAssertEqual(try CompressionReport.read(path: dir + "/loud/compression.json").guardVerdict, verdict)
        var strict = o
        strict.output = dir + "/strict"
        strict.strict = true
        XCTAssertThrowsError(try CompressionJob(opened: try open(), options: strict).run()) {
            guard case CompressionJobError.guardFailed(let rise, let bound)? = $0 as? CompressionJobError else { return XCTFail("\($0)") }
            XCTAssertEqual(rise, verdict.rise, accuracy: 1e-9)
            XCTAssertEqual(bound, 0.01)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["loud"], "strict leaves nothing behind")
        // a loose bound passes
        var ok = o
        ok.output = dir + "/ok"
        ok.recipe.maxLossRise = 100
        ok.strict = true
        XCTAssertEqual(try CompressionJob(opened: try open(), options: ok).run().report.guardVerdict?.passed, true)
    }

    /// Held-out windows never overlap the calibration windows and are reproducible from the seed.
    func testHeldOutWindowsAreDisjointFromCalibration() throws {
        let tok = try open().requireTokenizer()
        let a = try CalibrationInput.fromText(file: Fixtures.wikiValid, tokenizer: tok, nsamples: 16, seqlen: 64, seed: 3, heldOut: 8)
        let b = try CalibrationInput.fromText(file: Fixtures.wikiValid, tokenizer: tok, nsamples: 16, seqlen: 64, seed: 3, heldOut: 8)
        XCTAssertEqual(a.heldOutOffsets, b.heldOutOffsets)
        XCTAssertEqual(a.heldOut.count, 8)
        let all = (a.offsets + a.heldOutOffsets).sorted()
        for (x, y) in zip(all, all.dropFirst()) { XCTAssertGreaterThanOrEqual(y - x, 64, "windows at \(x) and \(y) overlap") }
        // the calibration windows are those of a run without held-out windows
        let plain = try CalibrationInput.fromText(file: Fixtures.wikiValid, tokenizer: tok, nsamples: 16, seqlen: 64, seed: 3)
        XCTAssertEqual(plain.offsets, a.offsets)
    }
}
