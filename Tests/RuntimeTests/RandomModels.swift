@testable import Runtime

/// A small OPT with random weights (seeded), for checks the fixtures do not cover.
/// hidden 16, 2 heads, 2 layers, ffn 32, vocab 64, 32 positions; `projDim` ≠ 16 adds project_in/out.
func randomOPT(postNorm: Bool, affine: Bool, gelu: Bool, projDim P: Int, tied: Bool, seed: UInt64) throws -> CausalLM {
    let C = 16, F = 32, V = 64, maxPos = 32
    var c = ModelConfig(architecture: .opt, vocabSize: V, hiddenSize: C, numLayers: 2, numHeads: 2, numKVHeads: 2,
                        headDim: 8, intermediateSize: F, maxPositions: maxPos, normEps: 1e-5, ropeTheta: 10000,
                        tieEmbeddings: tied, bosTokenId: 2, eosTokenIds: [2], wordEmbedProjDim: P,
                        activation: gelu ? "gelu" : "relu", attentionBias: true, mlpBias: true)
    c.doLayerNormBefore = !postNorm
    c.layerNormAffine = affine
    var rng = SeededRandom(seed: seed)
    var w: [String: Tensor] = [:]
    func put(_ name: String, _ shape: [Int], mean: Double = 0, std: Double = 0.3) {
        w[name] = Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float(mean + std * rng.normal()) })
    }
    let r = "model.decoder."
    put(r + "embed_tokens.weight", [V, P])
    put(r + "embed_positions.weight", [maxPos + 2, C])
    if P != C {
        put(r + "project_in.weight", [C, P])
        put(r + "project_out.weight", [P, C])
    }
    func norm(_ name: String) {
        guard affine else { return }
        put(name + ".weight", [C], mean: 1, std: 0.1)
        put(name + ".bias", [C], std: 0.1)
    }
    for l in 0..<2 {
        let p = r + "layers.\(l)."
        norm(p + "self_attn_layer_norm")
        norm(p + "final_layer_norm")
        for s in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            put(p + "self_attn.\(s).weight", [C, C])
            put(p + "self_attn.\(s).bias", [C], std: 0.1)
        }
        put(p + "fc1.weight", [F, C])
        put(p + "fc1.bias", [F], std: 0.1)
        put(p + "fc2.weight", [C, F], std: 0.2)
        put(p + "fc2.bias", [C], std: 0.1)
    }
    if !postNorm { norm(r + "final_layer_norm") }
    if !tied { put("lm_head.weight", [V, P]) }
    return try loadModel(config: c, weights: MemoryWeights(w))
}
