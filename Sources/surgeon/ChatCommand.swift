import ArgumentParser
import Foundation
import Runtime
import Tokenize
import Toolkit

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model in the terminal (streaming). Works with piped stdin.",
        discussion: "Commands: /help, /reset, /stats, /quit. Ctrl-C during a reply stops the reply and returns "
            + "to the prompt; Ctrl-C at the prompt, /quit or Ctrl-D (end of input) ends the chat.")

    /// Longest reply by default: a small model can loop without ever sampling its end token.
    static let defaultReplyLimit = 512

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(name: [.customLong("system-prompt"), .customLong("sys", withSingleDash: true)], parsing: .unconditional, help: "System prompt.")
    var systemPrompt: String?
    @Option(name: [.customLong("system-prompt-file"), .customLong("sysf", withSingleDash: true)],
            help: "Read the system prompt from this file (one trailing newline dropped).")
    var systemPromptFile: String?
    @Option(name: .customLong("chat-template"), help: "Override the chat template: chatml, llama2, llama3, mistral or none.")
    var chatTemplate: String?
    @Option(name: .short, help: "Longest reply in tokens; -1: until the model stops or the context is full.")
    var n: Int = ChatCommand.defaultReplyLimit
    @Option(name: .customLong("ctx"), help: "Context size in tokens (default: min(4096, the model's maximum)).")
    var ctx: Int?

    func validate() throws {
        guard n >= 1 || n == -1 else { throw ValidationError("-n must be ≥ 1, or -1 for no limit (got \(n))") }
        if let ctx, ctx < 8 { throw ValidationError("--ctx must be ≥ 8 (got \(ctx))") }
        if let t = chatTemplate, !ChatTemplate.names.contains(t.lowercased()) {
            throw ValidationError("--chat-template must be one of \(ChatTemplate.names.joined(separator: ", ")) (got \(t))")
        }
        if systemPrompt != nil && systemPromptFile != nil {
            throw ValidationError("give the system prompt once: --system-prompt TEXT or --system-prompt-file FILE")
        }
    }

    func run() throws {
        var flags = model.flags
        flags.context = "--ctx"
        if let systemPromptFile { flags.paths[systemPromptFile] = "--system-prompt-file" }
        try runReportingErrors(flags) {
            let system = try systemPromptFile.map { try PromptText.read(file: $0) } ?? systemPrompt
            Parallel.setThreads(model.threads)
            let opened = try ModelLoader.open(model.model, requireTokenizer: true, dtype: model.dtype)
            var template = opened.chatTemplate ?? .none
            if let name = chatTemplate { template = try ChatTemplate(name: name) }
            let capacity = min(ctx ?? 4096, opened.model.contextLength)
            let chat = try ChatSession(opened: opened, template: template, systemPrompt: system,
                                       sampling: sampling.params, contextLength: capacity)
            chat.maxReplyTokens = n < 0 ? nil : n
            chat.notice = { printError($0) }
            chat.shouldStop = { ReplyInterrupt.stopRequested }
            sampling.reportDrawnSeed()
            let tty = isatty(STDIN_FILENO) != 0
            if tty {
                printError("surgeon chat: \(model.model) (\(template.name) template, context \(capacity)). "
                           + "/help lists the commands; Ctrl-C stops a reply, Ctrl-D exits.")
            }
            ReplyInterrupt.install()
            while true {
                if tty { print("> ", terminator: ""); flushStdout() }
                guard let line = readLine(strippingNewline: true) else { break }
                switch ChatInput(line) {
                case .empty:
                    continue
                case .quit:
                    return
                case .help:
                    printError(ChatInput.commandList)
                case .unknownCommand(let c):
                    printError("[unknown command \(c); /help lists the commands]")
                case .reset:
                    chat.reset()
                    printError("[conversation cleared]")
                case .stats:
                    let t = chat.totals
                    printError(String(format: "[tokens in context: %d/%d | last reply: %@ | total: %d prompt, %d generated]",
                                      chat.session.position, capacity, chat.last.summary, t.promptTokens, t.generatedTokens))
                case .message(let text):
                    ReplyInterrupt.beginReply()
                    defer { ReplyInterrupt.endReply() }
                    do {
                        try chat.send(text) { piece in
                            print(piece, terminator: "")
                            flushStdout()
                        }
                    } catch let e as ToolkitError {
                        printError("error: \(errorMessage(e, flags: flags))")
                        continue
                    }
                    print()
                    flushStdout()
                    switch chat.lastEnd {
                    case .stopped: printError("[reply stopped]")
                    case .limit: printError("[reply cut at \(n) tokens: -n sets the limit, -1 for none]")
                    case .contextFull: printError("[reply cut: the context of \(capacity) tokens is full; /reset starts over]")
                    case .stopToken: break
                    }
                }
            }
        }
    }
}
