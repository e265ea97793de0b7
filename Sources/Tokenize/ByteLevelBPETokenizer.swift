import Foundation

/// Byte-level BPE (GPT-2, OPT, SmolLM2): text is cut into words by a `PreTokenizer`, each
/// word's UTF-8 bytes start as one token per byte, and ranked merges join them.
/// Special tokens (control and user-defined entries) written in the text are matched first.
public final class ByteLevelBPETokenizer: Tokenizer {
    public let vocabSize: Int
    public let bosId: Int32?
    public let eosId: Int32?
    public let addsBOS: Bool
    /// Whether `addSpecialTokens` appends the EOS id.
    public let addsEOS: Bool
    public let preTokenizer: PreTokenizer
    /// Text between special tokens is put in Unicode NFC before it is split (Qwen2's normalizer).
    public let normalizesNFC: Bool
    public let specialTokens: [String: Int32]
    public let stopIds: Set<Int32>

    private let tokens: [String]
    private let types: [TokenType]
    private let idsByPiece: [String: Int32]
    private let decodedBytes: [[UInt8]]
    private let byteIds: [Int32]
    private let merges: MergeTable
    private let matcher: SpecialTokenMatcher
    private let ignoreMerges: Bool

    /// Builds the tokenizer from plain values.
    /// - tokens: vocabulary entries by id, in the byte-level alphabet (`Ġworld`).
    /// - tokenTypes: per id (nil: all normal). Control and user-defined entries are matched
    ///   in text as special tokens; control entries are what `skipSpecialTokens` drops.
    /// - merges: ranked pairs, best first.
    /// - ignoreMerges: a word that is itself a vocabulary entry is taken whole (tokenizer.json's
    ///   `ignore_merges`).
    public init(tokens: [String], tokenTypes: [TokenType]? = nil, merges: [(String, String)],
                bosId: Int32?, eosId: Int32?, addBOS: Bool, addEOS: Bool = false,
                preTokenizer: PreTokenizer = .gpt2, ignoreMerges: Bool = false, normalizesNFC: Bool = false) throws {
        let types = tokenTypes ?? Array(repeating: .normal, count: tokens.count)
        guard types.count == tokens.count else {
            throw TokenizerError.inconsistentVocabulary(reason: "\(tokens.count) tokens but \(types.count) token types")
        }
        guard tokens.count <= Int(Int32.max) else {
            throw TokenizerError.inconsistentVocabulary(reason: "\(tokens.count) tokens exceed the Int32 ids the project uses")
        }
        for (name, id) in [("BOS", bosId), ("EOS", eosId)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw TokenizerError.inconsistentVocabulary(reason: "\(name) id \(id) is outside the vocabulary of \(tokens.count)")
            }
        }
        var idsByPiece: [String: Int32] = [:]
        idsByPiece.reserveCapacity(tokens.count)
        var specials: [String: Int32] = [:]
        var decoded: [[UInt8]] = []
        decoded.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() {
            let id = Int32(i)
            if idsByPiece[token] == nil { idsByPiece[token] = id }
            switch types[i] {
            case .control, .userDefined:
                specials[token] = id
                decoded.append(Array(token.utf8))
            default:
                decoded.append(ByteLevelAlphabet.bytes(of: token) ?? Array(token.utf8))
            }
        }
        // A byte without a token (SmolLM2 has none for bytes that never occur in UTF-8 text,
        // like 0xC0) is dropped from the output, as Hugging Face's BPE without `unk_token` does.
        let byteIds = (0...255).map { idsByPiece[ByteLevelAlphabet.string(forByte: UInt8($0))] ?? -1 }
        guard merges.count < (1 << 24) else {
            throw TokenizerError.inconsistentVocabulary(reason: "\(merges.count) merges exceed the supported 16,777,216")
        }
        var table = MergeTable()
        for (rank, (a, b)) in merges.enumerated() {
            guard let left = idsByPiece[a], let right = idsByPiece[b], let result = idsByPiece[a + b] else {
                throw TokenizerError.mergeTokenMissing(index: rank, merge: "\(a) \(b)")
            }
            table.add(left, right, MergeRule(priority: Float(rank), result: result))
        }

        self.vocabSize = tokens.count
        self.tokens = tokens
        self.types = types
        self.idsByPiece = idsByPiece
        self.decodedBytes = decoded
        self.byteIds = byteIds
        self.merges = table
        self.specialTokens = specials
        self.matcher = SpecialTokenMatcher(specials)
        self.bosId = bosId
        self.eosId = eosId
        self.addsBOS = addBOS && bosId != nil
        self.addsEOS = addEOS && eosId != nil
        self.preTokenizer = preTokenizer
        self.ignoreMerges = ignoreMerges
        self.normalizesNFC = normalizesNFC
        var stops = Set(endOfTurnContents.compactMap { specials[$0] })
        if let eosId { stops.insert(eosId) }
        self.stopIds = stops
    }

    /// Builds the tokenizer from GGUF metadata values (`tokenizer.ggml.model = gpt2`):
    /// `tokens`, `merges` ("a b" strings), `token_type`, `bos/eos_token_id`,
    /// `add_bos_token` (absent: false) and `pre` (absent: GPT-2).
    public convenience init(ggufTokens tokens: [String], merges: [String], tokenTypes: [Int32]?,
                            bosId: Int32?, eosId: Int32?, addBOS: Bool?, pre: String?) throws {
        let preTokenizer = try PreTokenizer(ggufName: pre)
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (i, m) in merges.enumerated() {
            guard let space = m.firstIndex(of: " ") else { throw TokenizerError.mergeTokenMissing(index: i, merge: m) }
            pairs.append((String(m[..<space]), String(m[m.index(after: space)...])))
        }
        try self.init(tokens: tokens, tokenTypes: tokenTypes?.map(TokenType.init(gguf:)), merges: pairs,
                      bosId: bosId, eosId: eosId, addBOS: addBOS ?? false,
                      preTokenizer: preTokenizer, normalizesNFC: preTokenizer == .qwen2)
    }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecialTokens: true)
    }

    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecialTokens: Bool) -> [Int32] {
        var out: [Int32] = []
        if addSpecialTokens, addsBOS, let bosId { out.append(bosId) }
        let bytes = Array(text.utf8)
        out.reserveCapacity(bytes.count / 3)
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        var merger = PairMerger()
        var words: [Range<Int>] = []
        // the words of text `src[range]`, each encoded (cached by its bytes)
        func encodeText(_ src: [UInt8], _ buf: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
            words.removeAll(keepingCapacity: true)
            preTokenizer.split(buf, range, into: &words)
            for word in words {
                if word.count == 1 {
                    let id = byteIds[Int(buf[word.lowerBound])]
                    if id >= 0 { out.append(id) }
                } else if let known = cache[src[word]] {
                    out.append(contentsOf: known)
                } else {
                    let ids = encodeWord(src[word], merger: &merger)
                    cache[src[word]] = ids
                    out.append(contentsOf: ids)
                }
            }
        }
        bytes.withUnsafeBufferPointer { buf in
            let segments = parseSpecialTokens ? matcher.segments(buf) : (buf.isEmpty ? [] : [.text(0..<buf.count)])
            for segment in segments {
                switch segment {
                case .special(let id):
                    out.append(id)
                case .text(let range) where normalizesNFC:
                    let text = String(decoding: buf[range], as: UTF8.self).precomposedStringWithCanonicalMapping
                    let normalized = Array(text.utf8)
                    normalized.withUnsafeBufferPointer { encodeText(normalized, $0, 0..<normalized.count) }
                case .text(let range):
                    encodeText(bytes, buf, range)
                }
            }
        }
        if addSpecialTokens, addsEOS, let eosId { out.append(eosId) }
        return out
    }

    private func encodeWord(_ word: ArraySlice<UInt8>, merger: inout PairMerger) -> [Int32] {
        if ignoreMerges, let whole = idsByPiece[ByteLevelAlphabet.string(forBytes: word)] { return [whole] }
        var ids = word.map { byteIds[Int($0)] }
        merger.merge(&ids, table: merges)
        ids.removeAll { $0 < 0 }
        return ids
    }

    public func piece(for id: Int32) -> String {
        id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : ""
    }

    public func tokenId(for piece: String) -> Int32? { idsByPiece[piece] }

    public func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < types.count && types[Int(id)] == .control
    }

    public func appendDecodedBytes(of id: Int32, skipSpecialTokens: Bool, atStart: inout Bool, to bytes: inout [UInt8]) {
        guard id >= 0, Int(id) < decodedBytes.count else { return }
        if skipSpecialTokens && types[Int(id)] == .control { return }
        bytes.append(contentsOf: decodedBytes[Int(id)])
        atStart = false
    }
}
