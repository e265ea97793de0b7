import Foundation

/// How text is cut into scored segments.
public enum PerplexityProtocol: String, Sendable, CaseIterable {
    /// SparseGPT / Wanda / LLM Surgeon: non-overlapping segments of seqlen, tail dropped,
    /// tokens 1..L−1 of each segment scored.
    case paper
    /// llama-perplexity: chunks of ctx tokens, the first replaced by BOS when the tokenizer adds
    /// one, only the second half of each chunk scored.
    case llamacpp
}

/// One segment: where it starts in the token stream and which logit rows are scored
/// (row j predicts token j+1 of the segment).
public struct SegmentPlan: Equatable, Sendable {
    public let start: Int
    public let length: Int
    public let scoredRows: Range<Int>
}

/// Cuts `tokenCount` tokens into segments for a protocol (tail dropped).
public func perplexitySegments(tokenCount: Int, seqlen: Int, protocol p: PerplexityProtocol) -> [SegmentPlan] {
    guard seqlen >= 2 else { return [] }
    let n = tokenCount / seqlen
    let first = p == .paper ? 0 : seqlen / 2
    return (0..<n).map { SegmentPlan(start: $0 * seqlen, length: seqlen, scoredRows: first..<(seqlen - 1)) }
}

/// Accumulates negative log-likelihoods the way llama.cpp reports them: PPL = exp(mean NLL) and its
/// standard error exp(mean)·sqrt(var(NLL)/(n−1)).
public struct NLLAccumulator: Sendable {
    public private(set) var count = 0
    private var sum = 0.0
    private var sumSq = 0.0

    public init() {}

    public mutating func add(_ nll: Double) {
        count += 1
        sum += nll
        sumSq += nll * nll
    }

    public var meanNLL: Double { count > 0 ? sum / Double(count) : .nan }
    public var perplexity: Double { exp(meanNLL) }
    public var standardError: Double {
        guard count > 1 else { return 0 }
        let m = meanNLL
        let v = sumSq / Double(count) - m * m
        return v > 0 ? (v / Double(count - 1)).squareRoot() * perplexity : 0
    }
}

/// Comparison of a model's distributions with a reference (dense) model on the same rows.
public struct KLStats: Sendable {
    public var values: [Double] = []
    public var agree = 0

    public init() {}
    public var mean: Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }
    public var p99: Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted()
        return s[min(s.count - 1, Int((Double(s.count) * 0.99).rounded(.up)) - 1)]
    }
    public var top1Agreement: Double { values.isEmpty ? .nan : Double(agree) / Double(values.count) }
}

public struct PerplexityResult: Sendable {
    public var ppl: Double
    public var stderr: Double
    public var tokens: Int          // tokens in the evaluated segments
    public var scored: Int          // predictions scored
    public var segments: Int
    public var seqlen: Int
    public var protocolName: String
    public var seconds: Double
    public var kl: KLStats?
}

/// Wikitext-style perplexity of a model on a token stream, optionally against a reference model.
public struct PerplexityEvaluator {
    public let model: CausalLM
    public var reference: CausalLM?
    public let seqlen: Int
    public let protocolKind: PerplexityProtocol
    /// Replaces the first token of every llama.cpp chunk (when the tokenizer adds a BOS).
    public var bos: Int32?
    /// Rows of logits computed at once (bounds memory: rows × vocab floats).
    public var logitRows = 256

    public init(model: CausalLM, seqlen: Int, protocol p: PerplexityProtocol, bos: Int32? = nil, reference: CausalLM? = nil) {
        self.model = model
        self.seqlen = seqlen
        self.protocolKind = p
        self.bos = bos
        self.reference = reference
    }

    /// Evaluates up to `maxSegments` segments; `progress(done, total, runningPPL)` after each.
    /// Every scored token's negative log-likelihood (and KL divergence) is checked finite as it is
    /// produced, and so is the perplexity: a non-finite one throws `NonFiniteError`.
    public func run(tokens: [Int32], maxSegments: Int? = nil,
                    progress: (Int, Int, Double) -> Void = { _, _, _ in }) throws -> PerplexityResult {
        guard seqlen >= 2, seqlen <= model.contextLength else { throw EvalError.badSeqlen(seqlen, max: model.contextLength) }
        var plan = perplexitySegments(tokenCount: tokens.count, seqlen: seqlen, protocol: protocolKind)
        if let m = maxSegments { plan = Array(plan.prefix(max(0, m))) }
        guard !plan.isEmpty else {
            throw EvalError.tooFewTokens(tokens: tokens.count, seqlen: seqlen)
        }
        let t0 = now()
        let V = model.config.vocabSize
        if let r = reference, r.config.vocabSize != V { throw EvalError.vocabularyMismatch(V, r.config.vocabSize) }
        let session = InferenceSession(model: model, capacity: seqlen)
        session.chunk = seqlen
        let refSession = reference.map { InferenceSession(model: $0, capacity: seqlen) }
        refSession?.chunk = seqlen
        var acc = NLLAccumulator()
        var kl: KLStats? = reference == nil ? nil : KLStats()
        let logits = Buffer(logitRows * V), refLogits = Buffer(reference == nil ? 1 : logitRows * V)
        for (i, seg) in plan.enumerated() {
            var segTokens = Array(tokens[seg.start..<(seg.start + seg.length)])
            if protocolKind == .llamacpp, let bos { segTokens[0] = bos }
            session.reset()
            try session.validate(segTokens)
            segTokens.withUnsafeBufferPointer { model.forward($0, cache: session.cache, ws: session.workspace) }
            if let rs = refSession, let ref = reference {
                rs.reset()
                segTokens.withUnsafeBufferPointer { ref.forward($0, cache: rs.cache, ws: rs.workspace) }
            }
            var row = seg.scoredRows.lowerBound
            while row < seg.scoredRows.upperBound {
                let n = min(logitRows, seg.scoredRows.upperBound - row)
                let lp = logits.reserve(n * V)
                model.logits(session.workspace.hidden.pointer + row * model.headInput, rows: n, into: lp)
                if let rs = refSession, let ref = reference {
                    let rp = refLogits.reserve(n * V)
                    ref.logits(rs.workspace.hidden.pointer + row * ref.headInput, rows: n, into: rp)
                    // klDivergence clamps at 0, which would hide a NaN: check the reference's rows as they come
                    try checkFinite(rp, count: n * V, rowLength: V) { .referenceLogits(position: row + $0, segment: i) }
                }
                for j in 0..<n {
                    let target = Int(segTokens[row + j + 1])
                    let nll = crossEntropy(lp + j * V, V: V, target: target)
                    if !nll.isFinite {
                        // say whether the logits themselves are bad or only the likelihood overflowed
                        try checkFinite(lp + j * V, count: V, rowLength: V) { _ in .logits(position: row + j, segment: i) }
                        throw NonFiniteError(.negativeLogLikelihood(position: row + j, segment: i), value: nll)
                    }
                    acc.add(nll)
                    if kl != nil {
                        let (d, same) = klDivergence(p: refLogits.pointer + j * V, q: lp + j * V, V: V)
                        if !d.isFinite { throw NonFiniteError(.klDivergence(position: row + j, segment: i), value: d) }
                        kl!.values.append(d)
                        if same { kl!.agree += 1 }
                    }
                }
                row += n
            }
            progress(i + 1, plan.count, acc.perplexity)
        }
        guard acc.perplexity.isFinite, acc.standardError.isFinite else {
            throw NonFiniteError(.perplexity(meanNLL: acc.meanNLL), value: acc.perplexity.isFinite ? acc.standardError : acc.perplexity)
        }
        return PerplexityResult(ppl: acc.perplexity, stderr: acc.standardError, tokens: plan.count * seqlen, scored: acc.count,
                                segments: plan.count, seqlen: seqlen, protocolName: protocolKind.rawValue,
                                seconds: now() - t0, kl: kl)
    }
}

public enum EvalError: Error, CustomStringConvertible, Equatable {
    case tooFewTokens(tokens: Int, seqlen: Int)
    case vocabularyMismatch(Int, Int)
    case badSeqlen(Int, max: Int)

    public var description: String {
        switch self {
        case .tooFewTokens(let t, let s):
            return "the text has \(t) tokens, fewer than one segment of \(s): use a longer file or a shorter segment length"
        case .vocabularyMismatch(let a, let b):
            return "the models have different vocabularies (\(a) vs \(b)) and cannot be compared"
        case .badSeqlen(let s, let m):
            return "the segment length \(s) must be between 2 and the model's context length \(m)"
        }
    }
}

/// KL(P‖Q) for logits rows p (reference) and q (model), and whether their top-1 tokens agree.
/// p, q: [V]
public func klDivergence(p: UnsafePointer<Float>, q: UnsafePointer<Float>, V: Int) -> (Double, Bool) {
    var mp = -Float.infinity, mq = -Float.infinity
    var ap = 0, aq = 0
    for i in 0..<V {
        if p[i] > mp { mp = p[i]; ap = i }
        if q[i] > mq { mq = q[i]; aq = i }
    }
    var sp = 0.0, sq = 0.0
    for i in 0..<V {
        sp += Double(expf(p[i] - mp))
        sq += Double(expf(q[i] - mq))
    }
    let lzp = log(sp) + Double(mp), lzq = log(sq) + Double(mq)
    var kl = 0.0
    for i in 0..<V {
        let lp = Double(p[i]) - lzp
        let lq = Double(q[i]) - lzq
        kl += exp(lp) * (lp - lq)
    }
    return (max(0, kl), ap == aq)
}
