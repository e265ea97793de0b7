import Foundation
import XCTest
import Runtime
import Surgery
import TestSupport
@testable import Toolkit

/// `mpirun -np 2 surgeon compress` (layers owned by ranks, costs gathered, weights shared) against the
/// one-process run on the fixtures: the same structures (or zeros) removed, the same weights within 1e-4.
final class MPICompressTests: XCTestCase {
    func compressArgs(_ model: String, ids: String, out: String, shots: Int = 2, extra: [String] = []) -> [String] {
        ["compress", "-m", model, "--ids-file", ids, "--seqlen", "16", "--structure", "rows-columns", "--sparsity", "0.2",
         "--shots", String(shots), "--held-out", "0", "-o", out, "-t", "1"] + extra
    }

    /// The removed rows and columns of two outputs are equal, so are the zeros of every block linear,
    /// and its weights (and bias) agree within 1e-4 relative Frobenius. `elements`: an unstructured or
    /// 2:4 run (weights zeroed, no rows or columns removed), else a rows-columns one.
    func assertSameSurgery(_ a: String, _ b: String, elements: Bool = false,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let ra = try CompressionReport.read(path: a + "/compression.json"), rb = try CompressionReport.read(path: b + "/compression.json")
        XCTAssertEqual(ra.layers.map(\.name), rb.layers.map(\.name), file: file, line: line)
        var removed = 0
        for (x, y) in zip(ra.layers, rb.layers) {
            XCTAssertEqual(x.removedRows, y.removedRows, x.name, file: file, line: line)
            XCTAssertEqual(x.removedCols, y.removedCols, x.name, file: file, line: line)
            removed += x.removedRows.count + x.removedCols.count
        }
        XCTAssertTrue(elements ? removed == 0 : removed > 10, "removed rows and columns: \(removed)", file: file, line: line)
        let ma = try ModelLoader.model(a, dtype: nil), mb = try ModelLoader.model(b, dtype: nil)
        var zeros = 0
        for n in ma.blockLinearNames {
            let la = try XCTUnwrap(ma.linear(n)), lb = try XCTUnwrap(mb.linear(n))
            let wa = la.denseWeight.data, wb = lb.denseWeight.data   // (densified once: a computed copy)
            XCTAssertLessThanOrEqual(relativeFrobenius(wa, wb), 1e-4, n, file: file, line: line)
            let za = wa.indices.filter { wa[$0] == 0 }
            XCTAssertEqual(za, wb.indices.filter { wb[$0] == 0 }, "\(n): the zeros", file: file, line: line)
            zeros += za.count
            if let ba = la.bias, let bb = lb.bias { XCTAssertLessThanOrEqual(relativeFrobenius(ba, bb), 1e-4, n, file: file, line: line) }
            XCTAssertEqual(la.bias == nil, lb.bias == nil, n, file: file, line: line)
        }
        if elements { XCTAssertGreaterThan(zeros, 1000, "the run zeroed weights", file: file, line: line) }
    }

    /// tiny-llama (shared A of q/k/v and gate/up) and tiny-opt (biases): 2 ranks and 3 ranks remove
    /// what one process removes; compression.json records the ranks; both ranks own layers.
    func testRanksRemoveWhatOneProcessRemoves() throws {
        guard MPIRun.mpirun != nil else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let ids = try MPIRun.writeWindows(6)
        for fixture in ["tiny-llama", "tiny-opt"] {
            let model = Fixtures.fixture(fixture), dir = Fixtures.tempDir()
            let one = try SurgeonProcess.run(compressArgs(model, ids: ids, out: dir + "/one"))
            XCTAssertEqual(one.status, 0, one.stderr)
            for n in [2, 3] {
                let (status, stderr) = try MPIRun.run(n, compressArgs(model, ids: ids, out: dir + "/ranks\(n)"))
                XCTAssertEqual(status, 0, stderr)
                XCTAssertTrue(stderr.contains("layers over \(n) ranks"), stderr)
                XCTAssertTrue(stderr.contains("factors held per rank after the reduction"), stderr)
                XCTAssertEqual(try CompressionReport.read(path: dir + "/ranks\(n)/compression.json").ranks, n)
                try assertSameSurgery(dir + "/one", dir + "/ranks\(n)")
            }
            XCTAssertNil(try CompressionReport.read(path: dir + "/one/compression.json").ranks)
        }
    }

    /// A checkpoint written by one process after shot 1 is resumed by 2 ranks, which end where the
    /// uninterrupted one-process run ends.
    func testResumeWithAnotherNumberOfRanks() throws {
        guard MPIRun.mpirun != nil else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let ids = try MPIRun.writeWindows(6), model = Fixtures.fixture("tiny-llama"), dir = Fixtures.tempDir()
        let full = try SurgeonProcess.run(compressArgs(model, ids: ids, out: dir + "/full"))
        XCTAssertEqual(full.status, 0, full.stderr)
        // shot 1 in this process, checkpointed as the CLI's job does
        let opened = try ModelLoader.open(model, requireTokenizer: false)
        var o = CompressionOptions(recipe: CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2,
                                                             dampG: DefaultDamping.forStructure(.rowsColumns).g,
                                                             dampA: DefaultDamping.forStructure(.rowsColumns).a, updates: .joint,
                                                             schedule: .linear),
                                   output: dir + "/resumed")
        o.idsFile = ids
        o.seqlen = 16
        let job = CompressionJob(opened: opened, options: o)
        let (cal, recipe) = try job.loadCalibration()
        let comp = try Compressor(model: opened.model, recipe: recipe, calibration: cal)
        _ = try comp.runShot(1)
        try job.saveCheckpoint(model: opened.model, state: comp.state, recipe: comp.recipe, source: SourceIdentity.of(opened.files))
        let (status, stderr) = try MPIRun.run(2, compressArgs(model, ids: ids, out: dir + "/resumed", extra: ["--resume"]))
        XCTAssertEqual(status, 0, stderr)
        XCTAssertTrue(stderr.contains("resuming after shot 1 of 2"), stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/resumed.partial"), "the finished run removes its checkpoint")
        try assertSameSurgery(dir + "/full", dir + "/resumed")
    }

    /// A rank killed during shot 2 stops the job: mpirun names the rank, rank 0 writes no output,
    /// and the checkpoint of shot 1 survives; one process resumes it and ends where the
    /// uninterrupted run ends. (Enough windows that a shot lasts seconds, the kill lands in shot 2.)
    func testAKilledRankStopsTheJobAndTheCheckpointOfTheLastShotSurvives() throws {
        guard MPIRun.mpirun != nil else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let ids = try MPIRun.writeWindows(160), model = Fixtures.fixture("tiny-llama"), dir = Fixtures.tempDir()
        let out = dir + "/killed", token = UUID().uuidString, marker = "SURGEON_TEST_JOB=\(token)"
        var killed: pid_t?
        let (status, stderr) = try MPIRun.run(2, compressArgs(model, ids: ids, out: out), environment: ["SURGEON_TEST_JOB": token]) {
            guard killed == nil, FileManager.default.fileExists(atPath: out + ".partial/state.json"),
                  let pid = MPIRun.pid(ofRank: 1, marker: marker) else { return }
            kill(pid, SIGKILL)
            killed = pid
        }
        XCTAssertNotNil(killed, "the job ended before shot 1's checkpoint was seen: \(stderr)")
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(stderr.contains("rank 1") && stderr.contains("signal 9"), stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output after a failed run")
        let file = try CheckpointFile.read(directory: out + ".partial")
        XCTAssertEqual(file.state.completedShots, 1)
        let resumed = try SurgeonProcess.run(compressArgs(model, ids: ids, out: out, extra: ["--resume"]))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming after shot 1 of 2"), resumed.stderr)
        let full = try SurgeonProcess.run(compressArgs(model, ids: ids, out: dir + "/full"))
        XCTAssertEqual(full.status, 0, full.stderr)
        try assertSameSurgery(dir + "/full", out)
    }

    /// Unstructured and 2:4 (the surgeon: costs, one global selection whose counts are summed over
    /// the ranks, grouped updates by the owners) on 2 ranks remove the weights one process removes.
    func testElementStructuresRemoveWhatOneProcessRemoves() throws {
        guard MPIRun.mpirun != nil else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let ids = try MPIRun.writeWindows(6), model = Fixtures.fixture("tiny-llama")
        for structure in ["unstructured", "2:4"] {
            let dir = Fixtures.tempDir()
            var args = compressArgs(model, ids: ids, out: dir + "/one")
            args[args.firstIndex(of: "rows-columns") ?? 0] = structure
            args[args.firstIndex(of: "0.2") ?? 0] = "0.5"
            let one = try SurgeonProcess.run(args)
            XCTAssertEqual(one.status, 0, one.stderr)
            args[args.firstIndex(of: dir + "/one") ?? 0] = dir + "/two"
            let (status, stderr) = try MPIRun.run(2, args)
            XCTAssertEqual(status, 0, stderr)
            XCTAssertTrue(stderr.contains("layers over 2 ranks"), stderr)
            try assertSameSurgery(dir + "/one", dir + "/two", elements: true)
        }
    }

    /// What does not run across ranks yet is refused with the flag to change, on rank 0, and writes nothing.
    func testLayerwiseMethodsAreRefusedAcrossRanks() throws {
        guard MPIRun.mpirun != nil else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let ids = try MPIRun.writeWindows(4), out = Fixtures.tempDir() + "/out"
        var args = compressArgs(Fixtures.fixture("tiny-llama"), ids: ids, out: out, shots: 1, extra: ["--method", "sparsegpt"])
        args[args.firstIndex(of: "rows-columns") ?? 0] = "unstructured"
        args[args.firstIndex(of: "0.2") ?? 0] = "0.5"
        let (status, stderr) = try MPIRun.run(2, args)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(stderr.contains("--method: sparsegpt prunes layer by layer in one process"), stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
