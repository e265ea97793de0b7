import Foundation
import FuzzSupport
import Tokenize

// Input: vocab.json \0 merges.txt \0 tokenizer_config.json (later parts optional), loaded from a
// directory as the model loader does, then encoded and decoded.

let directory = Harness.directory("bpe-files")

@_cdecl("fuzz_bpe_files_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Harness.main(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    Harness.initialize(seeds: TokenizerSeeds.bpeFiles)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.run(data, size) { bytes in
        let parts = Harness.parts(bytes, count: 3)
        let names = ["vocab.json", "merges.txt", "tokenizer_config.json"]
        for (i, name) in names.enumerated() {
            let path = directory + "/" + name
            if i < parts.count { Harness.write(parts[i], to: path) } else { try? FileManager.default.removeItem(atPath: path) }
        }
        let t = try TokenizerFiles.load(directory: URL(fileURLWithPath: directory))
        Harness.exercise(t.tokenizer)
    }
}
