/// Text <-> token ids. Ids are `Int32`, as everywhere in the project.
///
/// Implementations: `ByteLevelBPETokenizer` (GPT-2 family: GPT-2, OPT, SmolLM2),
/// `SentencePieceTokenizer` (libsentencepiece over a `tokenizer.model`) and
/// `SentencePieceBPETokenizer` (pure Swift, from a GGUF-style SentencePiece vocabulary).
public protocol Tokenizer: AnyObject, Sendable {
    /// Number of ids (the highest id + 1).
    var vocabSize: Int { get }
    var bosId: Int32? { get }
    var eosId: Int32? { get }
    /// Ids that end a generated turn: the EOS id plus end-of-turn tokens such as `<|im_end|>`.
    var stopIds: Set<Int32> { get }
    /// Whether `encode(_:addSpecialTokens: true)` prepends the BOS id.
    var addsBOS: Bool { get }
    /// Added / control tokens by content (what `parseSpecialTokens` matches in text).
    var specialTokens: [String: Int32] { get }

    /// Encodes with the tokenizer's own habit for special tokens written in the text:
    /// byte-level BPE matches them (as Hugging Face does), SentencePiece does not (as
    /// libsentencepiece does). `addSpecialTokens` adds BOS/EOS as the tokenizer's files say.
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int32]
    /// Encodes, matching special tokens written in the text when `parseSpecialTokens` is true
    /// (use it for rendered chat templates).
    func encode(_ text: String, addSpecialTokens: Bool, parseSpecialTokens: Bool) -> [Int32]

    /// The vocabulary entry of `id` as stored (`Ġworld`, `▁Hello`, `<0x0A>`); "" when out of range.
    func piece(for id: Int32) -> String
    func tokenId(for piece: String) -> Int32?
    /// Control tokens (BOS, EOS, `<|im_start|>` ...): dropped by `skipSpecialTokens`.
    func isSpecial(_ id: Int32) -> Bool
    /// Appends the bytes `id` contributes to decoded text. `atStart` is true until the first
    /// text token has been decoded; SentencePiece drops its dummy-prefix space there and clears it.
    /// Out-of-range ids contribute nothing.
    func appendDecodedBytes(of id: Int32, skipSpecialTokens: Bool, atStart: inout Bool, to bytes: inout [UInt8])
}

extension Tokenizer {
    /// Decodes ids to text; invalid UTF-8 (a character cut short) becomes U+FFFD.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        var atStart = true
        for id in ids {
            appendDecodedBytes(of: id, skipSpecialTokens: skipSpecialTokens, atStart: &atStart, to: &bytes)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Kinds of vocabulary entries, numbered as SentencePiece and GGUF (`tokenizer.ggml.token_type`) do.
public enum TokenType: Int32, Sendable {
    case normal = 1
    case unknown = 2
    case control = 3
    case userDefined = 4
    case unused = 5
    case byte = 6

    /// GGUF stores the raw number; unknown numbers count as normal tokens.
    public init(gguf value: Int32) {
        self = TokenType(rawValue: value) ?? .normal
    }
}

/// Contents that usually end an assistant turn, looked up among a vocabulary's special tokens.
let endOfTurnContents = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>"]

/// Errors of building or loading a tokenizer.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case fileUnreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case unsupported(path: String, reason: String)
    case noTokenizerFiles(directory: String)
    case mergeTokenMissing(index: Int, merge: String)
    case unknownPreTokenizer(name: String)
    case inconsistentVocabulary(reason: String)
    case sentencePiece(path: String, message: String)

    public var description: String {
        switch self {
        case .fileUnreadable(let p, let r):
            return "cannot read tokenizer file \(p): \(r); check the path and its permissions"
        case .malformed(let p, let r):
            return "tokenizer file \(p) is malformed: \(r); re-download it from the model's repository"
        case .unsupported(let p, let r):
            return "tokenizer file \(p) is not supported: \(r); provide vocab.json + merges.txt or tokenizer.model instead"
        case .noTokenizerFiles(let d):
            return "no tokenizer in \(d): expected tokenizer.json, vocab.json + merges.txt, or tokenizer.model; copy them from the model's Hugging Face repository"
        case .mergeTokenMissing(let i, let m):
            return "merge #\(i) \"\(m)\" names a token that is not in the vocabulary; the vocabulary and merges do not belong together"
        case .unknownPreTokenizer(let n):
            return "pre-tokenizer \"\(n)\" is not supported (supported: gpt2, smollm); this model's tokenizer needs a pre-tokenizer the project does not implement"
        case .inconsistentVocabulary(let r):
            return "inconsistent tokenizer vocabulary: \(r); the values do not belong to one tokenizer (check the model's tokenizer metadata or files)"
        case .sentencePiece(let p, let m):
            return "libsentencepiece failed on \(p): \(m); check that the file is a SentencePiece tokenizer.model"
        }
    }
}
