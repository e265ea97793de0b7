import XCTest
@testable import Runtime
import TestSupport

/// The dense 16-bit storages (f16, bf16): their C kernels against Swift's conversions and the
/// float32 path, their files, and models loaded in 16 bits.
final class Dense16StorageTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }
    override func tearDown() { SparseKernels.level = SparseKernels.detectedLevel }

    /// Every kernel level this CPU runs (portable, AVX2 + F16C, AVX-512).
    var levels: [Int32] { Array(0...SparseKernels.detectedLevel) }

    /// The C conversion at every level equals Swift's (Float16 / bit shift) on all 65536 patterns,
    /// subnormals, infinities and NaNs included.
    func testConversionOfEveryBitPattern() throws {
        let all = (0...0xFFFF).map { UInt16($0) }
        for level in levels {
            SparseKernels.level = level
            for bf16 in [false, true] {
                var got = [Float](repeating: 0, count: all.count)
                all.withUnsafeBufferPointer { s in got.withUnsafeMutableBufferPointer { HalfKernels.convert(s.baseAddress!, $0.baseAddress!, all.count, bf16: bf16) } }
                for (i, b) in all.enumerated() {
                    let want = bf16 ? bfloat16ToFloat(b) : halfToFloat(b)
                    if want.isNaN { XCTAssertTrue(got[i].isNaN, "level \(level) bf16 \(bf16) bits \(b)"); continue }
                    XCTAssertEqual(got[i].bitPattern, want.bitPattern, "level \(level) bf16 \(bf16) bits \(b)")
                    if got[i].bitPattern != want.bitPattern { return }
                }
            }
        }
    }

    /// Rounding: f16 and bf16 are round-to-nearest-even and exact on values they hold.
    func testRounding() {
        XCTAssertEqual(F16.round(1), 0x3C00)
        XCTAssertEqual(F16.round(-2), 0xC000)
        XCTAssertEqual(F16.round(1 + 1.0 / 2048), 0x3C00)        // tie to even (down)
        XCTAssertEqual(F16.round(1 + 3.0 / 2048), 0x3C02)        // tie to even (up)
        XCTAssertEqual(BF16.round(1), 0x3F80)
        XCTAssertEqual(BF16.round(1 + 1.0 / 256), 0x3F80)         // tie to even (down)
        XCTAssertEqual(BF16.round(1 + 3.0 / 256), 0x3F82)         // tie to even (up)
        XCTAssertTrue(F16.isNonFinite(F16.round(70000)))          // above f16's range
        XCTAssertFalse(BF16.isNonFinite(BF16.round(70000)))
    }

    static func weights(_ R: Int, _ C: Int, seed: UInt64) -> [Float] { TinyModel.values(R * C, seed: seed).map { $0 * 3 } }

    /// GEMV (T < gemmMinTokens) and tiled GEMM (prefill), every level, both formats, against the
    /// float32 storage holding the same (widened) weights: the products only differ in summation
    /// order, relative error ≤ 1e-5. Odd widths exercise the scalar tails; sub-bands of rows and
    /// accumulation are checked too.
    func testProductsMatchTheFloat32Path() {
        let R = 37
        for C in [1, 7, 8, 33, 64, 200] {
            let values = Self.weights(R, C, seed: UInt64(C))
            for dtype in [WeightDType.f16, .bf16] {
                let half = denseStorage(rows: R, cols: C, values: values, dtype: dtype)
                let full = DenseStorage(rows: R, cols: C, values: half.dense())
                XCTAssertEqual(half.bytes, 2 * R * C)
                for level in levels {
                    SparseKernels.level = level
                    for T in [1, 3, 5, 9] {
                        let x = TinyModel.values(T * C, seed: 99)
                        for (rows, acc) in [(0..<R, false), (5..<30, true)] {
                            let y0 = TinyModel.values(T * R, seed: 7)
                            var want = y0, got = y0
                            x.withUnsafeBufferPointer { xp in
                                want.withUnsafeMutableBufferPointer { full.forward(xp.baseAddress!, ldx: C, $0.baseAddress!, ldy: R, T: T, rows: rows, accumulate: acc) }
                                got.withUnsafeMutableBufferPointer { half.forward(xp.baseAddress!, ldx: C, $0.baseAddress!, ldy: R, T: T, rows: rows, accumulate: acc) }
                            }
                            XCTAssertLessThanOrEqual(relativeError(got, want), 1e-5, "\(dtype) level \(level) C \(C) T \(T) rows \(rows)")
                            // rows outside the band are untouched
                            for t in 0..<T { for r in 0..<R where !rows.contains(r) { XCTAssertEqual(got[t * R + r], y0[t * R + r]) } }
                        }
                    }
                }
            }
        }
    }

    func write(_ layer: Linear, name: String, _ path: String, metadata: [String: String]) throws -> SafetensorsFile {
        try SafetensorsWriter.write(layer.storageItems(name: name), metadata: metadata, to: path)
        return try SafetensorsFile(path: path)
    }

    /// Written and reloaded in its own type, a 16-bit weight keeps its bits (tag, tensor dtype,
    /// bytes); reloaded as float32 it widens exactly; reloaded in the other 16-bit type it is
    /// rounded from the widened value.
    func testRoundTripKeepsTheBits() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let R = 20, C = 37, name = "model.layers.0.mlp.down_proj"
        let values = Self.weights(R, C, seed: 3)
        for dtype in [WeightDType.f16, .bf16] {
            let layer = Linear(weight: denseStorage(rows: R, cols: C, values: values, dtype: dtype))
            let tag = layer.storageTag(name: name)
            XCTAssertEqual(tag.value, "dense-\(dtype)")
            let file = try write(layer, name: name, dir + "/\(dtype).safetensors", metadata: [tag.key: tag.value])
            XCTAssertEqual(try file.rawBytes(name + ".weight").entry.dtype, dtype.safetensors)
            XCTAssertEqual(file.nativeDType, dtype)
            file.weightDType = dtype
            let same = try Linear.load(from: file, name: name, rows: R, cols: C, bias: false)
            XCTAssertEqual(same.storageKind, layer.storageKind)
            XCTAssertEqual(same.storageBytes, 2 * R * C)
            XCTAssertEqual(bits(same), bits(layer))
            file.weightDType = .f32
            let wide = try Linear.load(from: file, name: name, rows: R, cols: C, bias: false)
            XCTAssertEqual(wide.storageKind, .dense)
            XCTAssertEqual(wide.denseWeight.data, layer.denseWeight.data)
            let other: WeightDType = dtype == .f16 ? .bf16 : .f16
            file.weightDType = other
            let crossed = try Linear.load(from: file, name: name, rows: R, cols: C, bias: false)
            XCTAssertEqual(crossed.storageKind, denseStorageType(other).kind)
            XCTAssertEqual(bits(crossed), other.round(layer.denseWeight.data))
            // a float32 file loaded in 16 bits rounds once
            let f32 = try write(Linear(weight: DenseStorage(rows: R, cols: C, values: values)), name: name,
                                dir + "/f32-\(dtype).safetensors", metadata: [:])
            XCTAssertEqual(f32.nativeDType, .f32)
            f32.weightDType = dtype
            XCTAssertEqual(bits(try Linear.load(from: f32, name: name, rows: R, cols: C, bias: false)), dtype.round(values))
        }
    }

    func bits(_ l: Linear) -> [UInt16]? {
        (l.weight as? Dense16Storage<F16>)?.bits ?? (l.weight as? Dense16Storage<BF16>)?.bits
    }

    /// A 16-bit weight that holds an Inf is refused, as a float32 one is.
    func testNonFiniteWeightIsRefused() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let name = "model.layers.0.mlp.down_proj"
        var values = Self.weights(4, 4, seed: 1)
        values[5] = 1e6   // finite in float32 and bf16, Inf once rounded to f16
        let file = try write(Linear(weight: DenseStorage(rows: 4, cols: 4, values: values)), name: name, dir + "/big.safetensors", metadata: [:])
        file.weightDType = .bf16
        XCTAssertNoThrow(try Linear.load(from: file, name: name, rows: 4, cols: 4, bias: false))
        file.weightDType = .f16
        XCTAssertThrowsError(try Linear.load(from: file, name: name, rows: 4, cols: 4, bias: false)) { e in
            XCTAssertEqual(e as? ModelError, .nonFinite(file: file.origin, tensor: name + ".weight"))
        }
    }
}
