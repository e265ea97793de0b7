import XCTest
@testable import Runtime
import TestSupport

/// tiny-llama compressed (rows-columns, 2:4, unstructured 50%) into storages with 16-bit values
/// and written in that type, as `compress --dtype f16|bf16` does: it reloads in those storages
/// with the same bits, its logits are those of float32 storages holding the same rounded values
/// (tight), and close to the float32 compressed model's (the rounding of every weight once).
final class Sparse16ModelTests: XCTestCase {
    let ids: [Int32] = [1, 7, 300, 42, 5, 99, 12, 480]

    /// max |a - b| / max |b|
    func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        let scale = b.reduce(0) { max($0, abs($1)) }
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) } / max(scale, 1e-6)
    }

    func check(_ structure: SparseModelTests.Structure, _ dtype: WeightDType) throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let label = "\(structure.rawValue) \(dtype)"
        let files = try ModelFiles.open(Fixtures.fixture("tiny-llama"))
        let reference = try loadModel(files), model = try loadModel(files)
        let masks = SparseModelTests.mask(reference, structure, seed: 9)
        _ = SparseModelTests.mask(model, structure, seed: 9)
        let structured = structure == .rowsColumns ? masks : nil
        try compressStorages(model: reference, structuredMasks: structured)
        let decisions = try compressStorages(model: model, structuredMasks: structured, policy: StoragePolicy(dtype: dtype))
        XCTAssertTrue(decisions.allSatisfy { StorageRegistry.type(of: $0.kind)?.valueDType == dtype }, label)
        XCTAssertTrue(decisions.contains { !StorageKind.denseKinds.contains($0.kind) }, label)
        for name in model.blockLinearNames {
            XCTAssertEqual(model.linear(name)?.storageKind.rawValue.hasSuffix("-" + dtype.rawValue), true, "\(label) \(name)")
            // the same storage choice as in float32, the weight bytes about halved
            let k32 = try XCTUnwrap(reference.linear(name)?.storageKind), k16 = try XCTUnwrap(model.linear(name)?.storageKind)
            XCTAssertEqual(k32.typed(dtype), k16, "\(label) \(name)")
        }
        let out = dir + "/out"
        try ModelWriter.write(model: model, source: files, to: out, dtype: dtype)

        let reloadedFiles = try ModelFiles.open(out)
        reloadedFiles.weights.weightDType = reloadedFiles.weights.nativeDType
        XCTAssertEqual(reloadedFiles.weights.weightDType, dtype)
        let reloaded = try loadModel(reloadedFiles)
        for name in model.blockLinearNames {
            let a = try XCTUnwrap(model.linear(name)), b = try XCTUnwrap(reloaded.linear(name))
            XCTAssertEqual(b.storageKind, a.storageKind, "\(label) \(name)")
            XCTAssertEqual(b.storageItems(name: name).map(\.bytes), a.storageItems(name: name).map(\.bytes), "\(label) \(name)")
        }
        let got = try prefillAndDecodeLogits(reloaded, ids)

        // float32 storages of exactly the rounded values: only the kernels differ
        let wideFiles = try ModelFiles.open(out)
        wideFiles.weights.weightDType = .f32
        let wide = try loadModel(wideFiles)
        try compressStorages(model: wide, structuredMasks: structured)
        XCTAssertTrue(wide.blockLinearNames.allSatisfy { wide.linear($0)?.weight.valueDType == .f32 })
        let same = try prefillAndDecodeLogits(wide, ids)
        XCTAssertLessThan(relativeError(got.prefill, same.prefill), 1e-5, label)
        XCTAssertLessThan(relativeError(got.decode, same.decode), 1e-5, label)

        // against the float32 compressed model: every weight (and the embedding) rounded once
        let want = try prefillAndDecodeLogits(reference, ids)
        let bound: Float = dtype == .f16 ? 2e-3 : 1.5e-2   // measured: 5.5e-4 to 6.9e-4 (f16), 5.1e-3 to 5.5e-3 (bf16)
        XCTAssertLessThan(relativeError(got.prefill, want.prefill), bound, label)
        XCTAssertLessThan(relativeError(got.decode, want.decode), bound, label)
        XCTAssertGreaterThan(relativeError(got.prefill, want.prefill), 0, "\(label): rounding changes the logits")
    }

    func testRowsColumnsF16() throws { try check(.rowsColumns, .f16) }
    func testRowsColumnsBF16() throws { try check(.rowsColumns, .bf16) }
    func testTwoFourF16() throws { try check(.twoFour, .f16) }
    func testTwoFourBF16() throws { try check(.twoFour, .bf16) }
    func testUnstructuredF16() throws { try check(.unstructured, .f16) }
    func testUnstructuredBF16() throws { try check(.unstructured, .bf16) }
}
