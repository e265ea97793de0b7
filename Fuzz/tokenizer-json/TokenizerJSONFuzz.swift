import Foundation
import FuzzSupport
import Tokenize

// Input: tokenizer.json \0 tokenizer_config.json (the second part optional), loaded from a
// directory as the model loader does, then encoded and decoded.

let directory = Harness.directory("tokenizer-json")

@_cdecl("fuzz_tokenizer_json_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Harness.main(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    Harness.initialize(seeds: TokenizerSeeds.tokenizerJSON)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.run(data, size) { bytes in
        let parts = Harness.parts(bytes, count: 2)
        Harness.write(parts[0], to: directory + "/tokenizer.json")
        let config = directory + "/tokenizer_config.json"
        if parts.count > 1 { Harness.write(parts[1], to: config) } else { try? FileManager.default.removeItem(atPath: config) }
        let t = try TokenizerFiles.load(directory: URL(fileURLWithPath: directory))
        Harness.exercise(t.tokenizer)
        if let template = t.chatTemplate { _ = try? template.encode([.user("hi")], addGenerationPrompt: true, with: t.tokenizer) }
    }
}
