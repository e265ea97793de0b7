import XCTest
import Tokenize

final class PreTokenizerTests: XCTestCase {
    func testGPT2Pattern() {
        let p = PreTokenizer.gpt2
        XCTAssertEqual(p.words(in: "Hello world"), ["Hello", " world"])
        XCTAssertEqual(p.words(in: "  Hello   world  "), [" ", " Hello", "  ", " world", "  "])
        XCTAssertEqual(p.words(in: "don't I'll DON'T"), ["don", "'t", " I", "'ll", " DON", "'", "T"])
        XCTAssertEqual(p.words(in: "a\n\nb"), ["a", "\n", "\n", "b"])
        XCTAssertEqual(p.words(in: "Pi 3.14!!"), ["Pi", " 3", ".", "14", "!!"])
        XCTAssertEqual(p.words(in: "e\u{301} x²"), ["e", "\u{301}", " x", "²"])
        XCTAssertEqual(p.words(in: "?'s ''x"), ["?'", "s", " ''", "x"])
        XCTAssertEqual(p.words(in: "tab\there"), ["tab", "\t", "here"])
        XCTAssertEqual(p.words(in: "中文 テキスト"), ["中文", " テキスト"])
        XCTAssertEqual(p.words(in: ""), [])
    }

    func testSmolLMIsolatesNumbers() {
        let p = PreTokenizer.smollm
        XCTAssertEqual(p.words(in: "a  12 and 345"), ["a", "  ", "1", "2", " and", " ", "3", "4", "5"])
        XCTAssertEqual(p.words(in: "x² ½"), ["x", "²", " ", "½"])
    }

    func testGGUFNames() throws {
        XCTAssertEqual(try PreTokenizer(ggufName: nil), .gpt2)
        XCTAssertEqual(try PreTokenizer(ggufName: "gpt-2"), .gpt2)
        XCTAssertEqual(try PreTokenizer(ggufName: "smollm"), .smollm)
        XCTAssertEqual(try PreTokenizer(ggufName: "llama-bpe"), .llama3)
        XCTAssertEqual(try PreTokenizer(ggufName: "qwen2"), .qwen2)
        XCTAssertThrowsError(try PreTokenizer(ggufName: "deepseek-llm")) { error in
            XCTAssertEqual(error as? TokenizerError, .unknownPreTokenizer(name: "deepseek-llm"))
        }
    }
}
