import Foundation
import XCTest
import Runtime
import Surgery
import TestSupport
@testable import surgeon

/// `mpirun -np 2 surgeon calibrate` against the one-process run, on the tiny-llama fixture.
final class MPICalibrateTests: XCTestCase {
    static var mpirun: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `mpirun -np N --oversubscribe surgeon ARGS` (as root too: the CI machine's user);
    /// returns the exit status and standard error.
    func mpirun(_ n: Int, _ args: [String], timeout: Double = 120) throws -> (Int32, String) {
        guard let mpirun = Self.mpirun else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let dir = Fixtures.tempDir()
        let errPath = dir + "/stderr"
        guard FileManager.default.createFile(atPath: errPath, contents: nil) else { throw XCTSkip("no temporary directory") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = ["-np", String(n), "--oversubscribe", SurgeonProcess.binary] + args
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try p.run()
        let end = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < end { usleep(20_000) }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
            XCTFail("mpirun \(args) did not end within \(timeout) s")
        }
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    func writeWindows(_ count: Int) throws -> String {
        let windows = (0..<count).map { s in (0..<16).map { (5 * s + 7 * $0 + 1) % 512 } }
        let path = Fixtures.tempDir() + "/windows.json"
        try JSONSerialization.data(withJSONObject: windows).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// 2 ranks share 5 windows; rank 0's file equals the one-process factors (1e-5 relative Frobenius
    /// per factor) and records the ranks.
    func testTwoRanksWriteTheOneProcessFactors() throws {
        guard Self.mpirun != nil else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let model = Fixtures.fixture("tiny-llama"), ids = try writeWindows(5), dir = Fixtures.tempDir()
        let one = try SurgeonProcess.run(["calibrate", "-m", model, "--ids-file", ids, "--seqlen", "16", "-o", dir + "/one.safetensors", "-t", "1"])
        XCTAssertEqual(one.status, 0, one.stderr)
        let (status, stderr) = try mpirun(2, ["calibrate", "-m", model, "--ids-file", ids, "--seqlen", "16", "-o", dir + "/two.safetensors", "-t", "1"])
        XCTAssertEqual(status, 0, stderr)
        XCTAssertTrue(stderr.contains("on 2 ranks"), stderr)
        let f1 = try KFACFactors.read(path: dir + "/one.safetensors"), f2 = try KFACFactors.read(path: dir + "/two.safetensors")
        XCTAssertEqual(f2.metadata["ranks"], "2")
        XCTAssertNil(f1.metadata["ranks"])
        let c = try FactorComparison(f2, reference: f1)
        XCTAssertEqual(c.relative.count, 2 * (try Fixtures.model("tiny-llama")).blockLinearNames.count)
        XCTAssertLessThanOrEqual(try XCTUnwrap(c.worst).value, 1e-5, "\(String(describing: c.worst))")
    }

    /// An error on the ranks stops the job with a message and a non-zero status, and writes nothing.
    func testAFailingJobStopsWithAMessageAndNoOutput() throws {
        guard Self.mpirun != nil else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let ids = try writeWindows(2), out = Fixtures.tempDir() + "/f.safetensors"
        let (status, stderr) = try mpirun(3, ["calibrate", "-m", Fixtures.fixture("tiny-llama"), "--ids-file", ids, "--seqlen", "16", "-o", out, "-t", "1"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(stderr.contains("3 ranks share 2 calibration windows"), stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}

/// Commands that do not run across ranks are refused under mpirun with several ranks (N copies would
/// write one output); calibrate, one rank, or no mpirun at all pass.
final class MPIRefusalTests: XCTestCase {
    func testOnlyCalibrateRunsAcrossRanks() {
        let two = ["OMPI_COMM_WORLD_SIZE": "2"]
        XCTAssertNotNil(mpiRefusal(["compress", "-m", "x"], environment: two))
        XCTAssertEqual(mpiRefusal(["convert", "-m", "x"], environment: two),
                       "surgeon convert does not run across MPI ranks (only calibrate does); run it as one process, without mpirun")
        XCTAssertNil(mpiRefusal(["calibrate", "-m", "x"], environment: two))
        XCTAssertNil(mpiRefusal(["compress", "-m", "x"], environment: ["OMPI_COMM_WORLD_SIZE": "1"]))
        XCTAssertNil(mpiRefusal(["compress", "-m", "x"], environment: [:]))
    }
}
