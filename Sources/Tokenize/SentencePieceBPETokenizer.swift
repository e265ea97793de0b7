/// SentencePiece BPE in pure Swift, from plain vocabulary values (a GGUF
/// `tokenizer.ggml.model = llama` vocabulary): the text is normalized (dummy-prefix space,
/// spaces as ▁), split into characters, and adjacent symbols are merged while their
/// concatenation is a piece, highest score first (leftmost among equals), as libsentencepiece
/// and llama.cpp do. Characters without a piece fall back to `<0xNN>` byte pieces (or UNK).
public final class SentencePieceBPETokenizer: Tokenizer {
    public let vocabSize: Int
    public let bosId: Int32?
    public let eosId: Int32?
    public let addsBOS: Bool
    public let addsEOS: Bool

    private let text: SentencePieceText
    private let merges: MergeTable
    /// Single-character pieces by scalar value.
    private let charIds: [UInt32: Int32]
    /// User-defined pieces, matched whole in the normalized text (they never merge).
    private let userDefined: SpecialTokenMatcher
    /// Control and user-defined pieces, matched in raw text when parsing special tokens.
    private let specials: SpecialTokenMatcher
    /// True when no piece has ▁ after another character, so merges never cross the start of
    /// a ▁ run and the text can be encoded word by word (with a cache).
    private let wordwise: Bool
    private let hasUnusedPieces: Bool

    public var vocabulary: SentencePieceVocabulary { text.vocabulary }
    public var specialTokens: [String: Int32] { text.specialTokens }
    public var stopIds: Set<Int32> { text.stopIds }

    public init(vocabulary v: SentencePieceVocabulary, addBOS: Bool = true, addEOS: Bool = false) {
        text = SentencePieceText(v)
        vocabSize = v.pieces.count
        bosId = v.bosId
        eosId = v.eosId
        addsBOS = addBOS && v.bosId != nil
        addsEOS = addEOS && v.eosId != nil

        var chars: [UInt32: Int32] = [:]
        var table = MergeTable()
        var wordwise = true
        var userDefined: [String: Int32] = [:]
        for (i, piece) in v.pieces.enumerated() where v.isMergeable(i) {
            if v.types[i] == .userDefined { userDefined[piece] = Int32(i) }
            let scalars = Array(piece.unicodeScalars)
            if scalars.count == 1 { chars[scalars[0].value] = chars[scalars[0].value] ?? Int32(i) }
            var seenOther = false
            for s in scalars {
                if s == "\u{2581}" && seenOther { wordwise = false }
                if s != "\u{2581}" { seenOther = true }
            }
            guard scalars.count > 1 else { continue }
            for k in 1..<scalars.count {
                var left = String.UnicodeScalarView(), right = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<k])
                right.append(contentsOf: scalars[k...])
                if let l = text.idsByPiece[String(left)], let r = text.idsByPiece[String(right)], v.isMergeable(Int(l)), v.isMergeable(Int(r)) {
                    table.add(l, r, MergeRule(priority: -v.scores[i], result: Int32(i)))
                }
            }
        }
        merges = table
        charIds = chars
        self.wordwise = wordwise
        self.userDefined = SpecialTokenMatcher(userDefined)
        specials = SpecialTokenMatcher(text.specialTokens)
        hasUnusedPieces = v.types.contains(.unused)
    }

    /// From GGUF metadata values (`tokenizer.ggml.tokens`, `scores`, `token_type`,
    /// `bos/eos/unknown_token_id`, `add_bos_token`, `add_eos_token`, `add_space_prefix`,
    /// `remove_extra_whitespaces`). Absent values take llama.cpp's defaults: BOS 1, EOS 2,
    /// UNK the unknown-type piece (else 0), BOS added, space prefix on.
    public convenience init(ggufTokens tokens: [String], scores: [Float]?, tokenTypes: [Int32]?,
                            bosId: Int32?, eosId: Int32?, unkId: Int32?, addBOS: Bool?, addEOS: Bool?,
                            addSpacePrefix: Bool?, removeExtraWhitespaces: Bool?) throws {
        let types = tokenTypes?.map(TokenType.init(gguf:)) ?? Array(repeating: .normal, count: tokens.count)
        let n = tokens.count
        func orDefault(_ id: Int32?, _ fallback: Int32?) -> Int32? { id ?? fallback.flatMap { Int($0) < n ? $0 : nil } }
        let unknown = types.firstIndex(of: .unknown).flatMap { Int32(exactly: $0) }
        let vocabulary = try SentencePieceVocabulary(
            pieces: tokens, scores: scores ?? Array(repeating: 0, count: tokens.count), types: types,
            bosId: orDefault(bosId, 1), eosId: orDefault(eosId, 2), unkId: orDefault(unkId, unknown ?? 0),
            addSpacePrefix: addSpacePrefix ?? true, removeExtraWhitespaces: removeExtraWhitespaces ?? false)
        self.init(vocabulary: vocabulary, addBOS: addBOS ?? true, addEOS: addEOS ?? false)
    }

    /// Special tokens written in the text are not parsed (as libsentencepiece).
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecialTokens: false)
    }

    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecialTokens: Bool) -> [Int32] {
        var out: [Int32] = []
        if addSpecialTokens, addsBOS, let bosId { out.append(bosId) }
        let raw = Array(text.utf8)
        var session = Session()
        if parseSpecialTokens {
            // Each text fragment is encoded on its own, with its own dummy prefix (as llama.cpp
            // and Hugging Face's legacy Llama tokenizer do after a special token).
            let segments = raw.withUnsafeBufferPointer { specials.segments($0) }
            for segment in segments {
                switch segment {
                case .special(let id): out.append(id)
                case .text(let r): encodeFragment(raw[r], &session, &out)
                }
            }
        } else {
            encodeFragment(raw[...], &session, &out)
        }
        if addSpecialTokens, addsEOS, let eosId { out.append(eosId) }
        return out
    }

    private struct Session {
        var merger = PairMerger()
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
    }

    private func encodeFragment(_ raw: ArraySlice<UInt8>, _ session: inout Session, _ out: inout [Int32]) {
        let normalized = text.normalize(raw)
        let segments = normalized.withUnsafeBufferPointer { userDefined.segments($0) }
        for segment in segments {
            switch segment {
            case .special(let id):
                out.append(id)
            case .text(let r) where !wordwise:
                encodeWord(normalized[r], &session.merger, &out)
            case .text(let r):
                var start = r.lowerBound
                var i = r.lowerBound + 1
                while i + 2 < r.upperBound {
                    // A word starts at a ▁ that follows another character.
                    if normalized[i] == 0xE2 && normalized[i + 1] == 0x96 && normalized[i + 2] == 0x81 && !endsWithSpace(normalized, i, from: start) {
                        encodeCached(normalized[start..<i], &session, &out)
                        start = i
                    }
                    i += 1
                }
                encodeCached(normalized[start..<r.upperBound], &session, &out)
            }
        }
    }

    private func endsWithSpace(_ bytes: [UInt8], _ i: Int, from start: Int) -> Bool {
        i - 3 >= start && bytes[i - 3] == 0xE2 && bytes[i - 2] == 0x96 && bytes[i - 1] == 0x81
    }

    private func encodeCached(_ word: ArraySlice<UInt8>, _ session: inout Session, _ out: inout [Int32]) {
        if let known = session.cache[word] {
            out.append(contentsOf: known)
            return
        }
        var ids: [Int32] = []
        encodeWord(word, &session.merger, &ids)
        session.cache[word] = ids
        out.append(contentsOf: ids)
    }

    /// Merges the characters of `word`; ids of characters without a piece are -1 - scalar.
    private func encodeWord(_ word: ArraySlice<UInt8>, _ merger: inout PairMerger, _ out: inout [Int32]) {
        var ids: [Int32] = []
        for scalar in String(decoding: word, as: UTF8.self).unicodeScalars {
            ids.append(charIds[scalar.value] ?? (-1 - Int32(bitPattern: scalar.value)))
        }
        var splits: [Int32: (Int32, Int32)] = [:]
        if hasUnusedPieces {
            let types = text.vocabulary.types
            merger.merge(&ids, table: merges) { l, r, result in
                if types[Int(result)] == .unused { splits[result] = (l, r) }
            }
        } else {
            merger.merge(&ids, table: merges)
        }
        for id in ids { emit(id, splits, &out) }
    }

    private func emit(_ id: Int32, _ splits: [Int32: (Int32, Int32)], _ out: inout [Int32]) {
        if id >= 0 {
            // An unused piece reached by merging is split back into its parts (libsentencepiece's resegmentation).
            if let (l, r) = splits[id] {
                emit(l, splits, &out)
                emit(r, splits, &out)
            } else {
                out.append(id)
            }
            return
        }
        let unk = text.vocabulary.unkId
        guard text.hasByteFallback, let scalar = Unicode.Scalar(UInt32(bitPattern: -1 - id)) else {
            if let unk { out.append(unk) }
            return
        }
        for b in String(Character(scalar)).utf8 {
            let byteId = text.byteIds[Int(b)]
            if byteId >= 0 { out.append(byteId) } else if let unk { out.append(unk) }
        }
    }

    public func piece(for id: Int32) -> String { text.piece(for: id) }
    public func tokenId(for piece: String) -> Int32? { text.idsByPiece[piece] }
    public func isSpecial(_ id: Int32) -> Bool { text.isSpecial(id) }

    public func appendDecodedBytes(of id: Int32, skipSpecialTokens: Bool, atStart: inout Bool, to bytes: inout [UInt8]) {
        text.appendDecodedBytes(of: id, skipSpecialTokens: skipSpecialTokens, atStart: &atStart, to: &bytes)
    }
}
