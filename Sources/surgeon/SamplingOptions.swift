import ArgumentParser
import Runtime

/// llama.cpp-style sampling flags.
struct SamplingOptions: ParsableArguments {
    @Option(name: .customLong("temp"), help: "Temperature; 0 means greedy.")
    var temperature: Float = 0.8
    @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0 = all).")
    var topK: Int = 40
    @Option(name: .customLong("top-p"), help: "Nucleus sampling: keep the smallest set with this probability mass.")
    var topP: Float = 0.95
    @Option(name: .customLong("min-p"), help: "Drop tokens below min-p times the top probability.")
    var minP: Float = 0.05
    @Option(name: .customLong("repeat-penalty"), help: "Penalty for recently seen tokens (1 = off).")
    var repeatPenalty: Float = 1.0
    @Option(name: .customLong("repeat-last-n"), help: "How many recent tokens the penalty looks at.")
    var repeatLastN: Int = 64
    @Option(name: .customLong("seed"), help: "Random seed for sampling.")
    var seed: UInt64 = 42

    var params: SamplingParams {
        SamplingParams(temperature: temperature, topK: topK, topP: topP, minP: minP,
                       repeatPenalty: repeatPenalty, repeatLastN: repeatLastN, seed: seed)
    }

    func validate() throws {
        if let e = params.invalidSetting() { throw ValidationError("\(samplingFlag(e.setting)) \(e.requirement) (got \(e.value))") }
    }
}
