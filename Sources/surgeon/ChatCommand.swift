import ArgumentParser
import Foundation
import Runtime
import Tokenize
import Toolkit

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model in the terminal (streaming). Commands: /reset, /stats, /quit. Works with piped stdin.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(name: [.customLong("system-prompt"), .customLong("sys", withSingleDash: true)], help: "System prompt.")
    var systemPrompt: String?
    @Option(name: .customLong("chat-template"), help: "Override the chat template: chatml, llama2 or none.")
    var chatTemplate: String?
    @Option(name: .short, help: "Longest reply in tokens (default: until the model stops or the context is full).")
    var n: Int?
    @Option(name: .customLong("ctx"), help: "Context size in tokens (default: min(4096, the model's maximum)).")
    var ctx: Int?

    func validate() throws {
        if let n, n < 1 { throw ValidationError("-n must be ≥ 1 (got \(n))") }
        if let ctx, ctx < 8 { throw ValidationError("--ctx must be ≥ 8 (got \(ctx))") }
        if let t = chatTemplate, !ChatTemplate.names.contains(t.lowercased()) {
            throw ValidationError("--chat-template must be one of \(ChatTemplate.names.joined(separator: ", ")) (got \(t))")
        }
    }

    func run() throws {
        var flags = model.flags
        flags.context = "--ctx"
        try runReportingErrors(flags) {
            Parallel.setThreads(model.threads)
            let opened = try ModelLoader.open(model.model, requireTokenizer: true)
            var template = opened.chatTemplate ?? .none
            if let name = chatTemplate { template = try ChatTemplate(name: name) }
            let capacity = min(ctx ?? 4096, opened.model.contextLength)
            let chat = try ChatSession(opened: opened, template: template, systemPrompt: systemPrompt,
                                       sampling: sampling.params, contextLength: capacity)
            chat.maxReplyTokens = n
            chat.notice = { printError($0) }
            let tty = isatty(STDIN_FILENO) != 0
            if tty {
                printError("surgeon chat: \(model.model) (\(template.name) template, context \(capacity)). /reset, /stats, /quit; Ctrl-D exits.")
            }
            while true {
                if tty { print("> ", terminator: ""); flushStdout() }
                guard let line = readLine(strippingNewline: true) else { break }
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                switch text {
                case "/quit", "/exit": return
                case "/reset":
                    chat.reset()
                    printError("[conversation cleared]")
                    continue
                case "/stats":
                    let t = chat.totals
                    printError(String(format: "[tokens in context: %d/%d | last reply: %@ | total: %d prompt, %d generated]",
                                      chat.session.position, capacity, chat.last.summary, t.promptTokens, t.generatedTokens))
                    continue
                default: break
                }
                do {
                    try chat.send(text) { piece in
                        print(piece, terminator: "")
                        flushStdout()
                    }
                    print()
                } catch let e as ToolkitError {
                    printError("error: \(errorMessage(e, flags: flags))")
                }
            }
        }
    }
}
