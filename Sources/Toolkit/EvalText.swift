import Foundation
import Runtime
import Tokenize

/// Turning evaluation and calibration files into token ids, as the protocols prescribe.
public enum EvalText {
    public static func read(_ path: String) throws -> String {
        let data = try readFileContents(path)
        guard let s = String(data: data, encoding: .utf8) else { throw FileOperationError(.read, path: path, code: 0, detail: "not UTF-8 text") }
        return s
    }

    /// Paper protocol: rows joined with "\n\n", one tokenization with the default special tokens.
    /// llama.cpp protocol: the file as it is, tokenized once with the default special tokens.
    public static func tokens(file: String, protocol p: PerplexityProtocol, tokenizer: any Tokenizer) throws -> [Int32] {
        let raw = try read(file)
        let text = p == .paper ? WikiText.testText(fileContents: raw) : raw
        return tokenizer.encode(text, addSpecialTokens: true)
    }

    /// Calibration protocol: rows joined with a space, one tokenization with the default special tokens.
    public static func calibrationTokens(file: String, tokenizer: any Tokenizer) throws -> [Int32] {
        tokenizer.encode(WikiText.calibrationText(fileContents: try read(file)), addSpecialTokens: true)
    }
}
