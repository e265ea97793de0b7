import Foundation
import FuzzSupport
import Tokenize

// Input: tokenizer.model, loaded from a directory through libsentencepiece as the model loader
// does, encoded and decoded; its vocabulary then builds the pure-Swift tokenizer that GGUF
// inputs use, which is exercised too.

let directory = Harness.directory("sentencepiece")

@_cdecl("fuzz_sentencepiece_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Harness.main(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    Harness.initialize(seeds: TokenizerSeeds.sentencePiece)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.run(data, size) { bytes in
        Harness.write(bytes, to: directory + "/tokenizer.model")
        let t = try TokenizerFiles.load(directory: URL(fileURLWithPath: directory))
        Harness.exercise(t.tokenizer)
        if let spm = t.tokenizer as? SentencePieceTokenizer {
            _ = try? spm.decodeWithLibrary([0, 1, 2, 3])
            Harness.exercise(SentencePieceBPETokenizer(vocabulary: spm.vocabulary))
        }
    }
}
