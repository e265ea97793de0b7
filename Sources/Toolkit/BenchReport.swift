import Foundation
import Runtime

/// What `surgeon bench` reports: per model and test (pp N, tg N) the speed in tokens/s, the
/// speed-up against the first model, and the model's size and sparsity. Encodes as a JSON array
/// of rows with the keys scripts read (`tps_mean`, `linear_bytes`, ...).
public struct BenchReport: Codable, Sendable, Equatable {
    /// One model on one test.
    public struct Row: Codable, Sendable, Equatable {
        public var model: String             // the path it was opened from
        public var test: String              // "pp512", "tg128"
        public var threads: Int
        public var tpsMean: Double
        public var tpsSd: Double
        public var bytes: Int                // all parameters as stored
        public var params: Int
        public var sparsity: Double          // of the block linears
        public var speedup: Double           // tpsMean / the first model's on this test
        public var linearBytes: Int          // block linears as stored
        public var linearDenseBytes: Int     // block linears as dense float32

        enum CodingKeys: String, CodingKey {
            case model, test, threads, bytes, params, sparsity, speedup
            case tpsMean = "tps_mean", tpsSd = "tps_sd"
            case linearBytes = "linear_bytes", linearDenseBytes = "linear_dense_bytes"
        }
    }

    public var rows: [Row]

    public init(rows: [Row]) { self.rows = rows }

    // The JSON form is the bare array of rows.
    public init(from decoder: any Decoder) throws { rows = try [Row](from: decoder) }
    public func encode(to encoder: any Encoder) throws { try rows.encode(to: encoder) }
}

extension BenchReport {
    /// Times the models on prompt processing of `promptTokens` and generation of `generatedTokens`
    /// (0 skips a test), `repetitions` timed runs each after one warm-up; per test the models take
    /// turns run by run (see `runBench`). `threads` is recorded, not set.
    public static func measure(models: [(path: String, model: CausalLM)], promptTokens: Int, generatedTokens: Int,
                               repetitions: Int, threads: Int) throws -> BenchReport {
        var tests: [BenchTest] = []
        if promptTokens > 0 { tests.append(.prompt(promptTokens)) }
        if generatedTokens > 0 { tests.append(.generate(generatedTokens)) }
        var results: [[BenchResult]] = Array(repeating: [], count: models.count)
        for test in tests {
            for (i, res) in try runBench(models: models.map(\.model), test: test, repetitions: repetitions).enumerated() {
                results[i].append(res)
            }
        }
        return BenchReport(models: models, results: results, threads: threads)
    }

    /// Rows of measured results: `results[i]` are model i's, one per test; speed-ups are against
    /// the first model measured on each test.
    public init(models: [(path: String, model: CausalLM)], results: [[BenchResult]], threads: Int) {
        var baseline: [String: Double] = [:]
        var rows: [Row] = []
        for (i, m) in models.enumerated() {
            let stats = weightStats(m.model)
            for res in results[i] {
                let name = res.test.name
                if baseline[name] == nil { baseline[name] = res.mean }
                rows.append(Row(model: m.path, test: name, threads: threads, tpsMean: res.mean, tpsSd: res.sd,
                                bytes: stats.bytes, params: stats.parameters, sparsity: stats.sparsity,
                                speedup: res.mean / (baseline[name] ?? res.mean),
                                linearBytes: stats.blockLinearBytes, linearDenseBytes: stats.blockLinearDenseBytes))
            }
        }
        self.rows = rows
    }

    /// One line of JSON: the array of rows, keys sorted.
    public func json() throws -> String { try ReportJSON.line(self) }

    /// A llama-bench-style table; ends with a newline.
    public func markdown() -> String {
        var out = "| model | size | linears | params | sparsity | threads | test | t/s | speedup |\n"
        out += "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        for r in rows {
            // bytes of the block linears as stored, relative to dense float32
            let linears = Double(r.linearBytes) / Double(max(r.linearDenseBytes, 1))
            out += String(format: "| %@ | %.2f MiB | %.3f | %.2f M | %.1f%% | %d | %@ | %.2f ± %.2f | %.2fx |\n",
                          (r.model as NSString).lastPathComponent, Double(r.bytes) / 1048576, linears,
                          Double(r.params) / 1e6, r.sparsity * 100, r.threads, r.test, r.tpsMean, r.tpsSd, r.speedup)
        }
        return out
    }
}
