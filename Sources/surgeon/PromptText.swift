import Foundation
import Runtime

/// Prompt text given as a file (`-f FILE`, `--system-prompt-file FILE`) or on standard input
/// (`-p -`). Like llama.cpp's `-f`, one trailing newline is dropped (files end with one).
enum PromptText {
    /// The name standard input goes by in messages and in `FlagNames.paths`.
    static let standardInput = "standard input"

    /// The text of the file at `path`: a `FileOperationError` naming the path when it cannot be
    /// read or is not UTF-8 text.
    static func read(file path: String) throws -> String {
        try text(readFileContents(path), source: path)
    }

    /// All of standard input as text.
    static func readStandardInput() throws -> String {
        let data: Data
        do {
            data = try FileHandle.standardInput.readToEnd() ?? Data()
        } catch {
            throw FileOperationError(.read, path: standardInput, error: error)
        }
        return try text(data, source: standardInput)
    }

    static func text(_ data: Data, source: String) throws -> String {
        guard var s = String(data: data, encoding: .utf8) else {
            throw FileOperationError(.read, path: source, code: 0, detail: "not UTF-8 text")
        }
        if s.hasSuffix("\n") { s.removeLast() }   // "\r\n" is one Character: removed whole
        return s
    }
}
