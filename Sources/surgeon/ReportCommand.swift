import ArgumentParser
import Foundation
import Toolkit

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "An HTML page of what compressions did: perplexity vs sparsity, per-layer map, attention heads, bytes and speed, recipes.")

    @Argument(help: "Compressed output directories (written by compress).")
    var outputs: [String]
    @Option(help: "Speed to show: a file written by `surgeon bench -o json`.")
    var bench: String?
    @Option(name: .customLong("dense-ppl"), help: "Perplexity of the dense model, drawn at sparsity 0 (compression.json does not record it).")
    var densePPL: Double?
    @Option(name: .shortAndLong, help: "The HTML file to write.")
    var output: String
    @Option(help: "Also write each figure as a standalone .svg file into this directory.")
    var svg: String?

    func validate() throws {
        guard !outputs.isEmpty else { throw ValidationError("give at least one compressed output directory") }
        if let densePPL, !(densePPL.isFinite && densePPL > 0) {
            throw ValidationError("--dense-ppl must be a positive perplexity (got \(densePPL))")
        }
    }

    func run() throws {
        var paths = FlagNames.given([(bench, "--bench"), (output, "-o"), (svg, "--svg")])
        for o in outputs where paths[o] == nil { paths[o] = "OUT" }
        try runReportingErrors(FlagNames(paths: paths, output: "-o")) {
            let page: ReportPage
            do {
                page = try ReportPage.load(outputs: outputs, bench: bench, densePerplexity: densePPL)
            } catch let e as ReportError {
                throw CommandError(Self.message(e, bench: bench))
            }
            for file in try page.write(html: output, svgDirectory: svg) { printError("wrote \(file)") }
        }
    }

    /// A report error with the flag of its path where one gave it.
    static func message(_ e: ReportError, bench: String?) -> String {
        if case .corrupt(let p, _) = e, p == bench { return "--bench: \(e)" }
        return "\(e)"
    }
}

extension ReportCommand {
    /// `compress --report`: OUT/report.html of the output just written, the dense point from the
    /// perplexity measured before the first shot.
    static func writeAfterCompress(output: String, densePerplexity: Double?) throws {
        let page: ReportPage
        do {
            page = try ReportPage.load(outputs: [output], densePerplexity: densePerplexity)
        } catch let e as ReportError {
            throw CommandError("writing the report: \(e)")
        }
        let file = (output as NSString).appendingPathComponent("report.html")
        try page.write(html: file)
        printError("wrote \(file)")
    }
}
