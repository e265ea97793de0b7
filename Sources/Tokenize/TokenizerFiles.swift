import Foundation

/// The tokenizer of a Hugging Face model directory, with its configuration and chat template.
public struct TokenizerFiles: Sendable {
    public let tokenizer: any Tokenizer
    /// Which file the tokenizer came from.
    public let source: URL
    public let config: TokenizerConfig
    /// The Jinja chat template text, if the directory has one.
    public let chatTemplateText: String?

    /// The recognised family of `chatTemplateText` (nil: no template, or an unknown one).
    public var chatTemplate: ChatTemplate? { chatTemplateText.flatMap(ChatTemplate.init(recognizing:)) }

    /// Picks `tokenizer.json`, else `vocab.json` + `merges.txt`, else `tokenizer.model`; a
    /// `tokenizer.json` this project cannot read (not byte-level BPE) gives way to the others.
    /// The chat template comes from tokenizer_config.json, else chat_template.jinja, else
    /// chat_template.json.
    public static func load(directory: URL) throws -> TokenizerFiles {
        let config = try TokenizerConfig(directory: directory)
        let fm = FileManager.default
        func file(_ name: String) -> URL? {
            let url = directory.appendingPathComponent(name)
            return fm.fileExists(atPath: url.path) ? url : nil
        }
        let vocabMerges = file("vocab.json").flatMap { v in file("merges.txt").map { (v, $0) } }
        let model = file("tokenizer.model")

        var tokenizer: (any Tokenizer)?
        var source: URL?
        if let json = file("tokenizer.json") {
            do {
                tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: json, config: config)
                source = json
            } catch let error as TokenizerError {
                guard case .unsupported = error, vocabMerges != nil || model != nil else { throw error }
            }
        }
        if tokenizer == nil, let (vocab, merges) = vocabMerges {
            tokenizer = try ByteLevelBPETokenizer(vocabJSON: vocab, mergesTXT: merges, config: config)
            source = vocab
        }
        if tokenizer == nil, let model {
            tokenizer = try SentencePieceTokenizer(modelFile: model, addBOS: config.addBOS ?? true, addEOS: config.addEOS ?? false)
            source = model
        }
        guard let tokenizer, let source else { throw TokenizerError.noTokenizerFiles(directory: directory.path) }
        return TokenizerFiles(tokenizer: tokenizer, source: source, config: config,
                              chatTemplateText: try chatTemplateText(directory: directory, config: config))
    }

    private static func chatTemplateText(directory: URL, config: TokenizerConfig) throws -> String? {
        if let t = config.chatTemplate { return t }
        let jinja = directory.appendingPathComponent("chat_template.jinja")
        if FileManager.default.fileExists(atPath: jinja.path) {
            guard let text = String(data: try JSONFile.read(jinja), encoding: .utf8) else {
                throw TokenizerError.malformed(path: jinja.path, reason: "not UTF-8 text")
            }
            return text
        }
        let json = directory.appendingPathComponent("chat_template.json")
        return try JSONFile.objectIfPresent(json).flatMap { TokenizerConfig.template(in: $0["chat_template"]) }
    }
}
