import Foundation
import XCTest
import Tokenize
import TestSupport

final class ChatTemplateTests: XCTestCase {
    let smolSystem = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    func testSmolLM2TemplateIsRecognisedWithItsDefaultSystemPrompt() throws {
        let jinja = try Fixtures.text(Fixtures.directory("smollm2-tokenizer").appendingPathComponent("chat_template.jinja"))
        XCTAssertEqual(ChatTemplate(recognizing: jinja), .chatML(defaultSystemPrompt: smolSystem))
    }

    func testChatMLRenderingAndEncodingMatchSmolLM2Reference() throws {
        let reference = try Fixtures.json(Fixtures.fixtures.appendingPathComponent("smollm2-chat.json"))
        let messages = try XCTUnwrap(reference["messages"] as? [[String: String]]).map {
            ChatMessage(role: $0["role"] ?? "", content: $0["content"] ?? "")
        }
        let template = ChatTemplate.chatML(defaultSystemPrompt: smolSystem)
        XCTAssertEqual(try template.render(messages, addGenerationPrompt: true), reference["prompt_text"] as? String)
        let ids = try template.encode(messages, addGenerationPrompt: true, with: Loaded.smollm2())
        XCTAssertEqual(ids, try XCTUnwrap(reference["prompt_ids"] as? [NSNumber]).map { $0.int32Value })
    }

    func testChatMLWithSystemMessageAndNoGenerationPrompt() throws {
        let t = ChatTemplate.chatML(defaultSystemPrompt: smolSystem)
        XCTAssertEqual(try t.render([.system("Be brief."), .user("Hi")], addGenerationPrompt: false),
                       "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
        XCTAssertEqual(try t.render([], addGenerationPrompt: true), "<|im_start|>assistant\n")
    }

    func testLlama2Format() throws {
        let messages: [ChatMessage] = [.system("You are helpful."), .user("Hi"), .assistant(" Hello! "), .user("How are you?")]
        let prompt = try ChatTemplate.llama2.render(messages, addGenerationPrompt: true)
        XCTAssertEqual(prompt, "<s>[INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] How are you? [/INST]")
        XCTAssertEqual(try ChatTemplate.llama2.render([.user(" Hi\n")], addGenerationPrompt: true), "<s>[INST] Hi [/INST]")
        // The whole first content is stripped, system block included, not the user part alone.
        XCTAssertEqual(try ChatTemplate.llama2.render([.system(" S"), .user(" Hi")], addGenerationPrompt: true),
                       "<s>[INST] <<SYS>>\n S\n<</SYS>>\n\n Hi [/INST]")
        XCTAssertThrowsError(try ChatTemplate.llama2.render([.assistant("x")], addGenerationPrompt: true)) { error in
            XCTAssertEqual(error as? ChatTemplateError, .rolesMustAlternate(index: 0, role: "assistant"))
        }
        let t = try SentencePieceTokenizer(modelFile: Fixtures.llama2Model)
        let ids = try ChatTemplate.llama2.encode(messages, addGenerationPrompt: true, with: t)
        XCTAssertEqual(Array(ids.prefix(4)), [1, 518, 25580, 29962])  // <s> ▁[ INST ]
        XCTAssertEqual(ids.filter { $0 == 1 }.count, 2)
        XCTAssertEqual(ids.filter { $0 == 2 }.count, 1)
        // Each text fragment after a special token gets SentencePiece's dummy-prefix space.
        XCTAssertEqual(t.decode(ids), prompt.replacingOccurrences(of: "</s><s>", with: "</s><s> "))
    }

    func testRecognitionOfOtherTemplates() {
        let llama2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
        XCTAssertEqual(ChatTemplate(recognizing: llama2), .llama2)
        let plainChatML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
        XCTAssertEqual(ChatTemplate(recognizing: plainChatML), .chatML(defaultSystemPrompt: nil))
        let escaped = "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}{% endif %}"
        XCTAssertEqual(ChatTemplate(recognizing: escaped), .chatML(defaultSystemPrompt: "You are Qwen."))
        XCTAssertNil(ChatTemplate(recognizing: "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['content'] }}{% endfor %}"))
    }

    func testSelectionByName() throws {
        XCTAssertEqual(try ChatTemplate(name: "chatml"), .chatML(defaultSystemPrompt: nil))
        XCTAssertEqual(try ChatTemplate(name: "llama2"), .llama2)
        XCTAssertEqual(try ChatTemplate(name: "none"), ChatTemplate.none)
        XCTAssertEqual(ChatTemplate.names.map { try? ChatTemplate(name: $0).name }, ChatTemplate.names)
        XCTAssertThrowsError(try ChatTemplate(name: "vicuna")) { error in
            XCTAssertEqual(error as? ChatTemplateError, .unknownName("vicuna"))
        }
    }

    func testPlainCompletion() throws {
        let t = ChatTemplate.none
        XCTAssertEqual(try t.render([.user("Once upon a time"), .assistant(" there was")], addGenerationPrompt: true),
                       "Once upon a time there was")
        let dir = Fixtures.directory("opt-tokenizer")
        let opt = try ByteLevelBPETokenizer(vocabJSON: dir.appendingPathComponent("vocab.json"),
                                            mergesTXT: dir.appendingPathComponent("merges.txt"),
                                            config: TokenizerConfig(directory: dir))
        XCTAssertEqual(try t.encode([.user("Hello world")], addGenerationPrompt: true, with: opt), [2, 31414, 232])
    }
}

/// The Llama-3 and Mistral formats against the outputs of their Jinja templates (rendered with
/// jinja2 as transformers does: the Llama-3 template, the Llama-3.1 template's non-tool path, and
/// Mistral-7B-Instruct's), and Qwen2's ChatML.
final class Llama3MistralChatTemplateTests: XCTestCase {
    static let conversation: [ChatMessage] = [.user(" Hi there\n"), .assistant("Hello! How can I help?"), .user("Tell me a joke.")]

    static let llama3Template = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    static let mistralTemplate = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"

    func testLlama3Headers() throws {
        let t = try XCTUnwrap(ChatTemplate(recognizing: Self.llama3Template))
        XCTAssertEqual(t, .llama3(dated: false))
        XCTAssertTrue(t.rendersBOS)
        XCTAssertEqual(try t.render([.system("You are terse. ")] + Self.conversation, addGenerationPrompt: true),
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    }

    func testLlama31DatedSystemBlock() throws {
        let jinja = "{{- bos_token }}\n{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n{%- endif %}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}"
        let t = try XCTUnwrap(ChatTemplate(recognizing: jinja))
        XCTAssertEqual(t, .llama3(dated: true, today: false))
        XCTAssertEqual(try t.render(Self.conversation, addGenerationPrompt: true),
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        XCTAssertEqual(try t.render([.system("You are terse. ")] + Self.conversation, addGenerationPrompt: false),
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a joke.<|eot_id|>")
        // Llama-3.2 templates take today's date (strftime_now "%d %b %Y")
        let t32 = try XCTUnwrap(ChatTemplate(recognizing: jinja + "{%- set date_string = strftime_now(\"%d %b %Y\") %}"))
        XCTAssertEqual(t32, .llama3(dated: true, today: true))
        let rendered = try t32.render([.user("x")], addGenerationPrompt: false)
        XCTAssertNotNil(rendered.range(of: #"Today Date: \d\d [A-Z][a-z]{2} \d{4}\n\n<\|eot_id\|>"#, options: .regularExpression), rendered)
    }

    func testMistralInst() throws {
        let t = try XCTUnwrap(ChatTemplate(recognizing: Self.mistralTemplate))
        XCTAssertEqual(t, .mistral)
        XCTAssertEqual(try t.render(Self.conversation, addGenerationPrompt: true),
                       "<s>[INST]  Hi there\n [/INST]Hello! How can I help?</s>[INST] Tell me a joke. [/INST]")
        XCTAssertEqual(try t.render([.system("Be brief."), .user("Hi")], addGenerationPrompt: true), "<s>[INST] Be brief.\n\nHi [/INST]")
        XCTAssertThrowsError(try t.render([.user("a"), .user("b")], addGenerationPrompt: true)) {
            XCTAssertEqual($0 as? ChatTemplateError, .mistralRolesMustAlternate(index: 1, role: "user"))
        }
        XCTAssertEqual(try ChatTemplate(name: "mistral"), .mistral)
        XCTAssertEqual(try ChatTemplate(name: "llama3"), .llama3(dated: false))
    }

    /// Qwen2.5's template: ChatML with its default system prompt when the conversation has none.
    func testQwen2ChatML() throws {
        let jinja = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
        let t = try XCTUnwrap(ChatTemplate(recognizing: jinja))
        XCTAssertEqual(t, .chatML(defaultSystemPrompt: "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."))
        XCTAssertEqual(try t.render([.user("Hi"), .assistant("Hello!"), .user("Bye")], addGenerationPrompt: true),
                       "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n")
    }
}
