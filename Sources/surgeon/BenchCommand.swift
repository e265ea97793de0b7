import ArgumentParser
import Foundation
import Runtime
import Toolkit

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
    @Option(name: [.customShort("t"), .long], help: "Worker threads (default: the cores available).")
    var threads: Int = ThreadOption.defaultCount
    @Option(help: ArgumentHelp(DTypeOption.help, valueName: "f32|f16|bf16"))
    var dtype: WeightDType?
    @Option(name: .short, help: "Output: md or json.")
    var o: String = "md"

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("give at least one -m MODEL") }
        guard p >= 0, n >= 0, p + n > 0 else { throw ValidationError("-p and -n must be ≥ 0 and not both 0") }
        guard r >= 1 else { throw ValidationError("-r must be ≥ 1 (got \(r))") }
        guard ["md", "json"].contains(o) else { throw ValidationError("-o must be md or json (got \(o))") }
        try ThreadOption.validate(threads)
    }

    func run() throws {
        let flags = FlagNames(paths: Dictionary(model.map { ($0, "-m") }, uniquingKeysWith: { a, _ in a }),
                              promptLength: "-p", generated: "-n")
        try runReportingErrors(flags) {
            Parallel.setThreads(threads)
            // every model loads before any output, so a bad -m fails early
            let models = try model.map { (path: $0, model: try ModelLoader.model($0, dtype: dtype)) }
            let report = try BenchReport.measure(models: models, promptTokens: p, generatedTokens: n, repetitions: r, threads: threads)
            print(o == "json" ? try report.json() : report.markdown(), terminator: o == "json" ? "\n" : "")
        }
    }
}
