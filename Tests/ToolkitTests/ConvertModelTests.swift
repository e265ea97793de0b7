import XCTest
import Runtime
import Toolkit
import TestSupport

/// `surgeon convert`: a model rewritten as a Hugging Face directory in f32, f16 or bf16.
final class ConvertModelTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    let ids: [Int32] = [1, 7, 42, 3, 100, 5, 17, 9]

    func logits(_ path: String, _ dtype: WeightDType?) throws -> [Float] {
        try prefillAndDecodeLogits(ModelLoader.model(path, dtype: dtype), ids).prefill
    }

    /// tiny-llama and tiny-opt to f16 and bf16: every matrix written in that type (vectors: F32), config's
    /// torch_dtype set, the tokenizer files carried over; reloaded (in its own type, the default)
    /// the logits are within the 16-bit tolerances of the float32 model (f16 5e-3, bf16 3e-2).
    func testSixteenBitConversionsReloadClose() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for fixture in ["tiny-llama", "tiny-opt"] {
            let input = Fixtures.fixture(fixture)
            let want = try logits(input, .f32)
            for (dtype, tol) in [(WeightDType.f16, 5e-3), (.bf16, 3e-2)] {
                let out = dir + "/\(fixture)-\(dtype)"
                let s = try ConvertModel.run(input: input, dtype: dtype, output: out, overwrite: false)
                XCTAssertEqual(s.dtype, dtype)
                let file = try SafetensorsFile(path: out + "/model.safetensors")
                for n in file.tensorNames {
                    XCTAssertEqual(file.entries[n]?.dtype, file.entries[n]?.shape.count == 2 ? dtype.safetensors : .f32, n)
                }
                XCTAssertEqual(file.nativeDType, dtype)
                let config = try Fixtures.json(URL(fileURLWithPath: out + "/config.json"))
                XCTAssertEqual(config["torch_dtype"] as? String, dtype.torchName)
                for f in ModelWriter.tokenizerFiles where FileManager.default.fileExists(atPath: input + "/" + f) {
                    XCTAssertTrue(FileManager.default.contentsEqual(atPath: input + "/" + f, andPath: out + "/" + f), f)
                }
                XCTAssertLessThanOrEqual(s.bytes, (try FileManager.default.attributesOfItem(atPath: input + "/model.safetensors")[.size] as? Int ?? 0) / 2 + 65536)
                let got = try logits(out, nil)
                XCTAssertLessThanOrEqual(relativeFrobenius(got, want), tol, "\(fixture) \(dtype)")
            }
        }
    }

    /// f32 to f32 is bit-exact: every tensor the model reads has the input's bytes, and the
    /// logits are identical.
    func testFloat32ConversionIsBitExact() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for fixture in ["stories260K", "tiny-llama"] {
            let input = Fixtures.fixture(fixture), out = dir + "/" + fixture
            _ = try ConvertModel.run(input: input, dtype: .f32, output: out, overwrite: false)
            let a = try SafetensorsFile(path: input + "/model.safetensors"), b = try SafetensorsFile(path: out + "/model.safetensors")
            for n in b.tensorNames {
                XCTAssertEqual(Array(try b.rawBytes(n).bytes), Array(try a.rawBytes(n).bytes), n)
            }
            XCTAssertEqual(maxAbsDiff(try logits(out, nil), try logits(input, .f32)), 0)
        }
    }

    /// A GGUF (F16 matrices, F32 norms) converts to a Hugging Face f16 directory holding the same values: the
    /// reloaded model's logits equal the GGUF's; the output refuses to be overwritten without
    /// `overwrite`, and with it is replaced.
    func testGGUFToSafetensors() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let gguf = dir + "/stories260K-f16.gguf", out = dir + "/hf"
        try GGUFFixture.write("stories260K", type: .f16, to: gguf)
        let s = try ConvertModel.run(input: gguf, dtype: nil, output: out, overwrite: false)
        XCTAssertEqual(s.dtype, .f16)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/tokenizer.gguf"))
        XCTAssertEqual(maxAbsDiff(try logits(out, nil), try logits(gguf, nil)), 0)
        XCTAssertThrowsError(try ConvertModel.run(input: gguf, dtype: .bf16, output: out, overwrite: false)) { e in
            XCTAssertEqual(e as? ModelError, .outputExists(path: out))
        }
        XCTAssertEqual(try ConvertModel.run(input: gguf, dtype: .bf16, output: out, overwrite: true).dtype, .bf16)
        XCTAssertEqual(try SafetensorsFile(path: out + "/model.safetensors").nativeDType, .bf16)
    }
}
