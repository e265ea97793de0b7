import Foundation
import Runtime
import TestSupport
import Tokenize
import Toolkit
import XCTest

/// The gguf fuzz target's crashers of the tokenizer built from GGUF metadata: special ids and
/// token types outside Int32 trapped in their conversions; now an id is refused naming its key
/// and an unknown token type counts as a normal token.
final class FuzzCrasherTests: XCTestCase {
    func testOutOfRangeSpecialIdsAreRefusedNamingTheKey() throws {
        for (file, key) in [("eos-token-id-2147483648.gguf", "tokenizer.ggml.eos_token_id"),
                            ("unknown-token-id-2147483648.gguf", "tokenizer.ggml.unknown_token_id")] {
            let g = try GGUFFile(path: FuzzCrashers.directory("gguf").appendingPathComponent(file).path)
            XCTAssertThrowsError(try ModelLoader.tokenizer(gguf: g), file) { error in
                XCTAssertEqual(error as? TokenizerError,
                               .inconsistentVocabulary(reason: "\(key) 2147483648 is outside the vocabulary of \(key.contains("unknown") ? 4 : 3)"))
            }
        }
    }

    func testTokenTypeBeyondInt32IsANormalToken() throws {
        let g = try GGUFFile(path: FuzzCrashers.directory("gguf").appendingPathComponent("token-type-4294967295.gguf").path)
        let (t, _) = try ModelLoader.tokenizer(gguf: g)
        XCTAssertEqual(t.vocabSize, 3)
        XCTAssertFalse(t.isSpecial(1))
        XCTAssertEqual(t.piece(for: 1), "b")
    }
}
