import ArgumentParser
import Foundation
import Runtime
import Toolkit

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write any loadable model (Hugging Face directory, compressed output, GGUF) as a Hugging Face directory in f32, f16 or bf16.")

    @Option(name: .shortAndLong, help: "Model: a Hugging Face directory, a compressed output directory, or a .gguf file.")
    var model: String
    @Option(help: ArgumentHelp("Weight type written: f32, f16 or bf16 (default: the file's own type, f16 for a quantized GGUF).",
                               valueName: "f32|f16|bf16"))
    var dtype: WeightDType?
    @Option(name: .shortAndLong, help: "Output directory (config.json, model.safetensors, tokenizer), written atomically.")
    var output: String
    @Flag(help: "Replace an existing output directory.")
    var overwrite = false

    func run() throws {
        var flags = FlagNames(paths: [model: "-m", output: "-o"])
        flags.output = "-o"
        flags.overwrite = "--overwrite"
        try runReportingErrors(flags) {
            do {
                for line in try OutputSafety.prepare(output: output, inputs: [model], overwrite: overwrite) { printError(line) }
            } catch let e as OutputError {
                throw CommandError(outputMessage(e, output: "-o", inputs: [model: "-m"]))
            } catch ModelError.outputExists(let p) {
                throw CommandError("\(p) already exists; choose another -o or pass --overwrite")
            }
            let tmp = (output as NSString).standardizingPath + ".tmp-\(getpid())"
            CleanupOnSignal.install(paths: [tmp])
            let s = try ConvertModel.run(input: model, dtype: dtype, output: output, overwrite: overwrite, temporary: tmp)
            printError(String(format: "convert: %@ -> %@ (%@, %.1f MB model.safetensors) in %.1f s", model, output,
                              s.dtype.rawValue, Double(s.bytes) / 1e6, s.seconds))
        }
    }
}
