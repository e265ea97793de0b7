import Foundation
import FuzzSupport
import Runtime
import TestSupport
import Toolkit

// Input: model.safetensors beside the tiny model's config.json. The header is parsed, every
// tensor converted, then the model directory opened and loaded as every command does, and run.

let directory: String = {
    let d = Harness.directory("model")
    try? TinyModel.writeDirectory(d)
    return d
}()

@_cdecl("fuzz_safetensors_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Harness.main(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    Harness.initialize(seeds: ModelSeeds.safetensors)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.run(data, size) { bytes in
        let path = directory + "/model.safetensors"
        Harness.write(bytes, to: path)
        let file = try SafetensorsFile(path: path)
        for name in file.tensorNames {
            _ = try? file.load(name)
            _ = try? file.loadInts(name)
        }
        let opened = try ModelLoader.open(directory)
        _ = opened.stopIds
        _ = opened.files.config.huggingFaceJSON()
        try Harness.exercise(opened.model)
    }
}
