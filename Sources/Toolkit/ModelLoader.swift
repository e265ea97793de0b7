import Foundation
import Runtime
import Tokenize

/// A model opened for use: its files, the network, and (when it has one) its tokenizer and chat template.
public struct OpenedModel {
    public let files: ModelFiles
    public let model: CausalLM
    public let tokenizer: (any Tokenizer)?
    /// The chat template recognised from the model's files (nil: none or unknown).
    public let chatTemplate: ChatTemplate?

    /// The tokenizer, or an error saying that the model came without one.
    public func requireTokenizer() throws -> any Tokenizer {
        guard let tokenizer else { throw ToolkitError.noTokenizer(files.path) }
        return tokenizer
    }

    /// Ids that end a generation: the tokenizer's stop ids and the config's EOS ids.
    public var stopIds: Set<Int32> {
        var s = Set(model.config.eosTokenIds.compactMap { Int32(exactly: $0) })
        if let t = tokenizer { s.formUnion(t.stopIds) }
        return s
    }
}

public enum ModelLoader {
    /// Opens a model (HF directory, compressed output, or GGUF) and its tokenizer, its weights in
    /// `dtype` (nil: the file's own type, see `files(_:dtype:)`).
    /// A missing tokenizer is an error only when `requireTokenizer` is set.
    public static func open(_ path: String, requireTokenizer: Bool = false, dtype: WeightDType? = nil) throws -> OpenedModel {
        let files = try self.files(path, dtype: dtype)
        let model = try loadModel(files)
        var tokenizer: (any Tokenizer)?
        var template: ChatTemplate?
        do {
            (tokenizer, template) = try loadTokenizer(files)
        } catch let e as ToolkitError {
            if requireTokenizer { throw e }
        }
        if requireTokenizer && tokenizer == nil { throw ToolkitError.noTokenizer(path) }
        return OpenedModel(files: files, model: model, tokenizer: tokenizer, chatTemplate: template)
    }

    /// A model's files, set to load its weights in `dtype`; nil takes the file's own type
    /// (`WeightSource.nativeDType`: a 16-bit file stays 16-bit, a quantized GGUF becomes f16, a
    /// float32 file stays float32).
    public static func files(_ path: String, dtype: WeightDType?) throws -> ModelFiles {
        let files = try ModelFiles.open(path)
        files.weights.weightDType = dtype ?? files.weights.nativeDType
        return files
    }

    /// The types `compress` holds the model in during the surgery and writes its output in:
    /// the output is `requested` (nil: the file's own type); the model is loaded in the file's own
    /// type (a 16-bit model is not widened: each layer is widened to float32 only while it is
    /// updated and rounded once when written back), except in float32 when the file or the
    /// output is float32 (the updates then stay float32 until the output is written, and are
    /// rounded once there for a 16-bit output).
    public static func compressionDTypes(_ path: String, requested: WeightDType?) throws -> (load: WeightDType, output: WeightDType) {
        let native = try files(path, dtype: nil).weights.weightDType
        let output = requested ?? native
        return (native == .f32 || output == .f32 ? .f32 : native, output)
    }

    /// A model alone (no tokenizer), its weights in `dtype` (nil: the file's own type).
    public static func model(_ path: String, dtype: WeightDType?) throws -> CausalLM {
        try loadModel(files(path, dtype: dtype))
    }

    /// The tokenizer of a model's files: GGUF metadata (the file itself, or `tokenizer.gguf` in a
    /// compressed output directory made from a GGUF), else the Hugging Face tokenizer files.
    public static func loadTokenizer(_ files: ModelFiles) throws -> (any Tokenizer, ChatTemplate?) {
        if let g = files.gguf { return try tokenizer(gguf: g) }
        guard let dir = files.directory else { throw ToolkitError.noTokenizer(files.path) }
        let sidecar = (dir as NSString).appendingPathComponent("tokenizer.gguf")
        if FileManager.default.fileExists(atPath: sidecar) { return try tokenizer(gguf: GGUFFile(path: sidecar)) }
        do {
            let t = try TokenizerFiles.load(directory: URL(fileURLWithPath: dir))
            return (t.tokenizer, t.chatTemplate)
        } catch let e as TokenizerError {
            if case .noTokenizerFiles = e { throw ToolkitError.noTokenizer(files.path) }
            throw e
        }
    }

    /// Builds the tokenizer that GGUF metadata describes (`tokenizer.ggml.*`).
    public static func tokenizer(gguf g: GGUFFile) throws -> (any Tokenizer, ChatTemplate?) {
        let m = g.metadata
        guard let kind = m["tokenizer.ggml.model"]?.stringValue, let tokens = m["tokenizer.ggml.tokens"]?.stringArray else {
            throw ToolkitError.noTokenizer(g.path)
        }
        // Numbers are read checked: one out of range is an error naming its key.
        let types = try g.int32Array("tokenizer.ggml.token_type")
        let bos = try g.tokenId("tokenizer.ggml.bos_token_id")
        let eos = try g.tokenId("tokenizer.ggml.eos_token_id")
        let template = m["tokenizer.chat_template"]?.stringValue.flatMap(ChatTemplate.init(recognizing:))
        switch kind {
        case "gpt2":
            let t = try ByteLevelBPETokenizer(ggufTokens: tokens, merges: m["tokenizer.ggml.merges"]?.stringArray ?? [],
                                              tokenTypes: types, bosId: bos, eosId: eos,
                                              addBOS: m["tokenizer.ggml.add_bos_token"]?.boolValue,
                                              pre: m["tokenizer.ggml.pre"]?.stringValue)
            return (t, template)
        case "llama":
            let t = try SentencePieceBPETokenizer(
                ggufTokens: tokens, scores: m["tokenizer.ggml.scores"]?.floatArray, tokenTypes: types, bosId: bos, eosId: eos,
                unkId: try g.tokenId("tokenizer.ggml.unknown_token_id"),
                addBOS: m["tokenizer.ggml.add_bos_token"]?.boolValue, addEOS: m["tokenizer.ggml.add_eos_token"]?.boolValue,
                addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.boolValue,
                removeExtraWhitespaces: m["tokenizer.ggml.remove_extra_whitespaces"]?.boolValue)
            return (t, template)
        default:
            throw ToolkitError.unsupportedTokenizer(g.path, kind)
        }
    }
}
