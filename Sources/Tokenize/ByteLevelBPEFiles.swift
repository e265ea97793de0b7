import Foundation

/// Loading byte-level BPE from Hugging Face files.
extension ByteLevelBPETokenizer {
    /// From a `tokenizer.json` (Hugging Face tokenizers format). Its `added_tokens` are the
    /// special tokens and its `post_processor` decides what `addSpecialTokens` adds; `config`
    /// (tokenizer_config.json) names BOS/EOS.
    public convenience init(tokenizerJSON url: URL, config: TokenizerConfig = TokenizerConfig()) throws {
        let path = url.path
        let root = try JSONFile.object(url)
        guard let model = root["model"] as? [String: Any] else {
            throw TokenizerError.malformed(path: path, reason: "no \"model\" object")
        }
        let kind = model["type"] as? String ?? "BPE"
        guard kind == "BPE" else { throw TokenizerError.unsupported(path: path, reason: "model type \(kind) (only BPE)") }
        if model["byte_fallback"] as? Bool == true {
            throw TokenizerError.unsupported(path: path, reason: "a byte-fallback (SentencePiece-style) BPE, not byte-level")
        }
        var nfc = false
        if let normalizer = root["normalizer"], !(normalizer is NSNull) {
            // NFC (Qwen2) is implemented; any other normalizer is refused by name
            guard Self.typeName(normalizer) == "NFC" else {
                throw TokenizerError.unsupported(path: path, reason: "a normalizer (\(Self.typeName(normalizer))); only NFC is implemented")
            }
            nfc = true
        }
        let pre = try Self.preTokenizer(root["pre_tokenizer"], path: path)
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw TokenizerError.malformed(path: path, reason: "model.vocab is not an object of token -> id")
        }
        var entries: [(String, Int32)] = []
        entries.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            entries.append((token, try Self.tokenId(value, path: path, what: "model.vocab entry \"\(token)\"")))
        }
        var added: [TokenizerConfig.AddedToken] = []
        for item in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let content = item["content"] as? String, item["id"] != nil else {
                throw TokenizerError.malformed(path: path, reason: "an added_tokens entry lacks an id or a content")
            }
            let id = try Self.tokenId(item["id"], path: path, what: "added_tokens entry \"\(content)\"")
            added.append(.init(id: id, content: content, special: item["special"] as? Bool ?? false))
        }
        let merges = try Self.merges(model["merges"], path: path)
        let (tokens, types) = try Self.vocabulary(entries, added: added, path: path, addedPath: path)
        var ids = Dictionary(entries, uniquingKeysWith: { a, _ in a })
        for a in added { ids[a.content] = a.id }
        let idOf = { (content: String?) -> Int32? in content.flatMap { ids[$0] } }
        let (prefix, suffix) = try Self.postProcessorTokens(root["post_processor"], path: path, idOf: idOf)
        try self.init(tokens: tokens, tokenTypes: types, merges: merges,
                      bosId: prefix ?? idOf(config.bosToken), eosId: suffix ?? idOf(config.eosToken),
                      addBOS: prefix != nil, addEOS: suffix != nil, preTokenizer: pre,
                      ignoreMerges: model["ignore_merges"] as? Bool ?? false, normalizesNFC: nfc)
    }

    /// From GPT-2-style `vocab.json` + `merges.txt`; `config` gives the special tokens
    /// (BOS/EOS/UNK/PAD, additional, added_tokens_decoder) and `add_bos_token` / `add_eos_token`.
    public convenience init(vocabJSON: URL, mergesTXT: URL, config: TokenizerConfig = TokenizerConfig()) throws {
        let vocab = try JSONFile.object(vocabJSON)
        var entries: [(String, Int32)] = []
        entries.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            entries.append((token, try Self.tokenId(value, path: vocabJSON.path, what: "entry \"\(token)\"")))
        }
        let ids = Dictionary(entries, uniquingKeysWith: { a, _ in a })
        var added = config.addedTokens
        for name in config.namedSpecialTokens where !added.contains(where: { $0.content == name }) {
            if let id = ids[name] { added.append(.init(id: id, content: name, special: true)) }
        }
        guard let text = String(data: try JSONFile.read(mergesTXT), encoding: .utf8) else {
            throw TokenizerError.malformed(path: mergesTXT.path, reason: "not UTF-8 text")
        }
        var merges: [(String, String)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if n == 0 && line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.malformed(path: mergesTXT.path, reason: "line \(n + 1) is not two tokens separated by one space")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        let configPath = vocabJSON.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path
        let (tokens, types) = try Self.vocabulary(entries, added: added, path: vocabJSON.path, addedPath: configPath)
        func id(_ content: String?) -> Int32? {
            content.flatMap { c in added.first { $0.content == c }?.id ?? ids[c] }
        }
        try self.init(tokens: tokens, tokenTypes: types, merges: merges,
                      bosId: id(config.bosToken), eosId: id(config.eosToken),
                      addBOS: config.addBOS ?? false, addEOS: config.addEOS ?? false)
    }

    /// Ids may leave gaps (unused ids) of at most this many in all: the vocabulary is sized by
    /// the largest id, so ids are bounded by the number of entries the files hold plus this.
    public static let unusedIdAllowance = 1 << 16

    /// A token id as a JSON file writes it: an integer from 0 to Int32.max (checked, never truncated).
    static func tokenId(_ value: Any?, path: String, what: String) throws -> Int32 {
        guard let n = value as? NSNumber, let id = Int32(exactly: n.doubleValue), id >= 0 else {
            throw TokenizerError.malformed(path: path, reason: "\(what) has id \(value.map { "\($0)" } ?? "none"), not a token id (an integer from 0 to \(Int32.max))")
        }
        return id
    }

    /// Tokens by id (gaps become unused empty entries) and their types: added tokens are
    /// control (special) or user-defined. Every id is checked against the number of entries
    /// (`unusedIdAllowance`) before the table is sized by the largest; `path` holds `entries`,
    /// `addedPath` the added tokens.
    static func vocabulary(_ entries: [(String, Int32)], added: [TokenizerConfig.AddedToken],
                           path: String, addedPath: String) throws -> ([String], [TokenType]) {
        let limit = min(entries.count + added.count + unusedIdAllowance, Int(Int32.max))
        func check(_ id: Int32, _ what: String, _ file: String) throws {
            guard id >= 0, Int(id) < limit else {
                throw TokenizerError.malformed(
                    path: file, reason: "\(what) has id \(id); with \(entries.count) entries and \(added.count) added tokens, "
                        + "ids must lie from 0 to \(limit - 1) (at most \(unusedIdAllowance) unused ids)")
            }
        }
        for (token, id) in entries { try check(id, "token \"\(token)\"", path) }
        for a in added { try check(a.id, "added token \"\(a.content)\"", addedPath) }
        let maxId = max(entries.map(\.1).max() ?? -1, added.map(\.id).max() ?? -1)
        var tokens = [String](repeating: "", count: Int(maxId) + 1)
        var types = [TokenType](repeating: .unused, count: Int(maxId) + 1)
        for (token, id) in entries {
            tokens[Int(id)] = token
            types[Int(id)] = .normal
        }
        for a in added {
            tokens[Int(a.id)] = a.content
            types[Int(a.id)] = a.special ? .control : .userDefined
        }
        return (tokens, types)
    }

    private static func merges(_ value: Any?, path: String) throws -> [(String, String)] {
        guard let list = value as? [Any] else { throw TokenizerError.malformed(path: path, reason: "model.merges is not a list") }
        var out: [(String, String)] = []
        out.reserveCapacity(list.count)
        for (i, item) in list.enumerated() {
            if let pair = item as? [String], pair.count == 2 {
                out.append((pair[0], pair[1]))
            } else if let s = item as? String, let space = s.firstIndex(of: " ") {
                out.append((String(s[..<space]), String(s[s.index(after: space)...])))
            } else {
                throw TokenizerError.malformed(path: path, reason: "merge #\(i) is neither \"a b\" nor [a, b]")
            }
        }
        return out
    }

    private static func typeName(_ value: Any?) -> String {
        (value as? [String: Any])?["type"] as? String ?? "unknown"
    }

    /// ByteLevel(use_regex) is GPT-2's pattern; Sequence[Digits(individual), ByteLevel] is SmolLM's;
    /// Sequence[Split(Llama-3's or Qwen2's regex, Isolated), ByteLevel(use_regex false)] is theirs.
    private static func preTokenizer(_ value: Any?, path: String) throws -> PreTokenizer {
        if let d = value as? [String: Any], d["type"] as? String == "Sequence",
           let list = d["pretokenizers"] as? [[String: Any]], list.count == 2, list[0]["type"] as? String == "Split" {
            let split = list[0]
            guard let pattern = (split["pattern"] as? [String: Any])?["Regex"] as? String else {
                throw TokenizerError.unsupported(path: path, reason: "pre_tokenizer Split on \(split["pattern"].map { "\($0)" } ?? "nothing") (only the Llama-3 and Qwen2 regexes are implemented)")
            }
            guard let pre = PreTokenizer(splitPattern: pattern) else {
                throw TokenizerError.unsupported(path: path, reason: "pre_tokenizer Split regex \(pattern) (only the Llama-3 and Qwen2 regexes are implemented)")
            }
            guard split["behavior"] as? String == "Isolated", split["invert"] as? Bool != true else {
                throw TokenizerError.unsupported(path: path, reason: "pre_tokenizer Split with behavior \(split["behavior"] ?? "none") (Isolated is implemented)")
            }
            let byteLevel = list[1]
            guard byteLevel["type"] as? String == "ByteLevel", byteLevel["use_regex"] as? Bool == false,
                  byteLevel["add_prefix_space"] as? Bool != true else {
                throw TokenizerError.unsupported(path: path, reason: "pre_tokenizer Split followed by \(typeName(byteLevel)) (ByteLevel without its own regex is implemented)")
            }
            return pre
        }
        func isPlainByteLevel(_ v: Any?) -> Bool {
            guard let d = v as? [String: Any], d["type"] as? String == "ByteLevel" else { return false }
            return d["add_prefix_space"] as? Bool != true && d["use_regex"] as? Bool != false
        }
        if isPlainByteLevel(value) { return .gpt2 }
        if let d = value as? [String: Any], d["type"] as? String == "Sequence",
           let list = d["pretokenizers"] as? [[String: Any]], list.count == 2,
           list[0]["type"] as? String == "Digits", list[0]["individual_digits"] as? Bool == true,
           isPlainByteLevel(list[1]) {
            return .smollm
        }
        throw TokenizerError.unsupported(path: path, reason: "pre_tokenizer \(typeName(value)) (supported: ByteLevel, Digits + ByteLevel, Llama-3 / Qwen2 Split + ByteLevel)")
    }

    /// The special tokens the post-processor puts before and after a single sequence.
    private static func postProcessorTokens(_ value: Any?, path: String,
                                            idOf: (String?) -> Int32?) throws -> (Int32?, Int32?) {
        guard let d = value as? [String: Any], let type = d["type"] as? String else { return (nil, nil) }
        switch type {
        case "ByteLevel":
            return (nil, nil)
        case "Sequence":
            var found: (Int32?, Int32?) = (nil, nil)
            for p in d["processors"] as? [Any] ?? [] {
                let (a, b) = try postProcessorTokens(p, path: path, idOf: idOf)
                found = (found.0 ?? a, found.1 ?? b)
            }
            return found
        case "RobertaProcessing", "BertProcessing":
            func token(_ key: String) throws -> Int32? {
                guard let value = (d[key] as? [Any])?.last else { return nil }
                return try tokenId(value, path: path, what: "post_processor \(type) \(key)")
            }
            return (try token("cls"), try token("sep"))
        case "TemplateProcessing":
            guard let single = d["single"] as? [[String: Any]] else {
                throw TokenizerError.malformed(path: path, reason: "TemplateProcessing without a \"single\" template")
            }
            var before: [String] = [], after: [String] = []
            var seenSequence = false
            for item in single {
                if item["Sequence"] != nil { seenSequence = true; continue }
                guard let s = item["SpecialToken"] as? [String: Any], let name = s["id"] as? String else { continue }
                if seenSequence { after.append(name) } else { before.append(name) }
            }
            guard before.count <= 1, after.count <= 1 else {
                throw TokenizerError.unsupported(path: path, reason: "a post-processor template adding several tokens on one side")
            }
            func resolve(_ name: String?) throws -> Int32? {
                guard let name else { return nil }
                let specials = d["special_tokens"] as? [String: Any]
                if let ids = (specials?[name] as? [String: Any])?["ids"] as? [Any], let first = ids.first {
                    return try tokenId(first, path: path, what: "post-processor token \(name)")
                }
                guard let id = idOf(name) else {
                    throw TokenizerError.malformed(path: path, reason: "post-processor token \(name) is not in the vocabulary")
                }
                return id
            }
            return (try resolve(before.first), try resolve(after.first))
        default:
            throw TokenizerError.unsupported(path: path, reason: "post_processor \(type)")
        }
    }
}
