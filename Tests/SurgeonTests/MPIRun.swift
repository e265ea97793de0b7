import Foundation
import XCTest
import TestSupport

/// `mpirun -np N --oversubscribe surgeon ARGS` for the MPI tests (skipped where Open MPI is not
/// installed; scripts/test.sh installs openmpi-bin).
enum MPIRun {
    static var mpirun: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs the job (as root too: the CI machine's user); returns the exit status and standard error.
    /// `environment` is added to every rank's; `poll` is called every 20 ms while the job runs.
    static func run(_ n: Int, _ args: [String], timeout: Double = 120, environment extra: [String: String] = [:],
                    poll: (() -> Void)? = nil) throws -> (Int32, String) {
        guard let mpirun else { throw XCTSkip("mpirun not installed (scripts/test.sh installs openmpi-bin)") }
        let dir = Fixtures.tempDir()
        let errPath = dir + "/stderr"
        guard FileManager.default.createFile(atPath: errPath, contents: nil) else { throw XCTSkip("no temporary directory") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = ["-np", String(n), "--oversubscribe", SurgeonProcess.binary] + args
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env.merge(extra) { $1 }
        p.environment = env
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try p.run()
        let end = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < end {
            poll?()
            usleep(20_000)
        }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
            XCTFail("mpirun \(args) did not end within \(timeout) s")
        }
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
    }

    /// The process id of rank `rank` of the running job whose ranks' environment holds `marker`
    /// (`KEY=value`), found in /proc; nil when there is none (yet).
    static func pid(ofRank rank: Int, marker: String) -> pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for e in entries {
            guard let pid = pid_t(e), let data = FileManager.default.contents(atPath: "/proc/\(e)/environ") else { continue }
            let vars = Set(data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
            if vars.contains(marker) && vars.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }

    /// `count` windows of 16 token ids as a JSON file (ids below 512: every fixture's vocabulary).
    static func writeWindows(_ count: Int) throws -> String {
        let windows = (0..<count).map { s in (0..<16).map { (5 * s + 7 * $0 + 1) % 512 } }
        let path = Fixtures.tempDir() + "/windows.json"
        try JSONSerialization.data(withJSONObject: windows).write(to: URL(fileURLWithPath: path))
        return path
    }
}
