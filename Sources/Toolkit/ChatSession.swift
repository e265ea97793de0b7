import Foundation
import Runtime
import Tokenize

/// A multi-turn conversation with a model: the rendered conversation is kept in the KV cache and
/// only new tokens are run each turn; when it outgrows the context the oldest turns are dropped.
public final class ChatSession {
    public let opened: OpenedModel
    public let tokenizer: any Tokenizer
    public let template: ChatTemplate
    public let systemPrompt: String?
    public private(set) var messages: [ChatMessage] = []
    public var sampling: SamplingParams
    /// Longest reply in tokens (nil: until a stop token or the end of the context).
    public var maxReplyTokens: Int?
    public let session: InferenceSession
    private var cached: [Int32] = []
    public private(set) var totals = GenerationStats()
    public private(set) var last = GenerationStats()
    /// Why the last reply ended.
    public private(set) var lastEnd = ReplyEnd.stopToken
    /// Told when old turns are dropped to make room.
    public var notice: (String) -> Void = { _ in }
    /// Asked before each token of a reply; true stops the reply there (Ctrl-C in the terminal).
    /// The conversation keeps what was said so far, and the next message continues it.
    public var shouldStop: () -> Bool = { false }

    public init(opened: OpenedModel, template: ChatTemplate, systemPrompt: String?, sampling: SamplingParams,
                contextLength: Int? = nil) throws {
        self.opened = opened
        tokenizer = try opened.requireTokenizer()
        self.template = template
        self.systemPrompt = systemPrompt
        self.sampling = sampling
        session = InferenceSession(model: opened.model, capacity: contextLength)
    }

    public var contextLength: Int { session.cache.capacity }

    /// Forgets the conversation.
    public func reset() {
        messages = []
        cached = []
        session.reset()
    }

    private func conversation(_ turns: [ChatMessage]) -> [ChatMessage] {
        if let systemPrompt, !systemPrompt.isEmpty { return [.system(systemPrompt)] + turns }
        return turns
    }

    /// Room kept free for the reply when deciding whether the prompt fits.
    var replyReserve: Int { min(maxReplyTokens ?? 256, max(1, contextLength / 4)) }

    /// Adds a user message, streams the reply through `onText`, and returns the reply text.
    @discardableResult
    public func send(_ text: String, onText: (String) -> Void) throws -> String {
        var turns = messages + [.user(text)]
        var prompt = try template.encode(conversation(turns), addGenerationPrompt: true, with: tokenizer)
        var dropped = 0
        while prompt.count + replyReserve > contextLength && turns.count > 1 {
            // drop the oldest user/assistant pair
            turns.removeFirst(min(2, turns.count - 1))
            dropped += 1
            prompt = try template.encode(conversation(turns), addGenerationPrompt: true, with: tokenizer)
        }
        if dropped > 0 { notice("[context full: dropped the oldest \(dropped == 1 ? "turn" : "\(dropped) turns")]") }
        guard prompt.count < contextLength else {
            throw ToolkitError.messageTooLong(tokens: prompt.count, context: contextLength)
        }
        // reuse the cached prefix
        var common = 0
        while common < min(cached.count, prompt.count) - 1 && cached[common] == prompt[common] { common += 1 }
        // (a windowed cache may have dropped the prefix: it then keeps less, and we run from there)
        let kept = session.cache.truncate(to: common)
        let fresh = Array(prompt[kept...])
        var sampler = Sampler(sampling)
        var detok = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
        var reply = ""
        let room = contextLength - prompt.count
        let limit = min(maxReplyTokens ?? room, room)
        let stops = opened.stopIds
        let t0 = now()
        var logits = try session.feed(fresh)
        var stats = GenerationStats()
        stats.promptTokens = fresh.count
        stats.promptSeconds = now() - t0
        let t1 = now()
        var history = prompt
        var generated: [Int32] = []
        let end: ReplyEnd
        while true {
            if generated.count == limit {
                end = limit < room ? .limit : .contextFull
                break
            }
            if shouldStop() {
                end = .stopped
                break
            }
            let id = sampler.sample(logits, recent: history[...])
            generated.append(id)
            history.append(id)
            if stops.contains(id) {
                end = .stopToken
                break
            }
            let piece = detok.append(id)
            if !piece.isEmpty { reply += piece; onText(piece) }
            // the last token allowed is not run: the top of the loop ends the reply
            if generated.count < limit { logits = try session.step(id) }
        }
        lastEnd = end
        let tail = detok.finish()
        if !tail.isEmpty { reply += tail; onText(tail) }
        stats.generatedTokens = generated.count
        stats.generateSeconds = now() - t1
        last = stats
        totals.promptTokens += stats.promptTokens
        totals.promptSeconds += stats.promptSeconds
        totals.generatedTokens += stats.generatedTokens
        totals.generateSeconds += stats.generateSeconds
        // the cache now holds prompt + generated tokens (the last sampled one is not yet run)
        cached = Array(history.prefix(session.position))
        messages = turns + [.assistant(reply)]
        return reply
    }
}

/// Why a reply ended.
public enum ReplyEnd: Sendable, Equatable {
    /// The model said its end-of-turn token.
    case stopToken
    /// `maxReplyTokens` were generated.
    case limit
    /// The context has no room for more.
    case contextFull
    /// `shouldStop` asked it to stop.
    case stopped
}
