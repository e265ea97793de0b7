/// What can go wrong in the Toolkit: each case carries the values involved and says what to do in
/// terms of parameters; the CLI words them with its flags.
public enum ToolkitError: Error, CustomStringConvertible, Equatable {
    /// The model at this path came without a tokenizer.
    case noTokenizer(String)
    /// The tokenizer type (GGUF `tokenizer.ggml.model`) of this file is not one we implement.
    case unsupportedTokenizer(String, String)
    /// Fisher labels other than empirical, sampled or sampled:k (1 ≤ k ≤ 1000).
    case badFisherLabels(String)
    /// A chat message (with the conversation it needs) longer than the context.
    case messageTooLong(tokens: Int, context: Int)
    case badInput(String)

    /// Where a tokenizer is looked for.
    public static let tokenizerSources = "tokenizer.json, vocab.json + merges.txt, tokenizer.model, or GGUF tokenizer metadata"
    /// The Fisher labels accepted.
    public static let fisherLabelForms = "empirical, sampled or sampled:k with 1 ≤ k ≤ 1000"

    public var description: String {
        switch self {
        case .noTokenizer(let p):
            return "\(p) has no tokenizer (expected \(ToolkitError.tokenizerSources)); add one, or give token ids instead of text"
        case .unsupportedTokenizer(let p, let m):
            return "\(p): tokenizer type \"\(m)\" is not supported (gpt2 byte-level BPE and llama SentencePiece are)"
        case .badFisherLabels(let s):
            return "Fisher labels must be \(ToolkitError.fisherLabelForms) (got \(s))"
        case .messageTooLong(let n, let c):
            return "the message needs \(n) tokens but the context holds \(c); shorten it or use a larger context"
        case .badInput(let s):
            return s
        }
    }
}
