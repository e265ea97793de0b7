/// Turns generated ids into text as they come, without decoding the whole sequence again:
/// each `append` returns the text completed by that id. A UTF-8 character split across
/// several tokens (byte-fallback `<0xNN>` pieces, byte-level BPE fragments) is returned once,
/// when its last byte arrives. The concatenated increments plus `finish()` equal
/// `tokenizer.decode(allIds, skipSpecialTokens:)`.
///
/// Text that continues a prompt starts `after:` the prompt's ids, so it reads as
/// `decode(prompt + generated)` without the prompt's text: SentencePiece keeps the space of a
/// first generated piece such as `▁a` ("Once upon" + " a"), dropped only at the start of a text.
public struct StreamingDetokenizer {
    public let tokenizer: any Tokenizer
    public let skipSpecialTokens: Bool
    private var pending: [UInt8] = []
    private var atStart = true

    public init(tokenizer: any Tokenizer, skipSpecialTokens: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// A detokenizer for the text that follows `prompt` (whose own text is not returned): the
    /// first generated id is decoded as it is inside `decode(prompt + generated)`.
    public init(tokenizer: any Tokenizer, skipSpecialTokens: Bool = true, after prompt: [Int32]) {
        self.init(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens)
        var promptBytes: [UInt8] = []
        for id in prompt where atStart {
            tokenizer.appendDecodedBytes(of: id, skipSpecialTokens: skipSpecialTokens, atStart: &atStart, to: &promptBytes)
        }
    }

    /// The text newly completed by `id` (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        tokenizer.appendDecodedBytes(of: id, skipSpecialTokens: skipSpecialTokens, atStart: &atStart, to: &pending)
        let complete = Self.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeSubrange(..<complete)
        return text
    }

    /// Whatever is still held back (a character cut short becomes U+FFFD); call at the end.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// The whole text of `ids` decoded after `prompt`: what the increments and `finish()` join to.
    public static func continuation(of prompt: [Int32], _ ids: [Int32], tokenizer: any Tokenizer,
                                    skipSpecialTokens: Bool = true) -> String {
        var d = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens, after: prompt)
        return ids.map { d.append($0) }.joined() + d.finish()
    }

    /// Starts a new sequence (the next id is again the first one).
    public mutating func reset() {
        pending.removeAll()
        atStart = true
    }

    /// Length of `bytes` without a trailing UTF-8 sequence that is valid so far but not yet
    /// complete. Invalid bytes count as complete (they decode to U+FFFD either way).
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var lead = n - 1
        while lead >= 0 && lead >= n - 4 && bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= 0 && lead >= n - 4 else { return n }
        let b0 = bytes[lead]
        let needed: Int
        switch b0 {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: return n
        }
        let have = n - lead
        guard have < needed else { return n }
        if have >= 2 {
            // The second byte's range depends on the lead (no overlongs, surrogates, > U+10FFFF).
            let b1 = bytes[lead + 1]
            let ok: Bool
            switch b0 {
            case 0xE0: ok = (0xA0...0xBF).contains(b1)
            case 0xED: ok = (0x80...0x9F).contains(b1)
            case 0xF0: ok = (0x90...0xBF).contains(b1)
            case 0xF4: ok = (0x80...0x8F).contains(b1)
            default: ok = true
            }
            if !ok { return n }
        }
        return lead
    }
}
