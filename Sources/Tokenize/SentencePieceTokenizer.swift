import CSentencePiece
import Foundation

/// SentencePiece through libsentencepiece, for `tokenizer.model` files (Llama-2, llama2.c).
/// Encoding is libsentencepiece's own (its normalizer included); decoding follows it too
/// (see `SentencePieceText`), with control tokens shown unless skipped.
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    // @unchecked: the processor is immutable after loading and libsentencepiece's encode and
    // decode are const, so one processor serves several threads.
    private let processor: OpaquePointer
    private let path: String
    private let text: SentencePieceText

    public let vocabSize: Int
    public let bosId: Int32?
    public let eosId: Int32?
    public let addsBOS: Bool
    public let addsEOS: Bool
    /// The model's normalization rule name ("identity", "nmt_nfkc", ...) and whether it carries
    /// a character map (which only libsentencepiece applies, not `SentencePieceBPETokenizer`).
    public let normalizerName: String
    public let hasCharacterMap: Bool
    private let specials: SpecialTokenMatcher

    /// Loads a `tokenizer.model`. Llama adds BOS (`add_bos_token` defaults to true).
    public init(modelFile: URL, addBOS: Bool = true, addEOS: Bool = false) throws {
        path = modelFile.path
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TokenizerError.fileUnreadable(path: path, reason: "missing or not readable")
        }
        var message = [CChar](repeating: 0, count: 512)
        guard let p = csp_load(path, &message, message.count) else {
            throw TokenizerError.sentencePiece(path: path, message: Self.string(message))
        }
        processor = p
        let n = Int(csp_vocab_size(p))
        var pieces: [String] = [], scores: [Float] = [], types: [TokenType] = []
        pieces.reserveCapacity(n)
        for id in 0..<Int32(n) {
            var length = 0
            let piece = csp_piece(p, id, &length).map { ptr in
                String(decoding: UnsafeRawBufferPointer(start: ptr, count: length), as: UTF8.self)
            }
            pieces.append(piece ?? "")
            scores.append(csp_score(p, id))
            types.append(TokenType(gguf: csp_piece_type(p, id)))
        }
        func id(_ raw: Int32) -> Int32? { raw >= 0 && raw < n ? raw : nil }
        let spec = csp_normalizer_spec(p)
        normalizerName = withUnsafeBytes(of: spec.name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        hasCharacterMap = spec.has_charsmap != 0
        let vocabulary: SentencePieceVocabulary
        do {
            vocabulary = try SentencePieceVocabulary(
                pieces: pieces, scores: scores, types: types, bosId: id(csp_bos_id(p)), eosId: id(csp_eos_id(p)),
                unkId: id(csp_unk_id(p)), addSpacePrefix: spec.add_dummy_prefix != 0,
                removeExtraWhitespaces: spec.remove_extra_whitespaces != 0)
        } catch {
            csp_free(p)
            throw error
        }
        text = SentencePieceText(vocabulary)
        specials = SpecialTokenMatcher(text.specialTokens)
        vocabSize = n
        bosId = vocabulary.bosId
        eosId = vocabulary.eosId
        addsBOS = addBOS && bosId != nil
        addsEOS = addEOS && eosId != nil
    }

    deinit { csp_free(processor) }

    /// Pieces, scores, types, special ids and normalizer flags, as plain values (what a GGUF
    /// file would carry; `SentencePieceBPETokenizer` can be built from them).
    public var vocabulary: SentencePieceVocabulary { text.vocabulary }
    public var specialTokens: [String: Int32] { text.specialTokens }
    public var stopIds: Set<Int32> { text.stopIds }

    /// Special tokens written in the text are not parsed (as libsentencepiece).
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecialTokens: false)
    }

    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecialTokens: Bool) -> [Int32] {
        var out: [Int32] = []
        if addSpecialTokens, addsBOS, let bosId { out.append(bosId) }
        let raw = Array(text.utf8)
        let segments: [SpecialTokenMatcher.Segment] = parseSpecialTokens
            ? raw.withUnsafeBufferPointer { specials.segments($0) }
            : (raw.isEmpty ? [] : [.text(0..<raw.count)])
        for segment in segments {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let r): out.append(contentsOf: libraryEncode(raw[r]))
            }
        }
        if addSpecialTokens, addsEOS, let eosId { out.append(eosId) }
        return out
    }

    /// libsentencepiece's encode fails only without a loaded model, which cannot happen here;
    /// were it to fail, the fragment would yield no ids.
    private func libraryEncode(_ bytes: ArraySlice<UInt8>) -> [Int32] {
        bytes.withUnsafeBufferPointer { buf -> [Int32] in
            var count = 0
            var message = [CChar](repeating: 0, count: 256)
            guard let base = buf.baseAddress,
                  let ids = base.withMemoryRebound(to: CChar.self, capacity: buf.count, {
                      csp_encode(processor, $0, buf.count, &count, &message, message.count)
                  }) else { return [] }
            defer { csp_free_ids(ids) }
            return Array(UnsafeBufferPointer(start: ids, count: count))
        }
    }

    /// libsentencepiece's own decoding (control ids vanish), for comparison with `decode`.
    public func decodeWithLibrary(_ ids: [Int32]) throws -> String {
        var length = 0
        var message = [CChar](repeating: 0, count: 256)
        let out = ids.withUnsafeBufferPointer { buf in
            csp_decode(processor, buf.baseAddress, buf.count, &length, &message, message.count)
        }
        guard let out else { throw TokenizerError.sentencePiece(path: path, message: Self.string(message)) }
        defer { csp_free_text(out) }
        return String(decoding: UnsafeRawBufferPointer(start: out, count: length), as: UTF8.self)
    }

    public func piece(for id: Int32) -> String { text.piece(for: id) }
    public func tokenId(for piece: String) -> Int32? { text.idsByPiece[piece] }
    public func isSpecial(_ id: Int32) -> Bool { text.isSpecial(id) }

    public func appendDecodedBytes(of id: Int32, skipSpecialTokens: Bool, atStart: inout Bool, to bytes: inout [UInt8]) {
        text.appendDecodedBytes(of: id, skipSpecialTokens: skipSpecialTokens, atStart: &atStart, to: &bytes)
    }

    private static func string(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
