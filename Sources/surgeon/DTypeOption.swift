import ArgumentParser
import Runtime

/// `--dtype f32|f16|bf16`: the type every model-running command holds the large weights in
/// (block linears, embedding, lm_head; norms and biases stay float32, sums accumulate in float32).
enum DTypeOption {
    static let help = "Weight type in memory: f32, f16 or bf16 (default: the file's own type — a 16-bit file "
        + "stays 16-bit, a quantized GGUF becomes f16, a float32 file stays f32). compress writes its output in "
        + "this type; its surgery updates float32 copies of the layers and rounds each update once."
}

extension WeightDType: ExpressibleByArgument {}
