import ArgumentParser
import Foundation
import Runtime

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Prompt-processing and generation speed of one or more models (llama-bench style).")

    @Option(name: .shortAndLong, help: "Model to measure (repeat -m to compare; speed-ups are against the first; the models take turns run by run).")
    var model: [String]
    @Option(name: .short, help: "Prompt length of the pp test (0 skips it).")
    var p: Int = 512
    @Option(name: .short, help: "Generated tokens of the tg test (0 skips it).")
    var n: Int = 128
    @Option(name: .short, help: "Timed repetitions (after one warm-up).")
    var r: Int = 5
    @Option(name: [.customShort("t"), .long], help: "Worker threads.")
    var threads: Int = min(2, ProcessInfo.processInfo.activeProcessorCount)
    @Option(name: .short, help: "Output: md or json.")
    var o: String = "md"

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("give at least one -m MODEL") }
        guard p >= 0, n >= 0, p + n > 0 else { throw ValidationError("-p and -n must be ≥ 0 and not both 0") }
        guard r >= 1 else { throw ValidationError("-r must be ≥ 1 (got \(r))") }
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard ["md", "json"].contains(o) else { throw ValidationError("-o must be md or json (got \(o))") }
    }

    func run() throws {
        try runReportingErrors {
            Parallel.setThreads(threads)
            var tests: [BenchTest] = []
            if p > 0 { tests.append(.prompt(p)) }
            if n > 0 { tests.append(.generate(n)) }
            var rows: [[String: Any]] = []
            var baseline: [String: Double] = [:]
            let models = try model.map { try loadModel(ModelFiles.open($0)) }
            // per test, the models take turns run by run (see runBench(models:))
            var results: [[BenchResult]] = Array(repeating: [], count: models.count)
            for test in tests {
                for (i, res) in try runBench(models: models, test: test, repetitions: r).enumerated() { results[i].append(res) }
            }
            if o == "md" {
                print("| model | size | linears | params | sparsity | threads | test | t/s | speedup |")
                print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            }
            for (i, path) in model.enumerated() {
                let stats = weightStats(models[i])
                // bytes of the block linears as stored, relative to dense float32
                let linears = Double(stats.blockLinearBytes) / Double(max(stats.blockLinearDenseBytes, 1))
                for res in results[i] {
                    let test = res.test
                    if baseline[test.name] == nil { baseline[test.name] = res.mean }
                    let speedup = res.mean / (baseline[test.name] ?? res.mean)
                    rows.append(["model": path, "test": test.name, "threads": threads, "tps_mean": res.mean, "tps_sd": res.sd,
                                 "bytes": stats.bytes, "params": stats.parameters, "sparsity": stats.sparsity, "speedup": speedup,
                                 "linear_bytes": stats.blockLinearBytes, "linear_dense_bytes": stats.blockLinearDenseBytes])
                    if o == "md" {
                        print(String(format: "| %@ | %.2f MiB | %.3f | %.2f M | %.1f%% | %d | %@ | %.2f ± %.2f | %.2fx |",
                                     (path as NSString).lastPathComponent, Double(stats.bytes) / 1048576, linears, Double(stats.parameters) / 1e6,
                                     stats.sparsity * 100, threads, test.name, res.mean, res.sd, speedup))
                    }
                }
            }
            if o == "json" { print(jsonLine(rows)) }
        }
    }
}
