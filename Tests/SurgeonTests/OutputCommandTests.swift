import XCTest
import ArgumentParser
import Runtime
import Surgery
import Toolkit
import TestSupport
@testable import surgeon

/// compress and calibrate refuse unsafe outputs and no-op or invalid arguments before loading the
/// model (issue 20, defects 4, 5 and 8, "All argument validation before loading the model").
final class OutputCommandTests: XCTestCase {
    static let root: URL = {
        var u = URL(fileURLWithPath: #filePath)
        while u.path != "/" && !FileManager.default.fileExists(atPath: u.appendingPathComponent("Package.swift").path) {
            u.deleteLastPathComponent()
        }
        return u
    }()
    static let stories = root.appendingPathComponent("../shared/fixtures/stories260K").standardized.path
    static let binary = root.appendingPathComponent(".build/debug/surgeon").path

    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "surgeon-test-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// The message ArgumentParser prints for a refused compress / calibrate command line.
    func refusal(compress args: [String], file: StaticString = #filePath, line: UInt = #line) -> String {
        compressRefusal(args, file: file, line: line)
    }

    func refusal(calibrate args: [String], file: StaticString = #filePath, line: UInt = #line) -> String {
        parseRefusal(CalibrateCommand.self, args, file: file, line: line)
    }

    /// Defect 8: `--sparsity 0` ran a whole compression and then failed on `-inf`; now it, and the
    /// other no-op or invalid combinations, are refused while parsing (the model path does not exist,
    /// so nothing could have been loaded).
    func testNoOpAndInvalidCompressArgumentsAreRefusedBeforeLoading() {
        let base = ["-m", "/no/such/model", "-o", "/tmp/never-written"]
        let cases: [([String], String)] = [
            (["--sparsity", "0"], "--sparsity"),
            (["--sparsity", "1"], "--sparsity"),
            (["--sparsity", "0.3", "--method", "magnitude", "--fisher", "sampled:2"], "--fisher sampled:2 has no effect"),
            (["--sparsity", "0.3", "--method", "kobd", "--updates", "none"], "--updates none has no effect"),
            (["--sparsity", "0.3", "--structure", "unstructured", "--updates", "independent"], "--updates independent has no effect"),
            (["--sparsity", "0.3", "--group-entries", "100"], "--group-entries has no effect"),
            (["--sparsity", "0.3", "--structure", "unstructured", "--method", "wanda", "--shots", "3"], "--shots must be 1"),
            (["--sparsity", "0.3", "--eval-every", "2"], "give --eval-file"),
            (["--sparsity", "0.3", "--fisher", "sampled:x"], "--fisher must be"),
            (["--sparsity", "0.3", "--method", "sparsegpt"], "--structure"),
        ]
        for (args, expected) in cases {
            let message = refusal(compress: base + args)
            XCTAssertTrue(message.contains(expected), "\(args): \(message)")
        }
        // the meaningful combinations still parse
        XCTAssertNoThrow(try CompressCommand.parse(base + ["--sparsity", "0.3", "--updates", "independent", "--fisher", "sampled:2"]))
        XCTAssertNoThrow(try CompressCommand.parse(base + ["--sparsity", "0.5", "--structure", "unstructured", "--group-entries", "100"]))
        XCTAssertNoThrow(try CompressCommand.parse(base + ["--sparsity", "0.3", "--eval-file", "/x", "--eval-every", "2"]))
    }

    func testCalibrateFisherSyntaxIsRefusedBeforeLoading() {
        let message = refusal(calibrate: ["-m", "/no/such/model", "--ids-file", "/x", "-o", "/tmp/f", "--fisher", "sampled:0"])
        XCTAssertTrue(message.contains("--fisher must be"), message)
    }

    /// `prepareOutput` runs before the model loads: an output inside -m is refused even when -m
    /// holds no model at all (loading it would have failed with another error).
    func testOutputPlacementIsCheckedBeforeLoading() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        let compress = try CompressCommand.parse(["-m", dir + "/empty", "--sparsity", "0.2", "-o", dir + "/empty", "--overwrite"])
        XCTAssertThrowsError(try compress.prepareOutput()) {
            XCTAssertTrue("\($0)".hasPrefix("-o \(dir)/empty is the model given with -m"), "\($0)")
            XCTAssertTrue("\($0)".contains("--overwrite does not allow this"), "\($0)")
        }
        let calibrate = try CalibrateCommand.parse(["-m", dir + "/empty", "--ids-file", "/x", "-o", dir + "/empty/factors.safetensors"])
        XCTAssertThrowsError(try calibrate.prepareOutput()) { XCTAssertTrue("\($0)".contains("is the model given with -m"), "\($0)") }
        // nor over another input: the calibration text
        _ = FileManager.default.createFile(atPath: dir + "/text.txt", contents: Data("text".utf8))
        let overText = try CalibrateCommand.parse(["-m", dir + "/empty", "--calib", dir + "/text.txt", "-o", dir + "/text.txt", "--overwrite"])
        XCTAssertThrowsError(try overText.prepareOutput()) { XCTAssertTrue("\($0)".contains("is the file given with --calib"), "\($0)") }
        _ = FileManager.default.createFile(atPath: dir + "/factors.safetensors", contents: Data("old".utf8))
        let existing = try CalibrateCommand.parse(["-m", dir + "/empty", "--ids-file", "/x", "-o", dir + "/factors.safetensors"])
        XCTAssertThrowsError(try existing.prepareOutput()) {
            XCTAssertEqual("\($0)", "\(dir)/factors.safetensors already exists; choose another -o or pass --overwrite")
        }
        let overwriting = try CalibrateCommand.parse(["-m", dir + "/empty", "--ids-file", "/x", "-o", dir + "/factors.safetensors", "--overwrite"])
        XCTAssertNoThrow(try overwriting.prepareOutput())
        _ = FileManager.default.createFile(atPath: dir + "/blocker", contents: nil)
        let blocked = try CompressCommand.parse(["-m", dir + "/empty", "--sparsity", "0.2", "-o", dir + "/blocker/out"])
        XCTAssertThrowsError(try blocked.prepareOutput()) {
            XCTAssertTrue("\($0)".hasPrefix("cannot write -o \(dir)/blocker/out:"), "\($0)")
            XCTAssertTrue("\($0)".contains("blocker is not a directory"), "\($0)")
        }
    }

    /// Runs the built binary; returns its exit status and standard error.
    func surgeon(_ args: [String]) throws -> (status: Int32, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            XCTFail("\(Self.binary) is missing: build with swift build --build-tests")
            return (-1, "")
        }
        let p = try SurgeonProcess.run(args)
        return (p.status, p.stderr)
    }

    func snapshot(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        }
        return out
    }

    /// Defect 4 end to end: `compress -m X -o X --overwrite` (and -o inside X) exit non-zero and leave X as it was.
    func testCompressNeverWritesOverItsInputModel() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = dir + "/model"
        try FileManager.default.copyItem(atPath: Self.stories, toPath: model)
        try FileManager.default.createSymbolicLink(atPath: dir + "/alias", withDestinationPath: model)
        let before = try snapshot(model)
        for output in [model, dir + "/alias", model + "/pruned"] {
            let r = try surgeon(["compress", "-m", model, "--method", "magnitude", "--sparsity", "0.2", "-o", output, "--overwrite"])
            XCTAssertNotEqual(r.status, 0, output)
            XCTAssertTrue(r.stderr.contains("is the model given with -m"), r.stderr)
        }
        XCTAssertEqual(try snapshot(model), before)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["model", "alias"])
    }

    /// Defect 5 end to end: calibrate refuses an existing output without --overwrite, writes
    /// atomically (no temporary left), and replaces the file with --overwrite.
    func testCalibrateRefusesAnExistingOutputAndWritesAtomically() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ids = dir + "/ids.json"
        try Data("[[1, 403, 407, 261, 378, 432, 383, 290]]".utf8).write(to: URL(fileURLWithPath: ids))
        let out = dir + "/factors.safetensors"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: out))
        let args = ["calibrate", "-m", Self.stories, "--ids-file", ids, "--seqlen", "8", "-o", out]
        let refused = try surgeon(args)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("already exists; choose another -o or pass --overwrite"), refused.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), Data("keep me".utf8))
        let written = try surgeon(args + ["--overwrite"])
        XCTAssertEqual(written.status, 0, written.stderr)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir)), ["ids.json", "factors.safetensors"])
        let f = try SafetensorsFile(path: out)
        XCTAssertTrue(f.tensorNames.contains { $0.hasPrefix("A.") } && f.tensorNames.contains { $0.hasPrefix("G.") })
    }

    /// Defect 8 end to end: refused at once with a message naming --sparsity, nothing loaded or written.
    func testSparsityZeroIsRefusedByTheBinary() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try surgeon(["compress", "-m", Self.stories, "--method", "magnitude", "--sparsity", "0", "-o", dir + "/out"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--sparsity"), r.stderr)
        XCTAssertFalse(r.stderr.contains("EncodingError"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }
}

/// The schedule flags (issue 21): the default recipe, and refusals before loading.
final class ScheduleFlagTests: XCTestCase {
    let base = ["-m", "/no/such/model", "-o", "/tmp/never-written", "--calib", "/x"]

    func testDefaultRecipeIsAdaptiveWithHeldOutWindowsAndAGuard() throws {
        let r = try CompressCommand.parse(base + ["--sparsity", "0.1"]).recipe()
        XCTAssertEqual(r.schedule, .adaptive)
        XCTAssertEqual(r.shots, 4)
        XCTAssertEqual(r.adaptive, DefaultSchedule.adaptive(.rowsColumns))
        XCTAssertEqual(r.heldOut, 4)
        XCTAssertEqual(r.maxLossRise, 1.0)
        // the paper's schedule, as is
        let paper = try CompressCommand.parse(base + ["--sparsity", "0.3", "--schedule", "linear", "--shots", "40"]).recipe()
        XCTAssertEqual(paper.schedule, .linear)
        XCTAssertNil(paper.adaptive)
        XCTAssertEqual(paper.shots, 40)
        // an explicit shot count is the paper's schedule; with --schedule adaptive it sets the first step
        let four = try CompressCommand.parse(base + ["--sparsity", "0.2", "--shots", "4"]).recipe()
        XCTAssertEqual(four.schedule, .linear)
        XCTAssertNil(four.adaptive)
        XCTAssertEqual(four.shots, 4)
        XCTAssertNil(four.curvatureWindows, "every window every shot")
        let eight = try CompressCommand.parse(base + ["--sparsity", "0.2", "--shots", "8", "--schedule", "adaptive"]).recipe()
        XCTAssertEqual(eight.schedule, .adaptive)
        XCTAssertEqual(eight.adaptive?.firstStep ?? 0, 0.025, accuracy: 1e-12)
        // one-shot methods: linear, one shot, still guarded
        let sgpt = try CompressCommand.parse(base + ["--sparsity", "0.5", "--structure", "unstructured", "--method", "sparsegpt"]).recipe()
        XCTAssertNil(sgpt.schedule)
        XCTAssertEqual(sgpt.shots, 1)
        XCTAssertEqual(sgpt.maxLossRise, 1.0)
        // the surgeon's element structures: 10% steps, 500 entries per joint solve
        let u = try CompressCommand.parse(base + ["--sparsity", "0.5", "--structure", "unstructured"]).recipe()
        XCTAssertEqual(u.shots, 5)
        XCTAssertEqual(u.groupEntries, 500)
    }

    /// The default surgeon run reads half the windows per shot and lands on every 10%; the paper's
    /// linear schedule and the methods without curvature read every window.
    func testCurvatureWindowsAndGridOfTheDefaultRecipe() throws {
        let r = try CompressCommand.parse(base + ["--sparsity", "0.3"]).recipe()
        XCTAssertEqual(r.curvatureWindows, 16)
        XCTAssertEqual(r.adaptive?.grid, 0.1)
        XCTAssertEqual(try CompressCommand.parse(base + ["--sparsity", "0.3", "--nsamples", "9"]).recipe().curvatureWindows, 5)
        XCTAssertNil(try CompressCommand.parse(base + ["--sparsity", "0.3", "--schedule", "linear"]).recipe().curvatureWindows)
        XCTAssertNil(try CompressCommand.parse(base + ["--sparsity", "0.3", "--method", "magnitude"]).recipe().curvatureWindows)
        let linear = try CompressCommand.parse(base + ["--sparsity", "0.3", "--schedule", "linear", "--curvature-windows", "8"]).recipe()
        XCTAssertEqual(linear.curvatureWindows, 8)
        let cases: [([String], String)] = [
            (base + ["--sparsity", "0.1", "--curvature-windows", "0"], "--curvature-windows must be ≥ 1"),
            (base + ["--sparsity", "0.1", "--curvature-windows", "33"], "more than the --nsamples 32"),
            (base + ["--sparsity", "0.1", "--method", "magnitude", "--curvature-windows", "4"], "--curvature-windows has no effect"),
        ]
        for (args, expected) in cases {
            let message = compressRefusal(args)
            XCTAssertTrue(message.contains(expected), "\(args): \(message)")
        }
    }

    /// --dry-run reads the config only and writes nothing, not even the output directory.
    func testDryRunWritesNothing() throws {
        let out = Fixtures.tempDir() + "/never"
        var c = try CompressCommand.parse(["-m", Fixtures.fixture("tiny-llama"), "-o", out, "--sparsity", "0.2", "--dry-run", "--json"])
        try c.run()
        c = try CompressCommand.parse(["-m", Fixtures.fixture("tiny-llama") + "/config.json", "-o", out, "--sparsity", "0.2", "--dry-run"])
        try c.run()
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testScheduleFlagsAreRefusedBeforeLoading() {
        let cases: [([String], String)] = [
            (base + ["--sparsity", "0.1", "--schedule", "cosine"], "--schedule must be linear or adaptive"),
            (base + ["--sparsity", "0.1", "--held-out=-1"], "--held-out must be ≥ 0"),
            (base + ["--sparsity", "0.1", "--held-out", "0", "--max-loss-rise", "2", "--schedule", "linear"], "--max-loss-rise has no effect"),
            (base + ["--sparsity", "0.1", "--held-out", "0"], "--held-out"),
            (["-m", "/m", "-o", "/o", "--sparsity", "0.1", "--method", "magnitude", "--strict"], "--strict checks the held-out loss"),
            (base + ["--sparsity", "0.5", "--structure", "unstructured", "--method", "wanda", "--schedule", "adaptive"], "--schedule adaptive has no effect"),
            (base + ["--sparsity", "0.1", "--max-loss-rise", "0"], "--max-loss-rise"),
        ]
        for (args, expected) in cases {
            let message = compressRefusal(args)
            XCTAssertTrue(message.contains(expected), "\(args): \(message)")
        }
    }
}

/// The message ArgumentParser prints for a refused compress command line.
func compressRefusal(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> String {
    parseRefusal(CompressCommand.self, args, file: file, line: line)
}

/// The message ArgumentParser prints for a refused command line of `command`.
func parseRefusal<C: ParsableCommand>(_ command: C.Type, _ args: [String], file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
        _ = try C.parse(args)
        XCTFail("accepted: \(args)", file: file, line: line)
        return ""
    } catch {
        return C.message(for: error)
    }
}
