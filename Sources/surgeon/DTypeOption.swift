import ArgumentParser
import Runtime

/// `--dtype f32|f16|bf16`: the type every model-running command holds the large weights in
/// (block linears, embedding, lm_head; norms and biases stay float32, sums accumulate in float32).
enum DTypeOption {
    static let help = "Weight type in memory: f32, f16 or bf16 (default: the file's own type — a 16-bit file "
        + "stays 16-bit, a quantized GGUF becomes f16, a float32 file stays f32). compress loads float32 (its "
        + "surgery updates float32 weights) and writes its output in --dtype (default f32), rounding each weight "
        + "once; calibrate loads float32 and accepts only f32."

    /// Refuses a 16-bit `--dtype` for a command that works on float32 weights only.
    static func requireFloat32(_ dtype: WeightDType?, command: String) throws {
        guard let dtype, dtype != .f32 else { return }
        throw ValidationError("\(command) loads float32 weights (--dtype \(dtype) is not supported yet): omit --dtype or give f32")
    }
}

extension WeightDType: ExpressibleByArgument {}
