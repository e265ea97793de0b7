import Foundation
import Runtime

/// `surgeon convert`: any loadable model (Hugging Face directory, compressed output, GGUF) written
/// as a Hugging Face directory in one weight type: config.json (`torch_dtype` set),
/// model.safetensors (F32, F16 or BF16 tensors; compressed storages keep their tensors and tags),
/// and the tokenizer (its files copied, or for a GGUF its metadata as `tokenizer.gguf`).
public enum ConvertModel {
    /// What a conversion wrote.
    public struct Summary: Sendable {
        public let dtype: WeightDType
        /// Bytes of model.safetensors.
        public let bytes: Int
        public let seconds: Double
    }

    /// Loads `input` with its weights in `dtype` (nil: the file's own type) and writes it to `output` atomically (a failed or
    /// interrupted run leaves nothing; an existing `output` is replaced only with `overwrite`).
    /// Output placement (never over an input) is the caller's check (`OutputSafety.prepare`).
    public static func run(input: String, dtype: WeightDType?, output: String, overwrite: Bool,
                           temporary: String? = nil) throws -> Summary {
        let t0 = Date()
        let files = try ModelLoader.files(input, dtype: dtype)
        let model = try loadModel(files)
        let type = files.weights.weightDType
        try writeAtomically(output, overwrite: overwrite, temporary: temporary) { tmp in
            try ModelWriter.write(model: model, source: files, to: tmp, dtype: type)
        }
        let st = (output as NSString).appendingPathComponent("model.safetensors")
        let bytes = ((try? FileManager.default.attributesOfItem(atPath: st))?[.size] as? Int) ?? 0
        return Summary(dtype: type, bytes: bytes, seconds: Date().timeIntervalSince(t0))
    }
}
