import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// `surgeon compress` end to end on stories260K: output contents, atomicity, resume, errors.
final class CompressionJobTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func options(_ out: String, shots: Int = 2) -> CompressionOptions {
        var o = CompressionOptions(recipe: CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: shots,
                                                             dampG: 0.01, dampA: 0.01, updates: .joint),
                                   output: out)
        o.calibFile = Fixtures.wikiValid
        o.nsamples = 4
        o.seqlen = 64
        return o
    }

    func testOutputReloadsInEverySubcommandSense() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let opened = try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true)
        var o = options(dir + "/out")
        o.evalFile = Fixtures.wikiTest
        o.evalChunks = 2
        o.evalSeqlen = 128
        let s = try CompressionJob(opened: opened, options: o).run()
        XCTAssertEqual(s.report.actualSparsity, 0.2, accuracy: 0.01)
        XCTAssertNotNil(s.pplBefore)
        XCTAssertNotNil(s.pplAfter)
        XCTAssertEqual(s.report.recipe.calibration?.offsets.count, 4)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/out"))
        XCTAssertTrue(files.isSuperset(of: ["config.json", "model.safetensors", "compression.json", "tokenizer.model"]), "\(files)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out"], "no temporary or checkpoint left")
        let again = try ModelLoader.open(dir + "/out", requireTokenizer: true)
        XCTAssertEqual(try again.requireTokenizer().encode("Hello", addSpecialTokens: true),
                       try opened.requireTokenizer().encode("Hello", addSpecialTokens: true))
        // pruned layers are stored compacted, the file is smaller, and the logits equal the masked dense model's
        XCTAssertTrue(s.report.layers.contains { $0.storage == "compacted" })
        let dense = try FileManager.default.attributesOfItem(atPath: Fixtures.fixture("stories260K") + "/model.safetensors")[.size] as! Int
        let small = try FileManager.default.attributesOfItem(atPath: dir + "/out/model.safetensors")[.size] as! Int
        XCTAssertLessThan(small, dense)
        var plain = o
        plain.output = dir + "/plain"
        plain.denseOutput = true
        plain.evalFile = nil
        _ = try CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true), options: plain).run()
        let masked = try loadModel(ModelFiles.open(dir + "/plain"))
        XCTAssertTrue(masked.blockLinearNames.allSatisfy { masked.linear($0)?.storageKind == .dense })
        let ids: [Int32] = [1, 403, 407, 261, 378, 432, 383]
        let a = try InferenceSession(model: again.model).logitsForAll(ids), b = try InferenceSession(model: masked).logitsForAll(ids)
        XCTAssertLessThanOrEqual(zip(a, b).map { abs($0 - $1) }.max() ?? 1, 1e-4)
        XCTAssertEqual(s.json["method"] as? String, "surgeon")
        XCTAssertNotNil(s.json["peak_rss_bytes"] as? Int)
    }

    func testFailedRunLeavesNoOutputAndResumeContinues() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let opened = try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true)
        // an unwritable output (a file where the parent dir should be) is refused before any work
        _ = FileManager.default.createFile(atPath: dir + "/blocker", contents: Data())
        let bad = options(dir + "/blocker/out")
        XCTAssertThrowsError(try CompressionJob(opened: opened, options: bad).run())
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/blocker/out"))

        // an interrupted run: shot 1 done, checkpoint kept
        let o = options(dir + "/out")
        let job = CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true), options: o)
        let (cal, recipe) = try job.loadCalibration()
        let comp = try Compressor(model: job.opened.model, recipe: recipe, calibration: cal)
        _ = try comp.runShot(1)
        try job.saveCheckpoint(model: job.opened.model, state: comp.state, recipe: comp.recipe, source: SourceIdentity.of(job.opened.files))
        // resume: only shot 2 runs; the result equals an uninterrupted run
        var r = o
        r.resume = true
        let resumed = try CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true), options: r).run()
        XCTAssertEqual(resumed.report.shots.map(\.shot), [1, 2])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.partial"))
        var full = o
        full.output = dir + "/full"
        _ = try CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true), options: full).run()
        let a = try loadModel(ModelFiles.open(dir + "/out")), b = try loadModel(ModelFiles.open(dir + "/full"))
        for n in a.blockLinearNames { XCTAssertEqual(a.linear(n)?.denseWeight.data, b.linear(n)?.denseWeight.data, n) }
        // an existing output is not overwritten without --overwrite
        XCTAssertThrowsError(try CompressionJob(opened: opened, options: o).run()) { XCTAssertTrue("\($0)".contains("overwrite")) }
    }

    func testMissingCalibrationIsAClearError() throws {
        let opened = try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true)
        var o = options(Fixtures.tempDir() + "/x")
        o.calibFile = nil
        XCTAssertThrowsError(try CompressionJob(opened: opened, options: o).run()) {
            XCTAssertEqual($0 as? CompressionJobError, .noCalibrationSource(needs: .method, method: .surgeon))
            XCTAssertTrue("\($0)".contains("calibFile"), "\($0)")
        }
        o.recipe.method = .magnitude
        XCTAssertNoThrow(try CompressionJob(opened: opened, options: o).run())
    }

    /// `resume` compares the whole recipe: a checkpoint made with another damp_g is refused, naming the
    /// field and both values, and kept; the same recipe resumes after the checkpoint's shot.
    func testResumeRefusesAChangedRecipe() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let open = { try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true) }
        // a 2-shot job interrupted before its output is written: the checkpoint after shot 1 stays
        let o = options(dir + "/out")
        let first = CompressionJob(opened: try open(), options: o)
        first.log = { if $0.hasPrefix("shot 2/2") { try? FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true) } }
        XCTAssertThrowsError(try first.run())
        try FileManager.default.removeItem(atPath: dir + "/out")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out.partial/state.json"))

        var changed = o
        changed.resume = true
        changed.recipe.dampG = 0.1
        changed.recipe.fisher = .sampled(2, seed: 100)
        XCTAssertThrowsError(try CompressionJob(opened: try open(), options: changed).run()) { error in
            guard case .recipeMismatch(_, let diffs)? = error as? CompressionJobError else { return XCTFail("\(error)") }
            XCTAssertEqual(diffs.map(\.field), [.dampG, .fisher])
            let message = "\(error)"
            XCTAssertTrue(message.contains("damp_g: checkpoint 0.01, now 0.1"), message)
            XCTAssertTrue(message.contains("fisher: checkpoint empirical, now sampled(k=2, seed=100)"), message)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/out.partial/state.json"), "a refused resume keeps the checkpoint")

        var same = o
        same.resume = true
        var lines: [String] = []
        let job = CompressionJob(opened: try open(), options: same)
        job.log = { lines.append($0) }
        let resumed = try job.run()
        XCTAssertTrue(lines.contains { $0.hasPrefix("resuming after shot 1 of 2") }, "\(lines)")
        XCTAssertEqual(resumed.report.shots.map(\.shot), [1, 2])
        XCTAssertEqual(resumed.report.recipe, try CompressionReport.read(path: dir + "/out/compression.json").recipe)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.partial"))
    }
}
