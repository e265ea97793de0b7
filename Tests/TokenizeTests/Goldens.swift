import Foundation
import XCTest
import Tokenize
import TestSupport

/// The tokenizer fixtures beside the shared ones (see TestSupport's `Fixtures`).
extension Fixtures {
    static let llama2Model = directory("llama2-tokenizer").appendingPathComponent("tokenizer.model")
    static let tok512Model = directory("stories260K").appendingPathComponent("tokenizer.model")

    /// The wikitext-2 test text, paper protocol.
    static func wikiTestText() throws -> String {
        WikiText.testText(fileContents: try text(wikiTestURL))
    }
}

/// One golden case of one tokenizer in tokenizer-goldens.json.
struct GoldenCase {
    var name: String
    var text: String
    var ids: [Int32]
    var idsWithSpecial: [Int32]
    var tokens: [String]
    var decoded: String
    var roundtrip: Bool
}

enum Goldens {
    static let file = Fixtures.fixtures.appendingPathComponent("tokenizer-goldens.json")

    static func root() throws -> [String: Any] { try Fixtures.json(file) }

    static func cases(for tokenizer: String) throws -> [GoldenCase] {
        let root = try root()
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        let tokenizers = try XCTUnwrap(root["tokenizers"] as? [String: Any])
        let entry = try XCTUnwrap(tokenizers[tokenizer] as? [String: Any])
        let results = try XCTUnwrap(entry["results"] as? [String: Any])
        return try cases.map { c in
            let name = try XCTUnwrap(c["name"] as? String)
            let r = try XCTUnwrap(results[name] as? [String: Any], "no result for \(name)")
            func ids(_ key: String) throws -> [Int32] {
                try XCTUnwrap(r[key] as? [NSNumber]).map { $0.int32Value }
            }
            return GoldenCase(name: name, text: try XCTUnwrap(c["text"] as? String),
                              ids: try ids("ids"), idsWithSpecial: try ids("ids_with_special"),
                              tokens: try XCTUnwrap(r["tokens"] as? [String]),
                              decoded: try XCTUnwrap(r["decoded"] as? String),
                              roundtrip: try XCTUnwrap(r["roundtrip"] as? Bool))
        }
    }

    /// wikitext2 counts: protocol ("test_paper_protocol" / "valid_calibration_protocol"), tokenizer, key.
    static func count(_ proto: String, _ tokenizer: String, _ key: String) throws -> Int {
        let w = try XCTUnwrap(root()["wikitext2"] as? [String: Any])
        let p = try XCTUnwrap(w[proto] as? [String: Any])
        let counts = try XCTUnwrap(p["counts"] as? [String: Any])
        let t = try XCTUnwrap(counts[tokenizer] as? [String: Any])
        return try XCTUnwrap(t[key] as? Int)
    }
}

/// Checks every golden case of `name` against `tokenizer`: ids with and without special
/// tokens, pieces, and decoding.
func checkGoldens(_ tokenizer: Tokenizer, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
    for c in try Goldens.cases(for: name) {
        XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: false), c.ids, "\(name)/\(c.name) ids", file: file, line: line)
        XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: true), c.idsWithSpecial, "\(name)/\(c.name) ids with special", file: file, line: line)
        XCTAssertEqual(c.ids.map { tokenizer.piece(for: $0) }, c.tokens, "\(name)/\(c.name) pieces", file: file, line: line)
        XCTAssertEqual(tokenizer.decode(c.ids), c.decoded, "\(name)/\(c.name) decode", file: file, line: line)
        if c.roundtrip { XCTAssertEqual(c.decoded, c.text, "\(name)/\(c.name) round trip", file: file, line: line) }
    }
}
