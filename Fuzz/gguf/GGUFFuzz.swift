import Foundation
import FuzzSupport
import Runtime
import Toolkit

// Input: a .gguf file. Its tokenizer is built from the metadata (as chat/generate/tokenize do),
// then the model is opened, loaded and run; each step runs even when the other failed.

let path = Harness.directory("gguf") + "/model.gguf"

@_cdecl("fuzz_gguf_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Harness.main(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    Harness.initialize(seeds: ModelSeeds.gguf)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.run(data, size) { bytes in
        Harness.write(bytes, to: path)
        let g = try GGUFFile(path: path)
        if let built = try? ModelLoader.tokenizer(gguf: g) {
            let (tokenizer, template) = built
            Harness.exercise(tokenizer)
            _ = try? template?.encode([.user("hi")], addGenerationPrompt: true, with: tokenizer)
        }
        let opened = try ModelLoader.open(path)
        _ = opened.stopIds
        _ = opened.files.config.huggingFaceJSON()
        try Harness.exercise(opened.model)
    }
}
