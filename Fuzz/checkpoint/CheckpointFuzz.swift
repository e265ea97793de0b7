import Foundation
import FuzzSupport
import Runtime
import Surgery

// Input: a compression checkpoint's state.json. As `compress --resume` does: decoded, its recipe
// compared with the run's, the run continued from its state on the tiny model (magnitude,
// rows-columns: no calibration needed), the storages planned from its masks and the report written.

@_cdecl("fuzz_checkpoint_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Harness.main(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    Harness.initialize(seeds: CheckpointSeeds.write)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.run(data, size) { bytes in
        let file = try JSONDecoder().decode(CheckpointSeeds.File.self, from: bytes)
        let recipe = CheckpointSeeds.recipe
        guard recipe.differences(from: file.recipe).isEmpty else { return }
        let model = try loadModel(ModelFiles.open(CheckpointSeeds.modelDirectory))
        let comp = try Compressor(model: model, recipe: recipe, calibration: nil, state: file.state)
        try comp.run()
        let masks = Dictionary(uniqueKeysWithValues: comp.layerNames.map {
            ($0, (rows: comp.state.removedRows[$0] ?? [], cols: comp.state.removedCols[$0] ?? []))
        })
        _ = try compressStorages(model: model, structuredMasks: masks)
        _ = try comp.report(source: CheckpointSeeds.modelDirectory).jsonData()
    }
}
