import ArgumentParser
import Foundation
import Runtime

@main
struct Surgeon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "surgeon",
        abstract: "Compress OPT and Llama models with the LLM Surgeon, then chat with them, measure them and serve them fast.",
        version: surgeonVersion,
        subcommands: [ChatCommand.self, GenerateCommand.self, PerplexityCommand.self, CalibrateCommand.self, CompressCommand.self, TokenizeCommand.self, BenchCommand.self, InspectCommand.self, ConvertCommand.self, ReportCommand.self])

    /// Parses the command line with each negative number joined to its option, then runs the command.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst()), environment = ProcessInfo.processInfo.environment
        if let refusal = mpiRefusal(arguments, environment: environment) {
            if environment["OMPI_COMM_WORLD_RANK"] ?? "0" == "0" { printError("error: " + refusal) }
            Foundation.exit(1)
        }
        main(joiningNegativeNumbers(arguments))
    }
}

/// Commands that run across the ranks of an MPI job; any other command started by mpirun with more
/// than one rank would run N copies (N writers of one output), so it is refused.
let mpiCommands: Set<String> = ["calibrate", "compress"]

/// The refusal message for `arguments` under mpirun with several ranks, or nil.
func mpiRefusal(_ arguments: [String], environment: [String: String]) -> String? {
    guard let size = MPICommunicator.launchedSize(environment), size > 1,
          let command = arguments.first(where: { !$0.hasPrefix("-") }), !mpiCommands.contains(command) else { return nil }
    return "surgeon \(command) does not run across MPI ranks (\(mpiCommands.sorted().joined(separator: " and ")) do); run it as one process, without mpirun"
}

/// `-n -1` becomes `-n=-1`: the argument parser takes a lone `-1` for an option (and reported
/// "Missing value for '-n <n>'"), while `-n=-1` is a value. So every numeric option of every
/// command reads negative numbers, and accepts them where they mean something (`-n -1`,
/// `--seed -1`) or refuses them naming the allowed range. Nothing after `--` is touched.
func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
    func isNegativeNumber(_ s: String) -> Bool {
        s.range(of: #"^-(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$"#, options: .regularExpression) != nil
    }
    // `--name` or `-x`; a single-dash long name (`-sys`) takes no `=value`: its option reads the
    // next argument as it is (`parsing: .unconditional`)
    func isOption(_ s: String) -> Bool {
        guard !s.contains("=") else { return false }
        if s.hasPrefix("--") { return s.count > 2 }
        return s.count == 2 && s.hasPrefix("-") && s.last?.isLetter == true
    }
    var out: [String] = []
    var i = 0
    while i < arguments.count {
        let a = arguments[i]
        if a == "--" {
            out += arguments[i...]
            break
        }
        if i + 1 < arguments.count, isOption(a), isNegativeNumber(arguments[i + 1]) {
            out.append(a + "=" + arguments[i + 1])
            i += 2
        } else {
            out.append(a)
            i += 1
        }
    }
    return out
}

/// What `surgeon --version` prints. A constant because the binary has no git at run time: raise it
/// with each release.
let surgeonVersion = "0.1.0"

/// Options every model-running subcommand shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Model: a Hugging Face directory (config.json + model.safetensors), a compressed output directory, or a .gguf file.")
    var model: String

    @Option(name: [.customShort("t"), .long], help: "Worker threads (default: the cores available).")
    var threads: Int = ThreadOption.defaultCount

    @Option(help: ArgumentHelp(DTypeOption.help, valueName: "f32|f16|bf16"))
    var dtype: WeightDType?

    func validate() throws { try ThreadOption.validate(threads) }

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
        let world = World.current
        guard world.size > 1 else {
            printError("error: \(errorMessage(error, flags: flags))")
            throw ExitCode.failure
        }
        // one rank's error stops the whole MPI job (the others would wait in a collective forever)
        printError("error (rank \(world.rank) of \(world.size)): \(errorMessage(error, flags: flags))")
        world.abort(code: 1)
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
