import Foundation
import FuzzSupport
import Runtime
import TestSupport

// Input: a safetensors file holding layer `layer` [12, 40] (+ bias) in the storage its tag names.
// The layer is loaded as a model's block linears are, then its kernels run on every path
// (GEMV, GEMM, a band of rows) and its dense view is taken.

let path = Harness.directory("storage") + "/layer.safetensors"

@_cdecl("fuzz_storage_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Harness.main(argc, argv, fuzzOne)
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    Harness.initialize(seeds: StorageSeeds.write)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Harness.run(data, size) { bytes in
        Harness.write(bytes, to: path)
        let R = StorageSeeds.rows, C = StorageSeeds.cols
        let l = try Linear.load(from: SafetensorsFile(path: path), name: StorageSeeds.layer, rows: R, cols: C, bias: true)
        let x = TinyModel.values(8 * C, seed: 3)
        var y = [Float](repeating: 0, count: 8 * R)
        for (T, rows) in [(1, 0..<R), (8, 0..<R), (1, 3..<9), (8, 5..<R)] {
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { yb in
                    l.forward(xb.baseAddress!, ldx: C, yb.baseAddress!, ldy: R, T: T, rows: rows)
                    l.forward(xb.baseAddress!, ldx: C, yb.baseAddress!, ldy: R, T: T, rows: rows, accumulate: true)
                }
            }
        }
        let w = l.weight
        _ = (w.dense().count, w.zeroCount, w.summary, w.bytes)
        if let rc = w as? any RowColumnCompacted { _ = (rc.keptRows.count, rc.keptCols.count, rc.removedRows.count) }
        _ = w.items(weight: "copy.weight")
    }
}
