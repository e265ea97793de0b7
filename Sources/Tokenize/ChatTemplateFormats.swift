import Foundation

/// The Llama-3 and Mistral chat formats, as their Hugging Face chat templates render them.
extension ChatTemplate {
    /// Meta's Llama-3 template: `<|begin_of_text|>`, then per message
    /// `<|start_header_id|>role<|end_header_id|>\n\n` + trimmed content + `<|eot_id|>`; the
    /// generation prompt is the assistant header. Llama-3.1+ (`dated`) always open with a system
    /// block "Cutting Knowledge Date: December 2023\nToday Date: <date>\n\n" + the system
    /// message (no tools).
    static func renderLlama3(_ messages: [ChatMessage], dated: Bool, date: String = "26 Jul 2024",
                             addGenerationPrompt: Bool) -> String {
        func block(_ role: String, _ content: String) -> String {
            "<|start_header_id|>\(role)<|end_header_id|>\n\n\(content)<|eot_id|>"
        }
        var out = "<|begin_of_text|>"
        var rest = messages[...]
        if dated {
            var system = ""
            if let first = messages.first, first.role == "system" {
                system = first.content.trimmingCharacters(in: .whitespacesAndNewlines)
                rest = messages.dropFirst()
            }
            out += block("system", "Cutting Knowledge Date: December 2023\nToday Date: \(date)\n\n" + system)
        }
        for m in rest { out += block(m.role, m.content.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        return out
    }

    /// Today as `strftime("%d %b %Y")` in the C locale ("05 Nov 2026").
    static func todayString() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "dd MMM yyyy"
        return f.string(from: Date())
    }

    /// Mistral-7B-Instruct's template: `<s>`, then `[INST] user [/INST]` and `answer</s>` turns
    /// (user first, alternating); a system message is put before the first user message with a
    /// blank line. Always ends ready for the assistant.
    static func renderMistral(_ messages: [ChatMessage]) throws -> String {
        let (system, turns) = splitSystem(messages)
        var out = "<s>"
        for (i, m) in turns.enumerated() {
            guard (m.role == "user") == (i % 2 == 0), m.role == "user" || m.role == "assistant" else {
                throw ChatTemplateError.mistralRolesMustAlternate(index: i + (system == nil ? 0 : 1), role: m.role)
            }
            if m.role == "user" {
                let content = i == 0 && system != nil ? "\(system ?? "")\n\n\(m.content)" : m.content
                out += "[INST] \(content) [/INST]"
            } else {
                out += "\(m.content)</s>"
            }
        }
        return out
    }
}
