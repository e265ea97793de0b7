import Foundation

/// Timing of one generation, as llama.cpp reports it.
public struct GenerationStats: Sendable {
    public var promptTokens = 0
    public var promptSeconds = 0.0
    public var generatedTokens = 0
    public var generateSeconds = 0.0

    public init() {}
    public var promptTPS: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var generateTPS: Double { generateSeconds > 0 ? Double(generatedTokens) / generateSeconds : 0 }

    public var summary: String {
        String(format: "prompt: %d tokens, %.2f tok/s | generation: %d tokens, %.2f tok/s",
               promptTokens, promptTPS, generatedTokens, generateTPS)
    }
}

/// Monotonic seconds.
public func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Feeds a prompt, then samples up to `maxTokens` tokens, stopping after any id in `stop`.
/// `onToken` sees each new id as it is produced; returning false stops early.
public func generate(session: InferenceSession, prompt: [Int32], maxTokens: Int, sampler: inout Sampler,
                     stop: Set<Int32>, onToken: (Int32) -> Bool = { _ in true }) throws -> (ids: [Int32], stats: GenerationStats) {
    var stats = GenerationStats()
    try session.validate(prompt)
    var history = prompt
    history.reserveCapacity(prompt.count + maxTokens)
    var out: [Int32] = []
    out.reserveCapacity(maxTokens)
    let t0 = now()
    var logits = try session.feed(prompt)
    stats.promptTokens = prompt.count
    stats.promptSeconds = now() - t0
    let t1 = now()
    while out.count < maxTokens {
        let id = sampler.sample(logits, recent: history[...])
        out.append(id)
        history.append(id)
        if stop.contains(id) || !onToken(id) { break }
        if out.count == maxTokens || session.position >= session.cache.capacity { break }
        logits = try session.step(id)
    }
    stats.generatedTokens = out.count
    stats.generateSeconds = now() - t1
    return (out, stats)
}
