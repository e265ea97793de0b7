/// Mistral (`model_type` mistral): the Llama block with a sliding attention window W: position p
/// attends to p−W < j ≤ p, in prefill, KV-cache decode and the training backward. llama.cpp writes
/// Mistral GGUF files as `llama` (without the window), so GGUF loads them as Llama.
extension ArchitectureDescriptor {
    public static let mistral = llamaShaped(
        kind: .mistral, modelTypes: ["mistral"], ggufArchitectures: [],
        extraKeys: ["rope_scaling", "sliding_window"])
}

enum MistralConfigKeys {
    /// `sliding_window`: null (Mistral v0.2 and later) or at least the context means none.
    static func window(_ j: JSONFields, maxPositions: Int) throws -> Int? {
        guard let w = try j.optInt("sliding_window") else { return nil }
        guard w > 0 else {
            throw ModelError.valueOutOfRange(file: j.file, key: "sliding_window", value: "\(w)",
                                             allowed: "a positive number of positions (or null: no window)")
        }
        return w < maxPositions ? w : nil
    }
}
