import XCTest
@testable import Runtime
import TestSupport

/// The compressed storages with 16-bit values (compacted, 2:4, bitmask, CSR in f16 and bf16):
/// round trips keep every bit, and their kernels (GEMV, GEMM, every SIMD level) give the products
/// of the float32 storage holding the same rounded values.
final class Sparse16StorageTests: XCTestCase {
    static let name = "model.layers.0.mlp.up_proj"
    static let (R, C) = (40, 123)   // 123 = 7·16 + 11 = 3·32 + 27: odd numbers of 16- and 32-input steps, a partial group

    /// A [40, 123] weight every storage can hold: 2:4 in each row, some rows and columns removed,
    /// values spread over several binades (so rounding to 16 bits changes most of them).
    func patternLayer(seed: UInt64 = 31) throws -> (Linear, PlannedLayer) {
        let (R, C) = (Self.R, Self.C)
        var rng = SeededRandom(seed: seed)
        var w = (0..<R * C).map { _ in Float((rng.uniform() * 2 - 1) * pow(4, rng.uniform() * 4 - 2)) }
        Masks.twoFour(&w, rows: R, cols: C)
        Masks.rowsCols(&w, rows: R, cols: C, removedRows: [2, 17, 30], removedCols: [0, 9, 40, 74])
        let bias = (0..<R).map { Float($0) / 20 - 1 }
        let l = Linear(weight: DenseStorage(rows: R, cols: C, values: w), bias: bias)
        return (l, try PlannedLayer(name: Self.name, linear: l, masks: nil))
    }

    /// The compressed storages with 16-bit values, and the float32 storage of the same kind.
    static var types16: [(half: any LinearStorage.Type, float: any LinearStorage.Type)] {
        StorageRegistry.types.filter { $0.valueDType != .f32 && !StorageKind.denseKinds.contains($0.kind) }.compactMap { t in
            let base = String(t.kind.rawValue.dropLast(t.valueDType.rawValue.count + 1))
            return StorageRegistry.type(of: StorageKind(tag: base)).map { (t, $0) }
        }
    }

    func testEveryCompressedStorageHasBothSixteenBitTypes() {
        let kinds = Self.types16.map { $0.half.kind.rawValue }
        XCTAssertEqual(kinds.sorted(), ["2:4-bf16", "2:4-f16", "bitmask-bf16", "bitmask-f16", "compacted-bf16", "compacted-f16",
                                        "csr-bf16", "csr-f16"])
        for pair in Self.types16 {
            XCTAssertEqual(pair.float.valueDType, WeightDType.f32)
            XCTAssertEqual(pair.float.kind.typed(pair.half.valueDType), pair.half.kind)
        }
    }

    /// Written with its tag and read back: the same storage type, the same bytes in every tensor,
    /// the same dense view; the values are the float32 ones rounded once (to nearest even).
    func testRoundTripKeepsEveryBit() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (dense, plan) = try patternLayer()
        let w = dense.denseWeight.data
        for pair in Self.types16 {
            let type = pair.half, floatType = pair.float
            let storage = try type.build(plan)
            let layer = Linear(weight: storage, bias: dense.bias)
            let rounded = storage.dense()
            let round: (Float) -> Float = storage.valueDType == .bf16 ? { BF16.widen(BF16.round($0)) } : { F16.widen(F16.round($0)) }
            XCTAssertEqual(rounded, w.map(round), "\(type.kind)")
            XCTAssertEqual(storage.zeroCount, try floatType.build(plan).zeroCount, "\(type.kind)")
            var items = layer.storageItems(name: Self.name)
            XCTAssertEqual(items.first { $0.name.hasSuffix(".values") }?.dtype, storage.valueDType.safetensors, "\(type.kind)")
            items.append(.init(name: Self.name + ".bias", shape: [Self.R], floats: dense.bias ?? []))
            let tag = layer.storageTag(name: Self.name)
            let path = dir + "/" + type.kind.rawValue.replacingOccurrences(of: ":", with: "-") + ".safetensors"
            try SafetensorsWriter.write(items, metadata: [tag.key: tag.value], to: path)
            let file = try SafetensorsFile(path: path)
            file.weightDType = storage.valueDType
            let loaded = try Linear.load(from: file, name: Self.name, rows: Self.R, cols: Self.C, bias: true)
            XCTAssertEqual(loaded.storageKind, type.kind)
            XCTAssertEqual(loaded.weight.bytes, storage.bytes)
            XCTAssertEqual(loaded.weight.dense(), rounded, "\(type.kind)")
            let again = loaded.storageItems(name: Self.name), first = layer.storageItems(name: Self.name)
            XCTAssertEqual(again.map(\.name), first.map(\.name))
            for (a, b) in zip(again, first) {
                XCTAssertEqual(a.bytes, b.bytes, "\(type.kind) \(a.name)")
                XCTAssertEqual(a.dtype, b.dtype, "\(type.kind) \(a.name)")
            }
            // half the bytes of the values (indices unchanged)
            let f32 = try floatType.build(plan)
            XCTAssertLessThan(storage.bytes, f32.bytes, "\(type.kind)")
            XCTAssertEqual(storage.bytes, type.estimatedBytes(plan), "\(type.kind)")
        }
    }

    /// y = x Wᵀ of each 16-bit storage against the float32 storage of the same rounded values, for
    /// decode (T < gemmMinTokens: the 16-bit GEMV kernels) and prefill (T ≥ gemmMinTokens: widened
    /// tiles), every SIMD level, a band of rows, with and without accumulation and bias.
    /// Tolerance: |Δy| ≤ 1e-5·Σ_c |w_rc·x_tc| + 1e-6 (only the summation order differs).
    func testKernelsMatchTheFloat32StorageOfTheRoundedValues() throws {
        let (dense, plan) = try patternLayer(seed: 7)
        let (R, C) = (Self.R, Self.C)
        let saved = SparseKernels.level
        defer { SparseKernels.level = saved }
        var rng = SeededRandom(seed: 8)
        let x = (0..<7 * C).map { _ in Float(rng.uniform() * 2 - 1) }
        for pair in Self.types16 {
            let type = pair.half, floatType = pair.float
            let s16 = try type.build(plan)
            let rounded = Linear(weight: DenseStorage(rows: R, cols: C, values: s16.dense()), bias: dense.bias)
            let s32 = try floatType.build(try PlannedLayer(name: Self.name, linear: rounded, masks: nil))
            XCTAssertEqual(s32.dense(), s16.dense())
            let w = s16.dense()
            for level in Set([0, 1, SparseKernels.detectedLevel].filter { $0 <= SparseKernels.detectedLevel }) {
                SparseKernels.level = Int32(level)
                for T in [1, 3, 7] {
                    for (rows, accumulate) in [(0..<R, false), (5..<23, true)] {
                        for bias in [nil, dense.bias] {
                            var a = [Float](repeating: 0.5, count: T * R), b = a
                            x.withUnsafeBufferPointer { xp in
                                let bp = bias.map { UnsafeMutablePointer<Float>.allocate(capacity: $0.count) }
                                defer { bp?.deallocate() }
                                if let bias, let bp { bp.initialize(from: bias, count: bias.count) }
                                a.withUnsafeMutableBufferPointer { ap in
                                    s16.forward(xp.baseAddress!, ldx: C, ap.baseAddress!, ldy: R, T: T, rows: rows, accumulate: accumulate,
                                                bias: bp.map { UnsafePointer($0) })
                                }
                                b.withUnsafeMutableBufferPointer { bq in
                                    s32.forward(xp.baseAddress!, ldx: C, bq.baseAddress!, ldy: R, T: T, rows: rows, accumulate: accumulate,
                                                bias: bp.map { UnsafePointer($0) })
                                }
                            }
                            for t in 0..<T {
                                for r in 0..<R {
                                    var scale: Float = 0
                                    for c in 0..<C { scale += abs(w[r * C + c] * x[t * C + c]) }
                                    XCTAssertEqual(a[t * R + r], b[t * R + r], accuracy: 1e-5 * scale + 1e-6,
                                                   "\(type.kind) level \(level) T \(T) rows \(rows) row \(r)")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The compacted storage's own work units (the path MLP chains and the parallel forwards run):
    /// gathered inputs, scattered outputs, removed rows, an input prefix, a compact output.
    func testCompactedWorkUnitsMatchTheFloat32Storage() throws {
        let (R, C) = (Self.R, Self.C)
        var rng = SeededRandom(seed: 12)
        let w = (0..<R * C).map { _ in Float(rng.uniform() * 2 - 1) }
        let keptRows: [Int32] = [7, 3, 0, 12, 39, 20, 21, 5], keptCols: [Int32] = (0..<60).map { Int32(($0 * 11) % 91) }
        let bias = (0..<R).map { Float($0) / 10 }
        let x = (0..<6 * C).map { _ in Float(rng.uniform() * 2 - 1) }
        let saved = SparseKernels.level
        defer { SparseKernels.level = saved }
        for dtype in [WeightDType.f16, .bf16] {
            let s16 = try compactedStorage(dense: w, rows: R, cols: C, keptRows: keptRows, keptCols: keptCols, dtype: dtype)
            let s32 = try CompactedWeight<F32>(dense: s16.dense(), rows: R, cols: C, keptRows: keptRows, keptCols: keptCols)
            XCTAssertEqual(s16.kind, StorageKind.compacted.typed(dtype))
            for level in Set([0, SparseKernels.detectedLevel]) {
                SparseKernels.level = level
                for T in [1, 6] {
                    for (prefix, compact) in [(nil, false), (nil, true), (Optional(40), true)] as [(Int?, Bool)] {
                        let ldx = prefix ?? C
                        var a = [Float](repeating: 0.25, count: T * R), b = a
                        x.withUnsafeBufferPointer { xp in
                            bias.withUnsafeBufferPointer { bp in
                                a.withUnsafeMutableBufferPointer { ap in
                                    s16.forward(xp.baseAddress!, ldx: ldx, ap.baseAddress!, ldy: R, T: T, units: 0..<s16.units, accumulate: true,
                                                bias: bp.baseAddress, inputPrefix: prefix, compactOutput: compact)
                                }
                                b.withUnsafeMutableBufferPointer { bq in
                                    s32.forward(xp.baseAddress!, ldx: ldx, bq.baseAddress!, ldy: R, T: T, units: 0..<s32.units, accumulate: true,
                                                bias: bp.baseAddress, inputPrefix: prefix, compactOutput: compact)
                                }
                            }
                        }
                        for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: 1e-4, "\(dtype) T \(T) prefix \(String(describing: prefix)) \(i)") }
                    }
                }
            }
        }
    }

    /// A compressed layer loads in the source's type (`--dtype`), as a dense one does: widened
    /// exactly to float32, or rounded once to the other 16-bit type; indices unchanged.
    func testLoadConvertsTheValuesToTheRequestedType() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (dense, plan) = try patternLayer(seed: 5)
        for pair in Self.types16 {
            let storage = try pair.half.build(plan)
            let layer = Linear(weight: storage, bias: dense.bias)
            var items = layer.storageItems(name: Self.name)
            items.append(.init(name: Self.name + ".bias", shape: [Self.R], floats: dense.bias ?? []))
            let tag = layer.storageTag(name: Self.name)
            let path = dir + "/" + pair.half.kind.rawValue.replacingOccurrences(of: ":", with: "-") + ".safetensors"
            try SafetensorsWriter.write(items, metadata: [tag.key: tag.value], to: path)
            let file = try SafetensorsFile(path: path)
            for target in WeightDType.allCases {
                file.weightDType = target
                let loaded = try Linear.load(from: file, name: Self.name, rows: Self.R, cols: Self.C, bias: true)
                XCTAssertEqual(loaded.storageKind, pair.float.kind.typed(target), "\(pair.half.kind) as \(target)")
                let want: [Float]
                switch target {
                case .f32: want = storage.dense()
                case .f16: want = storage.dense().map { F16.widen(F16.round($0)) }
                case .bf16: want = storage.dense().map { BF16.widen(BF16.round($0)) }
                }
                XCTAssertEqual(loaded.weight.dense(), want, "\(pair.half.kind) as \(target)")
            }
        }
    }

    /// A weight beyond f16's range cannot be stored: a typed error, not a silent Inf.
    func testOverflowIsRefused() throws {
        let w: [Float] = [1, 0, 70000, 0, 0, 2, 0, 3]
        XCTAssertThrowsError(try TwoFourWeight<F16>(dense: w, rows: 2, cols: 4)) { e in
            guard case StorageError.corrupt(_, _, let detail) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(detail.contains("f16"), detail)
        }
        XCTAssertNoThrow(try TwoFourWeight<BF16>(dense: w, rows: 2, cols: 4))
    }
}
