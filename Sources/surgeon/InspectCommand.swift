import ArgumentParser
import Foundation
import Runtime
import Toolkit

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Architecture, and per block linear layer its storage, shape, sparsity, bytes and removed rows/columns.")

    @OptionGroup var model: ModelOptions

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        try runReportingErrors(model.flags) {
            Parallel.setThreads(model.threads)
            let report = InspectReport(model: try ModelLoader.model(model.model, dtype: model.dtype))
            print(json ? try report.json() : report.markdown(), terminator: json ? "\n" : "")
        }
    }
}
