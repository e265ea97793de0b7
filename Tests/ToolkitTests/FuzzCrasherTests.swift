import Foundation
import Runtime
import TestSupport
import Tokenize
import Toolkit
import XCTest

/// The gguf fuzz target's crashers of the tokenizer built from GGUF metadata: special ids and
/// token types outside Int32 trapped in their conversions; now each is refused with an error
/// naming its key (see also GGUFTokenizerRangeTests).
final class FuzzCrasherTests: XCTestCase {
    func testOutOfRangeSpecialIdsAreRefusedNamingTheKey() throws {
        for (file, key) in [("eos-token-id-2147483648.gguf", "tokenizer.ggml.eos_token_id"),
                            ("unknown-token-id-2147483648.gguf", "tokenizer.ggml.unknown_token_id")] {
            let g = try GGUFFile(path: FuzzCrashers.directory("gguf").appendingPathComponent(file).path)
            XCTAssertThrowsError(try ModelLoader.tokenizer(gguf: g), file) { error in
                XCTAssertTrue("\(error)".contains(key) && "\(error)".contains("2147483648"), "\(file): \(error)")
            }
        }
    }

    func testTokenTypeBeyondInt32IsRefusedNamingTheKey() throws {
        let g = try GGUFFile(path: FuzzCrashers.directory("gguf").appendingPathComponent("token-type-4294967295.gguf").path)
        XCTAssertThrowsError(try ModelLoader.tokenizer(gguf: g)) { error in
            guard case ModelError.valueOutOfRange(_, let key, let value, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key, "tokenizer.ggml.token_type[1]")
            XCTAssertEqual(value, "4294967295")
        }
    }
}
