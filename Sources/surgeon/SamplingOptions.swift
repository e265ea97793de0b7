import ArgumentParser
import Foundation
import Runtime

/// llama.cpp-style sampling flags. Negative numbers reach the checks (see `joiningNegativeNumbers`),
/// which say the allowed range; `--seed -1` draws a random seed.
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
    @Option(name: .customLong("seed"),
            help: "Random seed for sampling: 0 to \(UInt64.max), or -1 for a random one (printed on stderr). (default: 42)",
            transform: { try SamplingSeed(argument: $0) })
    var seed = SamplingSeed(42)

    var params: SamplingParams {
        SamplingParams(temperature: temperature, topK: topK, topP: topP, minP: minP,
                       repeatPenalty: repeatPenalty, repeatLastN: repeatLastN, seed: seed.value)
    }

    func validate() throws {
        if let e = params.invalidSetting() { throw ValidationError("\(samplingFlag(e.setting)) \(e.requirement) (got \(e.value))") }
    }

    /// Says a seed drawn for `--seed -1`, so the run can be repeated.
    func reportDrawnSeed() {
        if seed.drawn { printError("sampling seed: \(seed.value) (drawn for --seed -1)") }
    }
}

/// `--seed`: a fixed seed, or one drawn at random for -1 (llama.cpp's convention).
struct SamplingSeed: Sendable, Equatable, CustomStringConvertible {
    let value: UInt64
    let drawn: Bool

    init(_ value: UInt64) {
        self.value = value
        drawn = false
    }

    init(argument: String) throws {
        let s = argument.trimmingCharacters(in: .whitespaces)
        if s == "-1" {
            value = UInt64.random(in: 0...UInt64.max)
            drawn = true
        } else if let v = UInt64(s) {
            value = v
            drawn = false
        } else {
            throw ValidationError("--seed must be an integer from 0 to \(UInt64.max), or -1 for a random seed (got \(argument))")
        }
    }

    var description: String { drawn ? "-1" : String(value) }
}
