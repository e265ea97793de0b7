import XCTest
@testable import Runtime
import TestSupport

/// Masks of the shapes pruning produces, made here without the Surgery module.
enum Masks {
    /// Keeps the 2 largest |w| of each group of 4 consecutive inputs (tail group: of its inputs).
    static func twoFour(_ w: inout [Float], rows: Int, cols: Int) {
        for r in 0..<rows {
            var c = 0
            while c < cols {
                let idx = Array(c..<min(c + 4, cols)).sorted { abs(w[r * cols + $0]) > abs(w[r * cols + $1]) }
                for i in idx.dropFirst(2) { w[r * cols + i] = 0 }
                c += 4
            }
        }
    }

    /// Zeros each weight with probability `sparsity`.
    static func unstructured(_ w: inout [Float], sparsity: Double, rng: inout SeededRandom) {
        for i in w.indices where rng.uniform() < sparsity { w[i] = 0 }
    }

    /// Zeros the given rows and columns.
    static func rowsCols(_ w: inout [Float], rows: Int, cols: Int, removedRows: [Int], removedCols: [Int]) {
        for r in removedRows { for c in 0..<cols { w[r * cols + c] = 0 } }
        for c in removedCols { for r in 0..<rows { w[r * cols + c] = 0 } }
    }

    /// A random subset of 0..<n of about `fraction`·n indices, sorted.
    static func subset(_ n: Int, fraction: Double, rng: inout SeededRandom) -> [Int] {
        (0..<n).filter { _ in rng.uniform() < fraction }
    }
}

final class SparseStorageTests: XCTestCase {
    static let shapes: [(R: Int, C: Int)] = [(1, 1), (3, 5), (7, 4), (17, 33), (64, 64), (37, 100), (5, 130), (33, 577), (70, 48), (300, 70)]

    func randomWeights(_ n: Int, _ rng: inout SeededRandom) -> [Float] {
        (0..<n).map { _ in Float(rng.uniform() * 2 - 1) }
    }

    /// Every storage built from `w` computes what the dense layer does, for T = 1, 3, 17, with and
    /// without bias, overwriting and accumulating, at every SIMD level of this CPU.
    func checkAllPaths(_ w: [Float], R: Int, C: Int, storages: [any LinearStorage], rng: inout SeededRandom, label: String) {
        for hasBias in [false, true] {
            let bias = hasBias ? randomWeights(R, &rng) : nil
            let dense = Linear(weight: DenseStorage(rows: R, cols: C, values: w), outFeatures: R, inFeatures: C, bias: bias)
            for storage in storages {
                let layer = Linear(weight: storage, outFeatures: R, inFeatures: C, bias: bias)
                XCTAssertEqual(layer.denseWeight.data, w, "\(label) \(storage.kind) dense()")
                XCTAssertEqual(layer.zeroCount, dense.zeroCount, "\(label) \(storage.kind) zeroCount")
                for T in [1, 3, 17] {
                    let x = randomWeights(T * C, &rng), y0 = randomWeights(T * R, &rng)
                    for accumulate in [false, true] {
                        for level in 0...SparseKernels.detectedLevel {
                            SparseKernels.level = level
                            let threads = Parallel.threads
                            Parallel.setThreads(level == 0 ? 1 : 2)
                            defer { SparseKernels.level = SparseKernels.detectedLevel; Parallel.setThreads(threads) }
                            var want = y0, got = y0, rowsPath = y0
                            x.withUnsafeBufferPointer { xp in
                                dense.forward(xp.baseAddress!, &want, T: T, accumulate: accumulate)
                                layer.forward(xp.baseAddress!, &got, T: T, accumulate: accumulate)
                                rowsPath.withUnsafeMutableBufferPointer { yp in
                                    let mid = R / 2
                                    layer.forward(xp.baseAddress!, ldx: C, yp.baseAddress!, ldy: R, T: T, rows: 0..<mid, accumulate: accumulate)
                                    layer.forward(xp.baseAddress!, ldx: C, yp.baseAddress!, ldy: R, T: T, rows: mid..<R, accumulate: accumulate)
                                }
                            }
                            let what = "\(label) \(storage.kind) R\(R) C\(C) T\(T) bias \(hasBias) acc \(accumulate) level \(level) threads \(Parallel.threads)"
                            XCTAssertLessThanOrEqual(relativeError(got, want), 1e-5, what)
                            XCTAssertLessThanOrEqual(relativeError(rowsPath, want), 1e-5, what + " (rows path)")
                        }
                    }
                }
            }
        }
    }

    func testTwoFourStorageMatchesMaskedDense() throws {
        var rng = SeededRandom(seed: 11)
        for (R, C) in Self.shapes {
            var w = randomWeights(R * C, &rng)
            Masks.twoFour(&w, rows: R, cols: C)
            XCTAssertTrue(isValidTwoFour(w, rows: R, cols: C))
            let s = try TwoFourWeight<F32>(dense: w, rows: R, cols: C)
            let nv = 2 * ((C + 3) / 4)
            XCTAssertEqual(s.bytes, 4 * R * nv + 4 * R * ((nv + 15) / 16))
            checkAllPaths(w, R: R, C: C, storages: [s, try BitmaskWeight<F32>(dense: w, rows: R, cols: C)],
                          rng: &rng, label: "2:4")
        }
    }

    func testUnstructuredStoragesMatchMaskedDense() throws {
        var rng = SeededRandom(seed: 12)
        for (R, C) in Self.shapes {
            for sparsity in [0.5, 0.97] {
                var w = randomWeights(R * C, &rng)
                Masks.unstructured(&w, sparsity: sparsity, rng: &rng)
                let nnz = w.filter { $0 != 0 }.count
                let bm = try BitmaskWeight<F32>(dense: w, rows: R, cols: C), csr = try CSRWeight<F32>(dense: w, rows: R, cols: C)
                XCTAssertEqual(bm.bytes, 4 * nnz + 2 * R * ((C + 15) / 16))
                XCTAssertEqual(csr.bytes, 6 * nnz + 4 * (R + 1))
                checkAllPaths(w, R: R, C: C, storages: [bm, csr], rng: &rng, label: "unstructured \(sparsity)")
            }
        }
    }

    func testCompactedStorageMatchesMaskedDense() throws {
        var rng = SeededRandom(seed: 13)
        for (R, C) in Self.shapes {
            var w = randomWeights(R * C, &rng)
            let rr = Masks.subset(R, fraction: 0.3, rng: &rng), rc = Masks.subset(C, fraction: 0.3, rng: &rng)
            Masks.rowsCols(&w, rows: R, cols: C, removedRows: rr, removedCols: rc)
            let keptR = (0..<R).filter { !rr.contains($0) }.map { Int32($0) }, keptC = (0..<C).filter { !rc.contains($0) }.map { Int32($0) }
            let s = try CompactedWeight<F32>(dense: w, rows: R, cols: C, keptRows: keptR, keptCols: keptC)
            XCTAssertEqual(s.bytes, 4 * (keptR.count * keptC.count + keptR.count + keptC.count))
            // rows kept in a shuffled order, and only rows / only columns removed
            let shuffled = try CompactedWeight<F32>(dense: w, rows: R, cols: C, keptRows: keptR.reversed(), keptCols: keptC.reversed())
            let rowsOnly = try CompactedWeight<F32>(dense: w, rows: R, cols: C, keptRows: (0..<R).map { Int32($0) }, keptCols: keptC)
            let colsOnly = try CompactedWeight<F32>(dense: w, rows: R, cols: C, keptRows: keptR, keptCols: (0..<C).map { Int32($0) })
            checkAllPaths(w, R: R, C: C, storages: [s, shuffled, rowsOnly, colsOnly],
                          rng: &rng, label: "compacted")
            let l = Linear(weight: s, outFeatures: R, inFeatures: C)
            XCTAssertEqual(l.removedRows, rr)
            XCTAssertEqual(l.removedCols, rc)
        }
    }

    /// Nothing kept: the outputs are the bias (or zero), in every mode.
    func testCompactedWithNothingKept() throws {
        var rng = SeededRandom(seed: 15)
        let (R, C) = (9, 7)
        let w = [Float](repeating: 0, count: R * C)
        let storages: [any LinearStorage] = [
            try CompactedWeight<F32>(rows: R, cols: C, keptRows: [], keptCols: [], values: []),
            try CompactedWeight<F32>(dense: w, rows: R, cols: C, keptRows: [2, 5], keptCols: []),
            try CompactedWeight<F32>(dense: w, rows: R, cols: C, keptRows: [], keptCols: [1, 3]),
        ]
        checkAllPaths(w, R: R, C: C, storages: storages, rng: &rng, label: "empty compacted")
    }

    func testForwardManyMixesStorages() throws {
        var rng = SeededRandom(seed: 14)
        let C = 40, Rs = [24, 50, 9]
        var denseLayers: [Linear] = [], mixed: [Linear] = []
        for (i, R) in Rs.enumerated() {
            var w = randomWeights(R * C, &rng)
            Masks.twoFour(&w, rows: R, cols: C)
            let storage: any LinearStorage = i == 0 ? try TwoFourWeight<F32>(dense: w, rows: R, cols: C)
                : i == 1 ? try CompactedWeight<F32>(dense: w, rows: R, cols: C, keptRows: (0..<R).filter { $0 % 3 != 0 }.map { Int32($0) },
                                               keptCols: (0..<C).map { Int32($0) }) as any LinearStorage
                : try BitmaskWeight<F32>(dense: w, rows: R, cols: C)
            if i == 1 { Masks.rowsCols(&w, rows: R, cols: C, removedRows: (0..<R).filter { $0 % 3 == 0 }, removedCols: []) }
            let b = randomWeights(R, &rng)
            denseLayers.append(Linear(weight: DenseStorage(rows: R, cols: C, values: w), outFeatures: R, inFeatures: C, bias: b))
            mixed.append(Linear(weight: storage, outFeatures: R, inFeatures: C, bias: b))
        }
        for T in [1, 5] {
            let x = randomWeights(T * C, &rng)
            var w0 = [Float](repeating: 0, count: T * Rs[0]), w1 = [Float](repeating: 0, count: T * Rs[1]), w2 = [Float](repeating: 0, count: T * Rs[2])
            var g0 = w0, g1 = w1, g2 = w2
            Linear.forwardMany(x, T: T, denseLayers[0], &w0, denseLayers[1], &w1, denseLayers[2], &w2)
            Linear.forwardMany(x, T: T, mixed[0], &g0, mixed[1], &g1, mixed[2], &g2)
            XCTAssertLessThanOrEqual(relativeError(g0, w0), 1e-5, "2:4 T \(T)")
            XCTAssertLessThanOrEqual(relativeError(g1, w1), 1e-5, "compacted T \(T)")
            XCTAssertLessThanOrEqual(relativeError(g2, w2), 1e-5, "bitmask T \(T)")
        }
    }

    func testTwoFourValidity() {
        print("sparse kernels: SIMD level \(SparseKernels.detectedLevel)")
        XCTAssertTrue(isValidTwoFour([1, 0, 2, 0, 0, 0, 0, 3], rows: 1, cols: 8))
        XCTAssertFalse(isValidTwoFour([1, 1, 2, 0, 0, 0, 0, 3], rows: 1, cols: 8))
        XCTAssertTrue(isValidTwoFour([1, 0, 0, 2, 5, 6], rows: 1, cols: 6))   // tail group of 2
        XCTAssertFalse(isValidTwoFour([1, 0, 0, 2, 5, 6, 7], rows: 1, cols: 7))   // tail of 3 nonzeros
        XCTAssertThrowsError(try TwoFourWeight<F32>(dense: [1, 2, 3, 0], rows: 1, cols: 4))
    }
}
