import Foundation

/// One message of a conversation.
public struct ChatMessage: Equatable, Sendable {
    /// "system", "user" or "assistant".
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }
}

public enum ChatTemplateError: Error, CustomStringConvertible, Equatable {
    case unknownName(String)
    case rolesMustAlternate(index: Int, role: String)
    case mistralRolesMustAlternate(index: Int, role: String)

    public var description: String {
        switch self {
        case .unknownName(let n):
            return "unknown chat template \"\(n)\"; choose one of: \(ChatTemplate.names.joined(separator: ", "))"
        case .rolesMustAlternate(let i, let r):
            return "the Llama-2 chat format needs user/assistant/user/... after an optional system message, but message \(i) is from \(r)"
        case .mistralRolesMustAlternate(let i, let r):
            return "the Mistral [INST] chat format needs user/assistant/user/... after an optional system message, but message \(i) is from \(r)"
        }
    }
}

/// Chat prompt formats, rendered natively (no template engine).
public enum ChatTemplate: Equatable, Sendable {
    /// `<|im_start|>role\ncontent<|im_end|>\n` per message (SmolLM2, Qwen ...). When the first
    /// message is not a system message, the default system prompt (if any) is put first.
    case chatML(defaultSystemPrompt: String?)
    /// Llama-2 chat: `<s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s>` ...
    case llama2
    /// Llama-3 headers: `<|begin_of_text|>` then `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>`
    /// per message (contents trimmed). `dated` (Llama-3.1+ templates): a system block always comes
    /// first, opening with the knowledge-cutoff and date lines those templates write: the fixed
    /// "26 Jul 2024" of Llama-3.1 templates, or today's date where the template asks for
    /// `strftime_now` (Llama-3.2, `today`).
    case llama3(dated: Bool, today: Bool = false)
    /// Mistral instruct: `<s>[INST] user [/INST]answer</s>[INST] ...`; a system message joins the
    /// first user message (`system\n\nuser`).
    case mistral
    /// No template: the contents one after another, for plain completion (OPT).
    case none

    /// Names accepted by `init(name:)` (`--chat-template NAME`).
    public static let names = ["chatml", "llama2", "llama3", "mistral", "none"]

    public init(name: String) throws {
        switch name.lowercased() {
        case "chatml": self = .chatML(defaultSystemPrompt: nil)
        case "llama2", "llama-2": self = .llama2
        case "llama3", "llama-3": self = .llama3(dated: false)
        case "mistral": self = .mistral
        case "none", "completion": self = .none
        default: throw ChatTemplateError.unknownName(name)
        }
    }

    public var name: String {
        switch self {
        case .chatML: return "chatml"
        case .llama2: return "llama2"
        case .llama3: return "llama3"
        case .mistral: return "mistral"
        case .none: return "none"
        }
    }

    /// The family of a Jinja chat template (GGUF `tokenizer.chat_template`, `chat_template` of
    /// tokenizer_config.json, chat_template.jinja); nil when it is none of the known ones.
    public init?(recognizing template: String) {
        if template.contains("<|im_start|>") {
            self = .chatML(defaultSystemPrompt: Self.defaultChatMLSystemPrompt(in: template))
        } else if template.contains("[INST]") && template.contains("<<SYS>>") {
            self = .llama2
        } else if template.contains("<|start_header_id|>") {
            self = .llama3(dated: template.contains("Cutting Knowledge Date"), today: template.contains("strftime_now"))
        } else if template.contains("[INST]") {
            self = .mistral
        } else {
            return nil
        }
    }

    /// The literal text of a `<|im_start|>system\n...<|im_end|>` block written in the template.
    static func defaultChatMLSystemPrompt(in template: String) -> String? {
        for opener in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            var searchFrom = template.startIndex
            while let open = template.range(of: opener, range: searchFrom..<template.endIndex) {
                searchFrom = open.upperBound
                guard let close = template.range(of: "<|im_end|>", range: open.upperBound..<template.endIndex) else { break }
                let body = template[open.upperBound..<close.lowerBound]
                // Only a literal prompt, not an expression such as ' + message['content'] + '.
                if body.isEmpty || body.contains(where: { "'\"{}+".contains($0) }) { continue }
                return body.replacingOccurrences(of: "\\n", with: "\n")
            }
        }
        return nil
    }

    /// Whether the rendered prompt already holds the BOS token (encode it without adding one).
    public var rendersBOS: Bool {
        switch self {
        case .llama2, .llama3, .mistral: return true
        case .chatML, .none: return false
        }
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        switch self {
        case .chatML(let defaultSystem):
            var out = ""
            if let defaultSystem, let first = messages.first, first.role != "system" {
                out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
            }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
            return out
        case .llama2:
            return try Self.renderLlama2(messages)
        case .llama3(let dated, let today):
            let date = today ? Self.todayString() : "26 Jul 2024"
            return Self.renderLlama3(messages, dated: dated, date: date, addGenerationPrompt: addGenerationPrompt)
        case .mistral:
            return try Self.renderMistral(messages)
        case .none:
            return messages.map(\.content).joined()
        }
    }

    /// A leading system message's content, and the turns after it.
    static func splitSystem(_ messages: [ChatMessage]) -> (system: String?, turns: ArraySlice<ChatMessage>) {
        guard let first = messages.first, first.role == "system" else { return (nil, messages[...]) }
        return (first.content, messages.dropFirst())
    }

    /// As Meta's Llama-2 chat template: the system message joins the first user message;
    /// contents are stripped of surrounding whitespace. The format always ends ready for
    /// the assistant, so there is no separate generation prompt.
    private static func renderLlama2(_ messages: [ChatMessage]) throws -> String {
        let (system, turns) = splitSystem(messages)
        var out = ""
        for (i, m) in turns.enumerated() {
            guard (m.role == "user") == (i % 2 == 0) else {
                throw ChatTemplateError.rolesMustAlternate(index: i + (system == nil ? 0 : 1), role: m.role)
            }
            var content = m.content
            if i == 0, let system { content = "<<SYS>>\n\(system)\n<</SYS>>\n\n" + content }
            let stripped = content.trimmingCharacters(in: .whitespacesAndNewlines)
            if m.role == "user" {
                out += "<s>[INST] \(stripped) [/INST]"
            } else if m.role == "assistant" {
                out += " \(stripped) </s>"
            }
        }
        return out
    }

    /// Renders and encodes a conversation. Special tokens in a rendered template are matched;
    /// plain completion text is encoded as the tokenizer encodes any text.
    public func encode(_ messages: [ChatMessage], addGenerationPrompt: Bool, with tokenizer: any Tokenizer) throws -> [Int32] {
        let prompt = try render(messages, addGenerationPrompt: addGenerationPrompt)
        if self == .none { return tokenizer.encode(prompt, addSpecialTokens: true) }
        return tokenizer.encode(prompt, addSpecialTokens: !rendersBOS, parseSpecialTokens: true)
    }
}
