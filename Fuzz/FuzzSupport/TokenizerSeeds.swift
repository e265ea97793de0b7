import Foundation
import Tokenize

/// Seed corpora of the tokenizer targets: the fixtures' tokenizers cut down to their first ids
/// (and the merges among them), so that an execution takes milliseconds.
public enum TokenizerSeeds {
    static let keep = 700

    static func object(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let o = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path])
        }
        return o
    }

    static func json(_ o: Any) throws -> Data { try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) }

    /// Vocabulary entries with id < `keep`, and the merges whose parts and result survive.
    static func trim(vocab: [String: Any], merges: [String]) -> ([String: Int], [String]) {
        var v: [String: Int] = [:]
        for (k, x) in vocab { if let id = (x as? NSNumber)?.intValue, id < keep { v[k] = id } }
        let m = merges.filter { line in
            let p = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            return p.count == 2 && v[p[0]] != nil && v[p[1]] != nil && v[p[0] + p[1]] != nil
        }
        return (v, m)
    }

    static func with(_ parts: [Data]) -> Data {
        var out = Data()
        for (i, p) in parts.enumerated() {
            if i > 0 { out.append(0) }
            out.append(p)
        }
        return out
    }

    /// tokenizer.json \0 tokenizer_config.json: SmolLM2's, cut down, with three post-processors.
    public static func tokenizerJSON(_ dir: String) throws {
        let src = Harness.fixtures + "/smollm2-tokenizer"
        var root = try object(src + "/tokenizer.json")
        guard var model = root["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Any] else { return }
        let merges = (model["merges"] as? [Any] ?? []).compactMap { m -> String? in
            if let s = m as? String { return s }
            if let p = m as? [String], p.count == 2 { return p[0] + " " + p[1] }
            return nil
        }
        let (v, m) = trim(vocab: vocab, merges: merges)
        model["vocab"] = v
        model["merges"] = m
        root["model"] = model
        let config = try Data(contentsOf: URL(fileURLWithPath: src + "/tokenizer_config.json"))
        try with([json(root), config]).write(to: URL(fileURLWithPath: dir + "/smollm2-bytelevel"))
        let tokenRef = { (id: String) in ["SpecialToken": ["id": id, "type_id": 0]] as [String: Any] }
        root["post_processor"] = ["type": "TemplateProcessing",
                                  "single": [tokenRef("<|im_start|>"), ["Sequence": ["id": "A", "type_id": 0]], tokenRef("<|im_end|>")],
                                  "special_tokens": ["<|im_start|>": ["id": "<|im_start|>", "ids": [1], "tokens": ["<|im_start|>"]]]]
        try with([json(root), Data()]).write(to: URL(fileURLWithPath: dir + "/smollm2-template"))
        root["post_processor"] = ["type": "Sequence", "processors": [["type": "ByteLevel"],
                                  ["type": "RobertaProcessing", "cls": ["<|endoftext|>", 0], "sep": ["<|im_end|>", 2]]]]
        root["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true]
        try with([json(root), Data("{\"bos_token\": \"<|im_start|>\"}".utf8)]).write(to: URL(fileURLWithPath: dir + "/smollm2-roberta"))
    }

    /// vocab.json \0 merges.txt \0 tokenizer_config.json: GPT-2's and OPT's, cut down.
    public static func bpeFiles(_ dir: String) throws {
        for name in ["gpt2", "opt"] {
            let src = Harness.fixtures + "/\(name)-tokenizer"
            let vocab = try object(src + "/vocab.json")
            let text = try String(contentsOfFile: src + "/merges.txt", encoding: .utf8)
            let lines = text.split(separator: "\n").map(String.init)
            let (v, m) = trim(vocab: vocab, merges: Array(lines.dropFirst()))
            let merges = Data(Array(([lines.first ?? "#version: 0.2"] + m).joined(separator: "\n").utf8) + [0x0A])
            let config = try Data(contentsOf: URL(fileURLWithPath: src + "/tokenizer_config.json"))
            try with([json(v), merges, config]).write(to: URL(fileURLWithPath: dir + "/\(name)"))
        }
    }

    /// stories260K's tokenizer.model (7.5 KB).
    public static func sentencePiece(_ dir: String) throws {
        try ModelSeeds.copy(Harness.fixtures + "/stories260K/tokenizer.model", to: dir + "/stories260K.model")
    }
}
