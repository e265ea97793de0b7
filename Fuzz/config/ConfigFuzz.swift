import Foundation
import FuzzSupport
import Runtime
import TestSupport
import Toolkit

// Input: config.json beside the tiny model's model.safetensors: opened and loaded as every
// command does, and run.

let directory: String = {
    let d = Harness.directory("model")
    try? TinyModel.writeDirectory(d)
    return d
}()

@_cdecl("fuzz_config_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Harness.main(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    Harness.initialize(seeds: ModelSeeds.configs)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.run(data, size) { bytes in
        Harness.write(bytes, to: directory + "/config.json")
        let opened = try ModelLoader.open(directory)
        _ = opened.stopIds
        _ = opened.files.config.huggingFaceJSON()
        try Harness.exercise(opened.model)
    }
}
