import XCTest
@testable import Runtime
import TestSupport

/// Whole models held in 16 bits: logits against the float32 model, and 16-bit files (BF16
/// safetensors, F16 GGUF) loaded without widening.
final class Dense16ModelTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    static func open(_ path: String, _ dtype: WeightDType?) throws -> (ModelFiles, CausalLM) {
        let files = try ModelFiles.open(path)
        files.weights.weightDType = dtype ?? files.weights.nativeDType
        return (files, try loadModel(files))
    }

    /// Every large weight is held in `dtype`: each block linear, the embedding and the lm_head take
    /// 2 bytes per weight (plus float32 biases).
    func assertHeld(_ model: CausalLM, in dtype: WeightDType, file: StaticString = #filePath, line: UInt = #line) {
        for name in model.blockLinearNames {
            guard let l = model.linear(name) else { return XCTFail("no \(name)", file: file, line: line) }
            XCTAssertEqual(l.storageKind, denseStorageType(dtype).kind, name, file: file, line: line)
            XCTAssertEqual(l.weight.bytes, dtype.size * l.outFeatures * l.inFeatures, name, file: file, line: line)
            XCTAssertEqual(l.storageBytes, l.weight.bytes + 4 * (l.bias?.count ?? 0), name, file: file, line: line)
        }
        if let m = model as? LlamaModel {
            XCTAssertEqual(m.embed.dtype, dtype, file: file, line: line)
            XCTAssertEqual(m.lmHead.weight.bytes, dtype.size * m.lmHead.outFeatures * m.lmHead.inFeatures, file: file, line: line)
            if m.config.tieEmbeddings { XCTAssertTrue(m.lmHead.weight === m.embed.storage, "tied head shares the table", file: file, line: line) }
        }
        if let m = model as? OPTModel {
            XCTAssertEqual(m.embed.dtype, dtype, file: file, line: line)
            XCTAssertEqual(m.lmHead.weight.bytes, dtype.size * m.lmHead.outFeatures * m.lmHead.inFeatures, file: file, line: line)
        }
    }

    /// Logits (prefill and decode) with --dtype f16 / bf16 against --dtype f32 on the fixtures.
    /// Tolerances (relative Frobenius error of all logits): f16 (11-bit significand) 5e-3, bf16
    /// (8-bit) 3e-2; decode and prefill of one 16-bit model agree to 1e-4 (both kernels read the
    /// same bits).
    func testLogitsCloseToFloat32() throws {
        let ids: [Int32] = [1, 7, 42, 3, 100, 5, 17, 9, 250, 11]
        for fixture in ["tiny-llama", "stories260K", "tiny-opt"] {
            let (_, f32) = try Self.open(Fixtures.fixture(fixture), .f32)
            let want = try prefillAndDecodeLogits(f32, ids)
            for (dtype, tol) in [(WeightDType.f16, 5e-3), (.bf16, 3e-2)] {
                let (_, m) = try Self.open(Fixtures.fixture(fixture), dtype)
                assertHeld(m, in: dtype)
                let got = try prefillAndDecodeLogits(m, ids)
                let e = relativeFrobenius(got.prefill, want.prefill)
                XCTAssertLessThanOrEqual(e, tol, "\(fixture) \(dtype) prefill")
                XCTAssertGreaterThan(e, 0, "\(fixture) \(dtype): the weights were rounded")
                XCTAssertLessThanOrEqual(relativeFrobenius(got.decode, want.decode), tol, "\(fixture) \(dtype) decode")
                XCTAssertLessThanOrEqual(relativeFrobenius(got.decode, got.prefill), 1e-4, "\(fixture) \(dtype) decode vs prefill")
            }
        }
    }

    /// Size reports count the 16-bit weights at 2 bytes: the block linears, the embedding and an
    /// untied lm_head (tiny-llama's head is untied, stories260K's tied); norms and biases at 4.
    func testWeightStatsCountSixteenBitBytes() throws {
        for fixture in ["tiny-llama", "stories260K", "tiny-opt"] {
            let (_, f32) = try Self.open(Fixtures.fixture(fixture), .f32)
            let (_, f16) = try Self.open(Fixtures.fixture(fixture), .f16)
            guard let m = f16 as? EmbeddingHolder else { return XCTFail(fixture) }
            var halved = m.embed.rows * m.embed.cols
            if !f16.config.tieEmbeddings { halved += m.lmHead.outFeatures * m.lmHead.inFeatures }
            for name in f16.blockLinearNames { if let l = f16.linear(name) { halved += l.outFeatures * l.inFeatures } }
            let a = weightStats(f32), b = weightStats(f16)
            XCTAssertEqual(a.parameters, b.parameters, fixture)
            XCTAssertEqual(b.bytes, a.bytes - 2 * halved, fixture)
            XCTAssertEqual(b.blockLinearDenseBytes, a.blockLinearDenseBytes, fixture)
        }
    }

    /// A BF16 safetensors file loads as bf16 by default, every weight's bits as stored, and gives
    /// the logits of the same file widened to float32 (to summation order).
    func testBF16SafetensorsLoadWithoutWidening() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TinyModel.writeDirectory(dir, bf16: true)
        let (files, m) = try Self.open(dir, nil)
        XCTAssertEqual(files.weights.weightDType, .bf16)
        assertHeld(m, in: .bf16)
        let file = try SafetensorsFile(path: dir + "/model.safetensors")
        for name in m.blockLinearNames {
            let (e, raw) = try file.rawBytes(name + ".weight")
            XCTAssertEqual(e.dtype, .bf16)
            let stored = (0..<raw.count / 2).map { raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self) }
            XCTAssertEqual((m.linear(name)?.weight as? Dense16Storage<BF16>)?.bits, stored, name)
        }
        let (_, wide) = try Self.open(dir, .f32)
        let ids: [Int32] = [1, 5, 9, 30, 2]
        XCTAssertLessThanOrEqual(relativeFrobenius(try prefillAndDecodeLogits(m, ids).prefill,
                                                   try prefillAndDecodeLogits(wide, ids).prefill), 1e-5)
    }

    /// A GGUF with F16 matrices (written from stories260K as llama.cpp does, q/k permuted) loads as
    /// f16 by default with the file's bits (q/k un-permuted), and its logits match the float32
    /// safetensors model within the f16 tolerance.
    func testGGUFF16LoadsWithoutWidening() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/stories260K-f16.gguf"
        try GGUFFixture.write("stories260K", type: .f16, to: path)
        let (files, m) = try Self.open(path, nil)
        XCTAssertEqual(files.weights.weightDType, .f16)
        assertHeld(m, in: .f16)
        let (_, ref) = try Self.open(Fixtures.fixture("stories260K"), .f32)
        for name in m.blockLinearNames {
            let want = ref.linear(name).map { $0.denseWeight.data.map(F16.round) }
            XCTAssertEqual((m.linear(name)?.weight as? Dense16Storage<F16>)?.bits, want, name)
        }
        let ids: [Int32] = [1, 7, 42, 3, 100, 5]
        let got = try prefillAndDecodeLogits(m, ids), want = try prefillAndDecodeLogits(ref, ids)
        XCTAssertLessThanOrEqual(relativeFrobenius(got.prefill, want.prefill), 5e-3)
        // the same file read as float32 widens the same bits
        let (_, wide) = try Self.open(path, .f32)
        XCTAssertLessThanOrEqual(relativeFrobenius(try prefillAndDecodeLogits(wide, ids).prefill, got.prefill), 1e-5)
    }
}
