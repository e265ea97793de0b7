import Foundation

/// What a Hugging Face directory's `tokenizer_config.json` and `special_tokens_map.json` say
/// about special tokens, BOS/EOS addition and the chat template.
public struct TokenizerConfig: Sendable, Equatable {
    public struct AddedToken: Sendable, Equatable {
        public var id: Int32
        public var content: String
        public var special: Bool
    }

    public var bosToken: String?
    public var eosToken: String?
    public var unkToken: String?
    public var padToken: String?
    public var additionalSpecialTokens: [String] = []
    /// `add_bos_token` / `add_eos_token`, when the files say.
    public var addBOS: Bool?
    public var addEOS: Bool?
    /// The Jinja chat template text, if any.
    public var chatTemplate: String?
    /// `added_tokens_decoder` entries (newer transformers versions).
    public var addedTokens: [AddedToken] = []

    public init() {}

    /// Reads `tokenizer_config.json` and `special_tokens_map.json` of `directory` (either may
    /// be missing; `tokenizer_config.json` wins where both name a token).
    public init(directory: URL) throws {
        self.init()
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let mapURL = directory.appendingPathComponent("special_tokens_map.json")
        if let map = try JSONFile.objectIfPresent(mapURL) { merge(map, path: mapURL.path) }
        if let config = try JSONFile.objectIfPresent(configURL) {
            merge(config, path: configURL.path)
            addBOS = config["add_bos_token"] as? Bool
            addEOS = config["add_eos_token"] as? Bool
            chatTemplate = Self.template(in: config["chat_template"])
            if let decoder = config["added_tokens_decoder"] as? [String: Any] {
                for (key, value) in decoder {
                    guard let id = Int32(key), let entry = value as? [String: Any],
                          let content = entry["content"] as? String else {
                        throw TokenizerError.malformed(path: configURL.path, reason: "added_tokens_decoder entry \"\(key)\" lacks an integer id or a content")
                    }
                    addedTokens.append(AddedToken(id: id, content: content, special: entry["special"] as? Bool ?? false))
                }
                addedTokens.sort { $0.id < $1.id }
            }
        }
    }

    /// The named special tokens (BOS, EOS, UNK, PAD, additional), without duplicates.
    public var namedSpecialTokens: [String] {
        var seen = Set<String>()
        return ([bosToken, eosToken, unkToken, padToken].compactMap { $0 } + additionalSpecialTokens)
            .filter { seen.insert($0).inserted }
    }

    private mutating func merge(_ object: [String: Any], path: String) {
        func token(_ key: String) -> String? { Self.tokenContent(object[key]) }
        bosToken = token("bos_token") ?? bosToken
        eosToken = token("eos_token") ?? eosToken
        unkToken = token("unk_token") ?? unkToken
        padToken = token("pad_token") ?? padToken
        if let extra = object["additional_special_tokens"] as? [Any] {
            additionalSpecialTokens = extra.compactMap(Self.tokenContent)
        }
    }

    /// A token is written either as a string or as `{"content": ...}`.
    static func tokenContent(_ value: Any?) -> String? {
        if let s = value as? String { return s }
        if let d = value as? [String: Any] { return d["content"] as? String }
        return nil
    }

    /// `chat_template` is a string, or a list of `{name, template}` (the "default" one is used).
    static func template(in value: Any?) -> String? {
        if let s = value as? String { return s }
        guard let list = value as? [[String: Any]] else { return nil }
        let chosen = list.first { ($0["name"] as? String) == "default" } ?? list.first
        return chosen?["template"] as? String
    }
}

/// Reading JSON files with errors that name the file.
enum JSONFile {
    static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.fileUnreadable(path: url.path, reason: error.localizedDescription)
        }
    }

    static func object(_ url: URL) throws -> [String: Any] {
        let data = try read(url)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw TokenizerError.malformed(path: url.path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let object = parsed as? [String: Any] else {
            throw TokenizerError.malformed(path: url.path, reason: "the top level is not a JSON object")
        }
        return object
    }

    static func objectIfPresent(_ url: URL) throws -> [String: Any]? {
        FileManager.default.fileExists(atPath: url.path) ? try object(url) : nil
    }
}
