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
