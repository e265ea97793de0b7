/// A SentencePiece vocabulary as plain values: what a `tokenizer.model` holds and what GGUF
/// carries for `tokenizer.ggml.model = llama` (tokens, scores, token types, special ids,
/// `add_space_prefix`, `remove_extra_whitespaces`).
public struct SentencePieceVocabulary: Sendable, Equatable {
    public var pieces: [String]
    public var scores: [Float]
    public var types: [TokenType]
    public var bosId: Int32?
    public var eosId: Int32?
    public var unkId: Int32?
    /// SentencePiece's `add_dummy_prefix`: a space is put before the text.
    public var addSpacePrefix: Bool
    /// Leading and trailing spaces are removed and runs of spaces become one.
    public var removeExtraWhitespaces: Bool

    public init(pieces: [String], scores: [Float], types: [TokenType], bosId: Int32?, eosId: Int32?,
                unkId: Int32?, addSpacePrefix: Bool = true, removeExtraWhitespaces: Bool = false) throws {
        guard scores.count == pieces.count, types.count == pieces.count else {
            throw TokenizerError.inconsistentVocabulary(reason: "\(pieces.count) pieces, \(scores.count) scores, \(types.count) types")
        }
        guard pieces.count <= Int(Int32.max) else {
            throw TokenizerError.inconsistentVocabulary(reason: "\(pieces.count) pieces exceed the Int32 ids the project uses")
        }
        for (name, id) in [("BOS", bosId), ("EOS", eosId), ("UNK", unkId)] {
            if let id, id < 0 || Int(id) >= pieces.count {
                throw TokenizerError.inconsistentVocabulary(reason: "\(name) id \(id) is outside the vocabulary of \(pieces.count)")
            }
        }
        self.pieces = pieces
        self.scores = scores
        self.types = types
        self.bosId = bosId
        self.eosId = eosId
        self.unkId = unkId
        self.addSpacePrefix = addSpacePrefix
        self.removeExtraWhitespaces = removeExtraWhitespaces
    }

    /// Can this id take part in merges (and be looked up as text)? Like libsentencepiece:
    /// normal, user-defined and unused pieces.
    func isMergeable(_ i: Int) -> Bool {
        types[i] == .normal || types[i] == .userDefined || types[i] == .unused
    }
}

/// The text side shared by both SentencePiece tokenizers: normalization, piece lookup and
/// decoding as libsentencepiece does them (spaces are U+2581 `▁` inside pieces).
struct SentencePieceText: Sendable {
    static let spaceSymbol: [UInt8] = [0xE2, 0x96, 0x81]  // ▁

    let vocabulary: SentencePieceVocabulary
    let idsByPiece: [String: Int32]
    /// Bytes each id decodes to (▁ already turned into spaces); byte pieces hold their byte.
    private let decoded: [[UInt8]]
    /// The id of each `<0xNN>` byte piece (-1 if missing).
    let byteIds: [Int32]
    let hasByteFallback: Bool
    let specialTokens: [String: Int32]
    let stopIds: Set<Int32>

    init(_ v: SentencePieceVocabulary) {
        vocabulary = v
        var ids: [String: Int32] = [:]
        var bytes = [Int32](repeating: -1, count: 256)
        var specials: [String: Int32] = [:]
        var decoded: [[UInt8]] = []
        decoded.reserveCapacity(v.pieces.count)
        for (i, piece) in v.pieces.enumerated() {
            if ids[piece] == nil { ids[piece] = Int32(i) }
            switch v.types[i] {
            case .byte:
                let value = SentencePieceText.byteValue(piece)
                if let value, bytes[Int(value)] < 0 { bytes[Int(value)] = Int32(i) }
                decoded.append(value.map { [$0] } ?? [])
            case .control:
                specials[piece] = Int32(i)
                decoded.append(Array(piece.utf8))
            case .unknown:
                decoded.append(Array(" \u{2047} ".utf8))
            case .userDefined:
                specials[piece] = Int32(i)
                decoded.append(SentencePieceText.unescape(piece))
            case .normal, .unused:
                decoded.append(SentencePieceText.unescape(piece))
            }
        }
        idsByPiece = ids
        byteIds = bytes
        hasByteFallback = bytes.contains { $0 >= 0 }
        self.decoded = decoded
        specialTokens = specials
        var stops = Set(endOfTurnContents.compactMap { c in specials[c].flatMap { v.types[Int($0)] == .control ? $0 : nil } })
        if let eos = v.eosId { stops.insert(eos) }
        stopIds = stops
    }

    /// `<0x0A>` -> 0x0A.
    static func byteValue(_ piece: String) -> UInt8? {
        guard piece.count == 6, piece.hasPrefix("<0x"), piece.hasSuffix(">") else { return nil }
        return UInt8(piece.dropFirst(3).prefix(2), radix: 16)
    }

    /// Piece text with ▁ turned into spaces.
    static func unescape(_ piece: String) -> [UInt8] {
        var text = String.UnicodeScalarView()
        for s in piece.unicodeScalars { text.append(s == "\u{2581}" ? " " : s) }
        return Array(String(text).utf8)
    }

    /// The text SentencePiece encodes: extra spaces removed (if asked), a space put in front,
    /// spaces written as ▁. Empty text stays empty.
    func normalize(_ text: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 4 + 3)
        let space = UInt8(ascii: " ")
        var pendingSpace = false
        var started = false
        for b in text {
            if vocabulary.removeExtraWhitespaces {
                if b == space {
                    pendingSpace = started
                    continue
                }
                if pendingSpace { out.append(contentsOf: Self.spaceSymbol) }
                pendingSpace = false
            }
            if !started {
                started = true
                if vocabulary.addSpacePrefix { out.append(contentsOf: Self.spaceSymbol) }
            }
            if b == space { out.append(contentsOf: Self.spaceSymbol) } else { out.append(b) }
        }
        return out
    }

    func piece(for id: Int32) -> String {
        id >= 0 && Int(id) < vocabulary.pieces.count ? vocabulary.pieces[Int(id)] : ""
    }

    func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < vocabulary.types.count && vocabulary.types[Int(id)] == .control
    }

    /// libsentencepiece's decoding: control pieces are invisible (shown when not skipping),
    /// the first text piece loses the ▁ of the dummy prefix, byte pieces give raw bytes,
    /// the unknown piece reads " ⁇ ".
    func appendDecodedBytes(of id: Int32, skipSpecialTokens: Bool, atStart: inout Bool, to bytes: inout [UInt8]) {
        guard id >= 0, Int(id) < decoded.count else { return }
        let i = Int(id)
        switch vocabulary.types[i] {
        case .control:
            if !skipSpecialTokens { bytes.append(contentsOf: decoded[i]) }
        case .byte, .unknown:
            bytes.append(contentsOf: decoded[i])
            atStart = false
        case .normal, .userDefined, .unused:
            let d = decoded[i]
            let strip = atStart && d.first == UInt8(ascii: " ")
                && (vocabulary.addSpacePrefix || vocabulary.removeExtraWhitespaces)
            bytes.append(contentsOf: strip ? d[1...] : d[...])
            atStart = false
        }
    }
}
