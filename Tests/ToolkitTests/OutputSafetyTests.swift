import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// Output safety (issue 20, defects 4 and 5 and "Output safety"): the output is never the model
/// read, debris of dead runs is cleared, unwritable outputs are refused before any work, and a
/// failed write leaves nothing behind.
final class OutputSafetyTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// A writable copy of stories260K in a fresh directory.
    func modelCopy(in dir: String) throws -> String {
        let copy = dir + "/model"
        try FileManager.default.copyItem(atPath: Fixtures.fixture("stories260K"), toPath: copy)
        return copy
    }

    func contents(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return out
    }

    func testOutputEqualToOrInsideTheInputIsRefusedThroughSymlinks() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try modelCopy(in: dir)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: model)
        for output in [model, model + "/", model + "/out", model + "/a/b", dir + "/link", dir + "/link/out", dir + "/./model/../model"] {
            XCTAssertThrowsError(try OutputSafety.checkPlacement(output: output, inputs: [model]), output) {
                XCTAssertEqual($0 as? OutputError, .insideInput(output: output, input: model))
            }
            XCTAssertThrowsError(try OutputSafety.checkPlacement(output: model, inputs: [output]), "input \(output)")
        }
        // a model inside the output would be deleted by replacing the output
        XCTAssertThrowsError(try OutputSafety.checkPlacement(output: dir, inputs: [model])) {
            XCTAssertEqual($0 as? OutputError, .containsInput(output: dir, input: model))
        }
        // siblings, even sharing a prefix, are fine
        XCTAssertNoThrow(try OutputSafety.checkPlacement(output: model + "-pruned", inputs: [model]))
        XCTAssertNoThrow(try OutputSafety.checkPlacement(output: dir + "/out", inputs: [model, dir + "/link"]))
        // a .gguf given through a symlink is the file it points to
        let realGGUF = OutputSafety.resolved(Fixtures.smolGGUF)
        XCTAssertThrowsError(try OutputSafety.checkPlacement(output: realGGUF, inputs: [Fixtures.smolGGUF]))
        XCTAssertThrowsError(try OutputSafety.checkPlacement(output: Fixtures.smolGGUF, inputs: [realGGUF]))
    }

    /// Defect 4: `compress -m X -o X --overwrite` replaced the model with the output.
    func testCompressionOverItsOwnInputIsRefusedAndTheInputKept() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try modelCopy(in: dir)
        let before = try contents(model)
        let opened = try ModelLoader.open(model)
        for output in [model, model + "/pruned"] {
            var o = CompressionOptions(recipe: CompressionRecipe(method: .magnitude, structure: .rowsColumns, targetSparsity: 0.2, shots: 1,
                                                                 dampG: 0.01, dampA: 0.01), output: output)
            o.overwrite = true
            XCTAssertThrowsError(try CompressionJob(opened: opened, options: o).run()) {
                XCTAssertEqual($0 as? OutputError, .insideInput(output: output, input: model))
            }
        }
        XCTAssertEqual(try contents(model), before, "the input model is unchanged")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["model"])
    }

    func testStaleTemporariesOfDeadProcessesAreRemovedAndLiveOnesKept() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        let dead: Int32 = 2_147_483_646   // above any pid_max: kill(pid, 0) fails with ESRCH
        XCTAssertFalse(OutputSafety.isAlive(dead))
        XCTAssertTrue(OutputSafety.isAlive(getpid()))
        XCTAssertTrue(OutputSafety.isAlive(1))
        XCTAssertTrue(OutputSafety.isAlive(0), "0 names a process group, never treated as dead")
        try fm.createDirectory(atPath: dir + "/out.tmp-\(dead)/sub", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: dir + "/out.tmp-\(dead)/model.safetensors", contents: Data([1, 2, 3]))
        _ = fm.createFile(atPath: dir + "/out.tmp-\(dead - 1)", contents: Data([1]))          // a file (calibrate)
        try fm.createDirectory(atPath: dir + "/out.tmp-1", withIntermediateDirectories: true)   // a live process's
        try fm.createDirectory(atPath: dir + "/out.tmp-\(getpid())", withIntermediateDirectories: true)   // ours
        try fm.createDirectory(atPath: dir + "/other.tmp-\(dead)", withIntermediateDirectories: true)   // another output's
        _ = fm.createFile(atPath: dir + "/out.tmp-abc", contents: nil)
        let lines = OutputSafety.removeStaleTemporaries(of: dir + "/out")
        XCTAssertEqual(lines.count, 2, "\(lines)")
        XCTAssertEqual(Set(try fm.contentsOfDirectory(atPath: dir)),
                       ["out.tmp-1", "out.tmp-\(getpid())", "other.tmp-\(dead)", "out.tmp-abc"])

        // the previous output moved aside by a run that died before its rename is put back
        try fm.createDirectory(atPath: dir + "/prev.old-\(dead)", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: dir + "/prev.old-\(dead)/config.json", contents: Data("{}".utf8))
        OutputSafety.removeStaleTemporaries(of: dir + "/prev")
        XCTAssertTrue(fm.fileExists(atPath: dir + "/prev/config.json"))
        XCTAssertFalse(fm.fileExists(atPath: dir + "/prev.old-\(dead)"))
    }

    /// A compression job clears its output's and its checkpoint's stale temporaries before working.
    func testCompressionJobClearsStaleTemporaries() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/out.tmp-2147483646", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/out.partial.tmp-2147483645", withIntermediateDirectories: true)
        let o = CompressionOptions(recipe: CompressionRecipe(method: .magnitude, structure: .rowsColumns, targetSparsity: 0.2, shots: 2,
                                                             dampG: 0.01, dampA: 0.01), output: dir + "/out")
        var lines: [String] = []
        let job = CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K")), options: o)
        job.log = { lines.append($0) }
        _ = try job.run()
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir), ["out"])
        XCTAssertEqual(lines.filter { $0.hasPrefix("removed ") }.count, 2, "\(lines)")
    }

    /// Writability is checked before any work: a calibration file that does not exist is never reached.
    func testUnwritableOutputIsRefusedBeforeAnyWork() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: dir + "/blocker", contents: Data())
        XCTAssertThrowsError(try OutputSafety.checkWritable(output: dir + "/blocker/sub/out")) {
            XCTAssertEqual($0 as? OutputError, .notWritable(output: dir + "/blocker/sub/out", blocker: OutputSafety.resolved(dir + "/blocker"),
                                                            reason: "is not a directory"))
            XCTAssertTrue("\($0)".contains("blocker is not a directory"), "\($0)")
        }
        XCTAssertNoThrow(try OutputSafety.checkWritable(output: dir + "/new/sub/out"), "missing directories are created")
        var o = CompressionOptions(recipe: CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 1,
                                                             dampG: 0.01, dampA: 0.01), output: dir + "/blocker/out")
        o.calibFile = dir + "/no-such-calibration.txt"
        XCTAssertThrowsError(try CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("stories260K")), options: o).run()) {
            guard case .notWritable? = $0 as? OutputError else { return XCTFail("\($0)") }
        }
    }

    /// Defect 5 (the write half): a write that fails midway (a full disk) leaves neither a partial
    /// file nor its temporary, and an existing file stays as it was.
    func testFailedFileWriteLeavesNothingBehind() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        struct DiskFull: Error {}
        let path = dir + "/factors.safetensors"
        XCTAssertThrowsError(try writeAtomically(path, overwrite: false) { tmp in
            try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: tmp))
            throw DiskFull()
        })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try writeAtomically(path, overwrite: true) { tmp in
            try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: tmp))
            throw DiskFull()
        })
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data("old".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["factors.safetensors"])
        XCTAssertThrowsError(try OutputSafety.prepare(output: path, inputs: [Fixtures.fixture("stories260K")], overwrite: false)) {
            XCTAssertEqual($0 as? ModelError, .outputExists(path: path))
        }
    }
}
