import Foundation

/// One line typed in chat: a command, or a message for the model.
enum ChatInput: Equatable {
    case empty
    case help
    case reset
    case stats
    case quit
    /// A slash word that is no command (a typo such as `/stat`): not sent to the model.
    case unknownCommand(String)
    case message(String)

    init(_ line: String) {
        let text = line.trimmingCharacters(in: .whitespaces)
        switch text {
        case "": self = .empty
        case "/help", "/?": self = .help
        case "/reset", "/clear": self = .reset
        case "/stats": self = .stats
        case "/quit", "/exit": self = .quit
        default:
            // "/word" alone is meant as a command; "/usr/bin?" or "/ is a path" go to the model
            let isSlashWord = text.count > 1 && text.first == "/" && text.dropFirst().allSatisfy { $0.isLetter }
            self = isSlashWord ? .unknownCommand(text) : .message(text)
        }
    }

    /// What `/help` prints.
    static let commandList = """
        commands (not sent to the model):
          /help   this list (also /?)
          /reset  forget the conversation (also /clear)
          /stats  tokens in the context, speed of the last reply, totals
          /quit   end the chat (also /exit, Ctrl-D, or Ctrl-C at the prompt)
        Ctrl-C during a reply stops it and returns to the prompt.
        """
}
