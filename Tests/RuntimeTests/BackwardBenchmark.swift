import CBLAS
import Foundation
import XCTest
@testable import Runtime
import TestSupport

/// Forward+backward speed on SmolLM2-135M, 512-token windows. Prints only; opt-in because it needs the
/// model file and a release build:
/// `SURGEON_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter BackwardBenchmark`
/// (SURGEON_THREADS sets the worker count, default 2).
final class BackwardBenchmark: XCTestCase {
    func testSmolLM2ForwardBackward() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["SURGEON_BENCH"] != nil else { throw XCTSkip("set SURGEON_BENCH=1 to run the benchmark") }
        guard FileManager.default.fileExists(atPath: Fixtures.smolGGUF) else { throw XCTSkip("no \(Fixtures.smolGGUF)") }
        Parallel.setThreads(Int(env["SURGEON_THREADS"] ?? "") ?? 2)
        let model = try loadModel(ModelFiles.open(Fixtures.smolGGUF))
        let T = 512, windows = 3
        var rng = SeededRandom(seed: 1)
        let V = UInt64(model.config.vocabSize)
        let data = (0..<windows).map { _ in (0..<T).map { _ in Int32(rng.next() % V) } }
        let tape = model.makeTrainingTape()
        print("SmolLM2-135M, T = \(T), threads = \(Parallel.threads), \(openblasCore())")
        try tape.forward(data[0], observer: nil)   // warm-up: buffers, page faults
        _ = try tape.backward(labels: .given(nextTokenTargets(data[0])), observer: nil, gradients: nil)

        // wall-clock rate, and the rate the process's CPU time implies for `threads` busy cores
        // (robust when other processes share the machine; spin-waiting counts as busy)
        func measure(_ label: String, _ body: ([Int32]) throws -> Void) rethrows {
            let t0 = now(), c0 = cpuSeconds()
            for w in data { try body(w) }
            let dt = now() - t0, dc = cpuSeconds() - c0
            let n = Double(T * windows)
            print(String(format: "  %@: %.1f tok/s wall (%.3f s per window), %.1f tok/s per %d busy cores",
                         label, n / dt, dt / Double(windows), n / dc * Double(Parallel.threads), Parallel.threads))
        }
        try measure("forward only (tape)") { try tape.forward($0, observer: nil) }
        try measure("forward+backward, activation gradients only (the K-FAC pass)") { w in
            try tape.forward(w, observer: nil)
            _ = try tape.backward(labels: .given(nextTokenTargets(w)), observer: nil, gradients: nil)
        }
        print("  peak RSS without parameter gradients: \(peakRSSMegabytes()) MB")
        let grads = Gradients(for: model)
        try measure("forward+backward with all parameter gradients") { w in
            try tape.forward(w, observer: nil)
            _ = try tape.backward(labels: .given(nextTokenTargets(w)), observer: nil, gradients: grads)
        }
        print("  peak RSS with parameter gradients: \(peakRSSMegabytes()) MB")
    }
}

/// User + system CPU time of this process, in seconds.
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
}

/// VmHWM of this process in MB (Linux).
func peakRSSMegabytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
    return kb / 1024
}

/// The kernel set OpenBLAS picked (OPENBLAS_CORETYPE overrides it).
func openblasCore() -> String {
    guard let p = openblas_get_corename() else { return "OpenBLAS core ?" }
    return "OpenBLAS core \(String(cString: p))"
}
