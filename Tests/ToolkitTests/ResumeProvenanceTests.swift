import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// Resume provenance (issue 20, defect 6): a checkpoint records the whole recipe and the source
/// model's identity; a resume with another calibration, another model or a damaged checkpoint is
/// refused naming what differs, and the checkpoint is kept.
final class ResumeProvenanceTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // fed in uneven pieces across block boundaries: the same digest as at once
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        var s = SHA256()
        var i = 0, step = 1
        while i < million.count {
            s.update(Array(million[i..<min(i + step, million.count)]))
            i += step
            step = step % 97 + 13
        }
        XCTAssertEqual(s.hexDigest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// A copy of stories260K in `dir` (the model a checkpoint is made from, or a changed one).
    func copyModel(to path: String) throws -> String {
        try FileManager.default.copyItem(atPath: Fixtures.fixture("stories260K"), toPath: path)
        return path
    }

    func testSourceIdentityTellsModelsApart() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try SourceIdentity.of(ModelFiles.open(Fixtures.fixture("stories260K")))
        XCTAssertEqual(a.files.map(\.name), ["config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json",
                                             "tokenizer.model", "tokenizer_config.json"])
        let copy = try copyModel(to: dir + "/moved")
        XCTAssertEqual(try SourceIdentity.of(ModelFiles.open(copy)), a, "a moved copy is the same model")
        // one weight changed in place: same size, other contents
        let weights = URL(fileURLWithPath: copy + "/model.safetensors")
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: weights)
        let b = try SourceIdentity.of(ModelFiles.open(copy))
        XCTAssertEqual(b.differences(from: a).map(\.key), ["model.safetensors contents"])
        XCTAssertEqual(a.differences(from: a), [])
        // the sampled blocks of a large file see a change far beyond the head, and at its very end
        let big = dir + "/big.bin"
        var data = Data(repeating: 1, count: 5 << 20)
        try data.write(to: URL(fileURLWithPath: big))
        var last = try SourceIdentity.fingerprint(big)
        let rest = data.count - SourceIdentity.headBytes
        for i in [SourceIdentity.headBytes + (rest - SourceIdentity.sampleBytes) / (SourceIdentity.samples - 1) * 3 + 10, data.count - 1] {
            data[i] = 2
            try data.write(to: URL(fileURLWithPath: big))
            let now = try SourceIdentity.fingerprint(big)
            XCTAssertNotEqual(now.sha256, last.sha256, "byte \(i)")
            XCTAssertEqual(now.size, 5 << 20)
            last = now
        }
    }

    func options(_ out: String, shots: Int = 3) -> CompressionOptions {
        var o = CompressionOptions(recipe: CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: shots,
                                                             dampG: 0.01, dampA: 0.01, updates: .joint),
                                   output: out)
        o.calibFile = Fixtures.wikiValid
        o.nsamples = 2
        o.seqlen = 32
        return o
    }

    /// A run calibrated on `windows` windows of token ids written to `dir/ids.json` (no text to
    /// tokenize on each of the many resumes), 2 shots unless said.
    func idsOptions(_ out: String, windows: Int, in dir: String, shots: Int = 2) throws -> CompressionOptions {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var o = options(out, shots: shots)
        o.calibFile = nil
        o.idsFile = dir + "/ids.json"
        let ids = (0..<windows).map { w in (0..<24).map { (w * 24 + $0) * 37 % 500 + 3 } }
        try JSONSerialization.data(withJSONObject: ids).write(to: URL(fileURLWithPath: dir + "/ids.json"))
        return o
    }

    /// Recipes differing in the calibration text, windows, seed, damping or update mode name each
    /// field (the comparison the job runs on resume).
    func testRecipeDifferencesNameEveryCalibrationAndSolverField() {
        let calibration = CalibrationRecord(file: "wiki.valid.raw", nsamples: 32, seqlen: 512, seed: 100, offsets: [1, 2])
        let a = CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2, dampG: 0.01, dampA: 0.01,
                                  updates: .joint, calibration: calibration)
        var b = a
        b.calibration = CalibrationRecord(file: "wiki.test.raw", nsamples: 16, seqlen: 512, seed: 7, offsets: [1, 2])
        b.dampA = 0.1
        b.updates = .independent
        XCTAssertEqual(b.differences(from: a).map(\.key),
                       ["damp_a", "updates", "calibration.file", "calibration.nsamples", "calibration.seed"])
        XCTAssertEqual(a.differences(from: a), [])
    }

    /// Shot 1 of `o` on `model`, checkpointed as an interrupted run leaves it.
    func checkpoint(_ o: CompressionOptions, model: String) throws {
        let job = CompressionJob(opened: try ModelLoader.open(model, requireTokenizer: true), options: o)
        let (cal, recipe) = try job.loadCalibration()
        let comp = try Compressor(model: job.opened.model, recipe: recipe, calibration: cal)
        _ = try comp.runShot(1)
        try job.saveCheckpoint(model: job.opened.model, state: comp.state, recipe: comp.recipe,
                               source: SourceIdentity.of(job.opened.files))
    }

    func resume(_ o: CompressionOptions, model: String) throws -> CompressionSummary {
        var r = o
        r.resume = true
        return try CompressionJob(opened: try ModelLoader.open(model, requireTokenizer: true), options: r).run()
    }

    func testResumeRefusesAnotherCalibrationOrSourceModel() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try copyModel(to: dir + "/model")
        let o = try idsOptions(dir + "/out", windows: 2, in: dir)
        try checkpoint(o, model: model)
        let state = dir + "/out.partial/state.json"
        let saved = try Data(contentsOf: URL(fileURLWithPath: state))
        let recorded = try JSONDecoder().decode(CheckpointFile.self, from: saved)
        XCTAssertEqual(recorded.source, try SourceIdentity.of(ModelFiles.open(model)))
        XCTAssertEqual(recorded.recipe.calibration?.nsamples, 2)

        // other calibration windows (another file, another count): named, both values
        let other = try idsOptions(dir + "/out", windows: 3, in: dir + "/other")
        XCTAssertThrowsError(try resume(other, model: model)) { error in
            guard case .recipeMismatch(_, let diffs)? = error as? CompressionJobError else { return XCTFail("\(error)") }
            XCTAssertEqual(diffs.map(\.key), ["calibration.file", "calibration.nsamples", "calibration.offsets"])
            XCTAssertTrue("\(error)".contains("calibration.nsamples: checkpoint 2, now 3"), "\(error)")
        }

        // another source model: the same architecture with one weight changed
        let changed = try copyModel(to: dir + "/changed")
        let weights = URL(fileURLWithPath: changed + "/model.safetensors")
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: weights)
        XCTAssertThrowsError(try resume(o, model: changed)) { error in
            guard case .sourceMismatch(_, let diffs)? = error as? CompressionJobError else { return XCTFail("\(error)") }
            XCTAssertEqual(diffs.map(\.key), ["model.safetensors contents"])
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out"))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: state)), saved, "a refused resume keeps the checkpoint")

        // a checkpoint that records no source (an older version's) is refused too
        var old = try JSONSerialization.jsonObject(with: saved) as? [String: Any] ?? [:]
        old["source"] = nil
        try JSONSerialization.data(withJSONObject: old).write(to: URL(fileURLWithPath: state))
        XCTAssertThrowsError(try resume(o, model: model)) {
            XCTAssertEqual($0 as? CompressionJobError, .sourceUnknown(checkpoint: dir + "/out.partial"))
        }

        // the same model (moved) and recipe resume
        try saved.write(to: URL(fileURLWithPath: state))
        try FileManager.default.moveItem(atPath: model, toPath: dir + "/moved")
        let resumed = try resume(o, model: dir + "/moved")
        XCTAssertEqual(resumed.report.shots.map(\.shot), [1, 2])
    }

    /// A hand-edited checkpoint: `completed_shots` past the end ("resumes after shot 99 of 4" and
    /// wrote a model at a tenth of the target), reports out of step, removed indices out of range.
    func testResumeRefusesADamagedCheckpoint() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let o = try idsOptions(dir + "/out", windows: 2, in: dir, shots: 3)
        let model = Fixtures.fixture("stories260K")
        try checkpoint(o, model: model)
        let state = URL(fileURLWithPath: dir + "/out.partial/state.json")
        let saved = try Data(contentsOf: state)
        func edit(_ change: (inout [String: Any]) -> Void) throws {
            var json = try JSONSerialization.jsonObject(with: saved) as? [String: Any] ?? [:]
            var s = json["state"] as? [String: Any] ?? [:]
            change(&s)
            json["state"] = s
            try JSONSerialization.data(withJSONObject: json).write(to: state)
        }
        func refused(_ field: String, _ line: UInt = #line) {
            XCTAssertThrowsError(try resume(o, model: model), line: line) { error in
                guard case .badCheckpoint(_, let f, _)? = error as? CompressionJobError else { return XCTFail("\(error)", line: line) }
                XCTAssertEqual(f, field, "\(error)", line: line)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out"), line: line)
        }
        try edit { $0["completed_shots"] = 99 }
        refused("completed_shots")
        try edit { $0["completed_shots"] = 3 }
        refused("completed_shots")
        try edit { $0["completed_shots"] = -1 }
        refused("completed_shots")
        try edit { $0["completed_shots"] = 2 }
        refused("shots")
        try edit { s in
            var shots = s["shots"] as? [[String: Any]] ?? []
            shots[0]["shot"] = 2
            s["shots"] = shots
        }
        refused("shots[0].shot")
        let layer = try ModelLoader.open(model).model.blockLinearNames[0]
        try edit { $0["removed_rows"] = [layer: [0, 100_000]] }
        refused("removed_rows.\(layer)")
        try edit { $0["removed_cols"] = [layer: [1, 1]] }
        refused("removed_cols.\(layer)")
        try edit { $0["removed_rows"] = ["model.layers.99.mlp.up_proj": [0]] }
        refused("removed_rows.model.layers.99.mlp.up_proj")
        try Data("{\"recipe\": 1}".utf8).write(to: state)
        XCTAssertThrowsError(try resume(o, model: model)) {
            guard case .badCheckpoint? = $0 as? CompressionJobError else { return XCTFail("\($0)") }
        }
        // the untouched checkpoint resumes
        try saved.write(to: state)
        XCTAssertEqual(try resume(o, model: model).report.shots.map(\.shot), [1, 2, 3])
    }
}
