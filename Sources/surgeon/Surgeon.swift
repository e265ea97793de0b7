import ArgumentParser
import Foundation
import Runtime

@main
struct Surgeon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "surgeon",
        abstract: "Compress OPT and Llama models with the LLM Surgeon, then chat with them, measure them and serve them fast.",
        version: surgeonVersion,
        subcommands: [ChatCommand.self, GenerateCommand.self, PerplexityCommand.self, CalibrateCommand.self, CompressCommand.self, TokenizeCommand.self, BenchCommand.self, InspectCommand.self])
}

/// What `surgeon --version` prints. A constant because the binary has no git at run time: raise it
/// with each release.
let surgeonVersion = "0.1.0"

/// Options every model-running subcommand shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Model: a Hugging Face directory (config.json + model.safetensors), a compressed output directory, or a .gguf file.")
    var model: String

    @Option(name: [.customShort("t"), .long], help: "Worker threads.")
    var threads: Int = min(2, ProcessInfo.processInfo.activeProcessorCount)

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256 (got \(threads))") }
    }

    /// The model path, for error messages.
    var flags: FlagNames { FlagNames(paths: [model: "-m"]) }
}

/// Runs a command body, turning any thrown error into `error: <message>` on stderr and exit code 1;
/// the message names the command's `flags` where the error comes from one of them.
func runReportingErrors(_ flags: FlagNames = FlagNames(), _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as ValidationError {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        printError("error: \(errorMessage(error, flags: flags))")
        throw ExitCode.failure
    }
}

func printError(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

/// Parses "1,2,3" (spaces allowed) into token ids.
func parseIDs(_ s: String) throws -> [Int32] {
    let parts = s.split(whereSeparator: { $0 == "," || $0 == " " })
    var out: [Int32] = []
    for p in parts {
        guard let v = Int32(p) else { throw ValidationError("--ids must be comma-separated integers (bad value \"\(p)\")") }
        out.append(v)
    }
    return out
}

/// One-line JSON of a dictionary (sorted keys).
func jsonLine(_ obj: Any) -> String {
    guard let d = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
    return String(decoding: d, as: UTF8.self)
}

/// Flushes what `print` buffered for standard output. fflush(nil) flushes every output stream:
/// naming the C global `stdout` is not concurrency-safe in Swift 6 (it is a mutable global).
func flushStdout() { fflush(nil) }
