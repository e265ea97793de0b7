import XCTest
@testable import Runtime
import Tokenize
@testable import Toolkit
import TestSupport

final class ModelLoaderTests: XCTestCase {
    /// SmolLM2's tokenizer rebuilt from the GGUF vocabulary equals the one from tokenizer.json.
    func testGGUFTokenizerMatchesTokenizerJSON() throws {
        let g = try GGUFFile(path: Fixtures.smolGGUF)
        let (fromGGUF, template) = try ModelLoader.tokenizer(gguf: g)
        let fromJSON = try TokenizerFiles.load(directory: URL(fileURLWithPath: Fixtures.fixture("smollm2-tokenizer"))).tokenizer
        let goldens = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.fixture("tokenizer-goldens.json"))))
        var texts = ["What is the capital of France?", "Numbers 12345 and 3.14159, émigré — 東京 🙂", "<|im_start|>user\nhi<|im_end|>\n"]
        if let d = goldens as? [String: Any], let cases = d["cases"] as? [[String: Any]] {
            texts += cases.compactMap { $0["text"] as? String }
        } else if let cases = goldens as? [[String: Any]] {
            texts += cases.compactMap { $0["text"] as? String }
        }
        let wiki = try String(contentsOfFile: Fixtures.wikiTest, encoding: .utf8)
        texts += wiki.split(separator: "\n").prefix(300).map(String.init)
        XCTAssertGreaterThan(texts.count, 300)
        for t in texts {
            XCTAssertEqual(fromGGUF.encode(t, addSpecialTokens: true), fromJSON.encode(t, addSpecialTokens: true), t)
        }
        XCTAssertEqual(template?.name, "chatml")
        let chat = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.fixture("smollm2-chat.json")))) as! [String: Any]
        let ids = try XCTUnwrap(template).encode([.user("What is the capital of France?")], addGenerationPrompt: true, with: fromGGUF)
        XCTAssertEqual(ids.map(Int.init), chat["prompt_ids"] as? [Int])
    }

    func testOpenFixtureWithSentencePiece() throws {
        let m = try ModelLoader.open(Fixtures.fixture("stories260K"), requireTokenizer: true)
        let t = try m.requireTokenizer()
        XCTAssertEqual(t.encode("Once upon a time", addSpecialTokens: true).first, 1)
        XCTAssertTrue(m.stopIds.contains(2))
    }

    func testMissingTokenizerIsAClearError() throws {
        XCTAssertThrowsError(try ModelLoader.open(Fixtures.fixture("tiny-llama"), requireTokenizer: true)) {
            guard case .noTokenizer = $0 as? ToolkitError else { return XCTFail("\($0)") }
            XCTAssertTrue("\($0)".contains("token ids"), "\($0)")
        }
        XCTAssertNil(try ModelLoader.open(Fixtures.fixture("tiny-llama")).tokenizer)
    }
}
