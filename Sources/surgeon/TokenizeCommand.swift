import ArgumentParser
import Foundation
import Runtime
import Tokenize
import Toolkit

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize", abstract: "Print the token ids and pieces of a text.")

    @Option(name: .shortAndLong, help: "Model (its tokenizer is used).")
    var model: String
    @Flag(help: "Print {\"ids\": [...], \"pieces\": [...]}.")
    var json = false
    @Flag(name: .customLong("no-special"), help: "Do not add the tokenizer's special tokens (BOS).")
    var noSpecial = false
    @Option(name: .shortAndLong, help: "Tokenize this file's contents instead of the text argument.")
    var file: String?
    @Argument(help: "The text.")
    var text: String?

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give the text as an argument or --file FILE (one of them)") }
    }

    func run() throws {
        try runReportingErrors(FlagNames(paths: FlagNames.given([(model, "-m"), (file, "-f")]))) {
            let files = try ModelFiles.open(model)
            let (tokenizer, _) = try ModelLoader.loadTokenizer(files)
            let text = try file.map { try EvalText.read($0) } ?? self.text ?? ""
            let ids = tokenizer.encode(text, addSpecialTokens: !noSpecial)
            let pieces = ids.map { tokenizer.piece(for: $0) }
            if json {
                print(jsonLine(["ids": ids.map(Int.init), "pieces": pieces]))
            } else {
                for (id, p) in zip(ids, pieces) { print(String(format: "%6d", id), "'\(p)'") }
            }
        }
    }
}
