import Runtime

/// Logits of every position, from one prefill of `ids` and from decoding them one by one.
public func prefillAndDecodeLogits(_ model: CausalLM, _ ids: [Int32]) throws -> (prefill: [Float], decode: [Float]) {
    let prefill = try InferenceSession(model: model).logitsForAll(ids)
    let s = InferenceSession(model: model)
    var decode: [Float] = []
    for id in ids { decode += Array(try s.step(id)) }
    return (prefill, decode)
}
