import Foundation
import XCTest
import Runtime
import Surgery
import TestSupport
@testable import surgeon

/// `mpirun -np 2 surgeon calibrate` against the one-process run, on the tiny-llama fixture.
final class MPICalibrateTests: XCTestCase {
    /// 2 ranks share 5 windows; rank 0's file equals the one-process factors (1e-5 relative Frobenius
    /// per factor) and records the ranks.
    func testTwoRanksWriteTheOneProcessFactors() throws {
        guard MPIRun.mpirun != nil else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let model = Fixtures.fixture("tiny-llama"), ids = try MPIRun.writeWindows(5), dir = Fixtures.tempDir()
        let one = try SurgeonProcess.run(["calibrate", "-m", model, "--ids-file", ids, "--seqlen", "16", "-o", dir + "/one.safetensors", "-t", "1"])
        XCTAssertEqual(one.status, 0, one.stderr)
        let (status, stderr) = try MPIRun.run(2, ["calibrate", "-m", model, "--ids-file", ids, "--seqlen", "16", "-o", dir + "/two.safetensors", "-t", "1"])
        XCTAssertEqual(status, 0, stderr)
        XCTAssertTrue(stderr.contains("on 2 ranks"), stderr)
        let f1 = try KFACFactors.read(path: dir + "/one.safetensors"), f2 = try KFACFactors.read(path: dir + "/two.safetensors")
        XCTAssertEqual(f2.metadata["ranks"], "2")
        XCTAssertNil(f1.metadata["ranks"])
        let c = try FactorComparison(f2, reference: f1)
        XCTAssertEqual(c.relative.count, 2 * (try Fixtures.model("tiny-llama")).blockLinearNames.count)
        XCTAssertEqual(try XCTUnwrap(c.worst).value, 0, "bit for bit: \(String(describing: c.worst))")
    }

    /// An error on the ranks stops the job with a message and a non-zero status, and writes nothing.
    func testAFailingJobStopsWithAMessageAndNoOutput() throws {
        guard MPIRun.mpirun != nil else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let ids = try MPIRun.writeWindows(2), out = Fixtures.tempDir() + "/f.safetensors"
        let (status, stderr) = try MPIRun.run(3, ["calibrate", "-m", Fixtures.fixture("tiny-llama"), "--ids-file", ids, "--seqlen", "16", "-o", out, "-t", "1"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(stderr.contains("3 ranks share 2 calibration windows"), stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}

/// Commands that do not run across ranks are refused under mpirun with several ranks (N copies would
/// write one output); calibrate, one rank, or no mpirun at all pass.
final class MPIRefusalTests: XCTestCase {
    func testOnlyCalibrateAndCompressRunAcrossRanks() {
        let two = ["OMPI_COMM_WORLD_SIZE": "2"]
        XCTAssertNotNil(mpiRefusal(["perplexity", "-m", "x"], environment: two))
        XCTAssertEqual(mpiRefusal(["convert", "-m", "x"], environment: two),
                       "surgeon convert does not run across MPI ranks (calibrate and compress do); run it as one process, without mpirun")
        XCTAssertNil(mpiRefusal(["calibrate", "-m", "x"], environment: two))
        XCTAssertNil(mpiRefusal(["compress", "-m", "x"], environment: two))
        XCTAssertNil(mpiRefusal(["perplexity", "-m", "x"], environment: ["OMPI_COMM_WORLD_SIZE": "1"]))
        XCTAssertNil(mpiRefusal(["perplexity", "-m", "x"], environment: [:]))
    }
}
