import Toolkit

/// An output refusal in the running command's flags: `output` is the flag giving the output path,
/// `inputs` the paths read, each with the flag that gave it (`-m`, `--calib`, ...).
func outputMessage(_ e: OutputError, output: String, inputs: [String: String]) -> String {
    func given(_ path: String) -> String {
        guard let flag = inputs[path] else { return "the input \(path)" }
        return "\(flag == "-m" ? "the model" : "the file") given with \(flag) (\(path))"
    }
    switch e {
    case .insideInput(let o, let i):
        return "\(output) \(o) is \(given(i)) or inside it: writing there would replace or change what is being read; "
            + "choose another \(output) (--overwrite does not allow this)"
    case .containsInput(let o, let i):
        return "\(given(i)) lies inside \(output) \(o), which writing the output would delete; choose another \(output)"
    case .notWritable(let o, let blocker, let reason):
        return "cannot write \(output) \(o): \(blocker) \(reason); choose another \(output)"
    }
}
