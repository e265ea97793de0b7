/// Qwen2 / Qwen2.5 (`model_type` qwen2, GGUF `general.architecture` qwen2): the Llama block with
/// q/k/v biases (o_proj without), untied or tied head. llama.cpp keeps Qwen2's q/k rows in Hugging
/// Face order (NEOX RoPE), so GGUF rows are not un-permuted; the biases are `blk.N.attn_q.bias` etc.
extension ArchitectureDescriptor {
    public static let qwen2 = llamaShaped(
        kind: .qwen2, modelTypes: ["qwen2"], ggufArchitectures: ["qwen2"],
        extraKeys: ["rope_scaling", "sliding_window", "use_sliding_window", "max_window_layers", "layer_types"],
        ggufPermutesRotary: false)
}

enum Qwen2ConfigKeys {
    /// Qwen2's window: `use_sliding_window: false` (every released Qwen2/2.5 config) means none,
    /// whatever `sliding_window` says. A window that some layers use (`use_sliding_window: true`
    /// with a window shorter than the context, or `layer_types` naming sliding_attention) is refused.
    static func window(_ j: JSONFields, maxPositions: Int) throws -> Int? {
        if let types = j.json["layer_types"] as? [Any], types.contains(where: { ($0 as? String) != "full_attention" }) {
            throw ModelError.unsupportedConfigKey(
                file: j.file, key: "layer_types",
                detail: "layers other than full_attention (Qwen2's per-layer sliding windows) are not implemented")
        }
        guard j.bool("use_sliding_window") == true else { return nil }
        if let w = try j.optInt("sliding_window"), w < maxPositions {
            throw ModelError.unsupportedConfigKey(
                file: j.file, key: "use_sliding_window",
                detail: "Qwen2's sliding window (\(w) positions on the layers from max_window_layers on) is not implemented")
        }
        return nil
    }
}
