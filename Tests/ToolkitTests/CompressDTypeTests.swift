import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// `compress --dtype f16|bf16`: the surgery runs in float32, the output's storages hold 16-bit
/// values rounded once when written, compression.json records the type of the output and of
/// every layer, and the output reloads in that type.
final class CompressDTypeTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func run(_ structure: Structure, _ dtype: WeightDType, dense: Bool = false, into out: String) throws -> CompressionSummary {
        var o = CompressionOptions(recipe: CompressionRecipe(method: .magnitude, structure: structure, targetSparsity: 0.5, shots: 1,
                                                             dampG: 0.01, dampA: 0.01),
                                   output: out)
        o.dtype = dtype
        o.denseOutput = dense
        return try CompressionJob(opened: try ModelLoader.open(Fixtures.fixture("tiny-llama")), options: o).run()
    }

    func testOutputIsWrittenAndRecordedInItsType() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ids: [Int32] = [1, 17, 200, 3, 45]
        for structure in [Structure.twoFour, .rowsColumns] {
            let f32 = try run(structure, .f32, into: dir + "/\(structure.rawValue)-f32")
            let want = try InferenceSession(model: ModelLoader.model(dir + "/\(structure.rawValue)-f32", dtype: nil)).logitsForAll(ids)
            for dtype in [WeightDType.f16, .bf16] {
                let out = dir + "/\(structure.rawValue)-\(dtype)"
                let s = try run(structure, dtype, into: out)
                let report = try CompressionReport.read(path: out + "/compression.json")
                XCTAssertEqual(report, s.report)
                XCTAssertEqual(report.dtype, dtype.rawValue)
                XCTAssertTrue(report.layers.allSatisfy { $0.dtype == dtype.rawValue }, "\(structure) \(dtype)")
                // the same pruning as in float32 (the surgery is float32), only the values' type differs
                XCTAssertEqual(report.layers.map(\.removedRows), f32.report.layers.map(\.removedRows))
                XCTAssertEqual(report.layers.map { $0.storage }, f32.report.layers.map { $0.storage.map { $0 + "-\(dtype)" } })
                let bytes = report.layers.reduce(0) { $0 + ($1.bytes ?? 0) }, bytes32 = f32.report.layers.reduce(0) { $0 + ($1.bytes ?? 0) }
                XCTAssertLessThan(Double(bytes), 0.6 * Double(bytes32), "\(structure) \(dtype)")
                let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any]
                XCTAssertEqual(config?["torch_dtype"] as? String, dtype.torchName)
                // reloads in its own type (embedding too), with logits close to the float32 output's
                let model = try ModelLoader.model(out, dtype: nil)
                XCTAssertTrue(model.blockLinearNames.allSatisfy { model.linear($0)?.weight.valueDType == dtype })
                let inspect = InspectReport(model: model)
                XCTAssertTrue(inspect.layers.allSatisfy { $0.dtype == dtype.rawValue })
                let got = try InferenceSession(model: model).logitsForAll(ids)
                let scale = want.reduce(0) { max($0, abs($1)) }
                let err = zip(got, want).reduce(0) { max($0, abs($1.0 - $1.1)) } / scale
                XCTAssertLessThan(err, dtype == .f16 ? 2e-3 : 1.5e-2, "\(structure) \(dtype)")
            }
        }
    }

    /// --dense-output --dtype bf16: every layer dense in bf16, recorded as such.
    func testDenseOutputInSixteenBits() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try run(.unstructured, .bf16, dense: true, into: dir + "/out")
        XCTAssertTrue(s.report.layers.allSatisfy { $0.storage == "dense-bf16" && $0.dtype == "bf16" })
        let file = try SafetensorsFile(path: dir + "/out/model.safetensors")
        XCTAssertEqual(file.storedDType(of: "model.layers.0.mlp.up_proj.weight"), .bf16)
        XCTAssertEqual(file.storedDType(of: "model.embed_tokens.weight"), .bf16)
    }

    /// compress holds a 16-bit file in 16 bits (output in its type unless --dtype says otherwise),
    /// and a float32 file, or any file for a float32 output, in float32.
    func testLoadAndOutputTypes() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = Fixtures.fixture("tiny-llama")
        try ModelWriter.write(model: try ModelLoader.model(path, dtype: .f32), source: try ModelLoader.files(path, dtype: nil),
                              to: dir + "/bf16", dtype: .bf16)
        for (file, requested, load, output) in [(path, nil, WeightDType.f32, WeightDType.f32), (path, .f16, .f32, .f16),
                                               (dir + "/bf16", nil, .bf16, .bf16), (dir + "/bf16", .f32, .f32, .f32),
                                               (dir + "/bf16", .f16, .bf16, .f16)] as [(String, WeightDType?, WeightDType, WeightDType)] {
            let t = try ModelLoader.compressionDTypes(file, requested: requested)
            XCTAssertEqual(t.load, load, "\(file) \(String(describing: requested))")
            XCTAssertEqual(t.output, output, "\(file) \(String(describing: requested))")
        }
    }

    /// A 16-bit run interrupted after shot 1 resumes from its checkpoint in its type and ends with
    /// the weights of the uninterrupted run; the checkpoint holds the block linears as they are held,
    /// in 16 bits (half the bytes of float32), and the rest in float32.
    func testSixteenBitRunResumes() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stories = Fixtures.fixture("stories260K")
        try ModelWriter.write(model: try ModelLoader.model(stories, dtype: .f32), source: try ModelLoader.files(stories, dtype: nil),
                              to: dir + "/bf16", dtype: .bf16)
        func open() throws -> OpenedModel { try ModelLoader.open(dir + "/bf16", requireTokenizer: true) }
        var o = CompressionOptions(recipe: CompressionRecipe(method: .surgeon, structure: .rowsColumns, targetSparsity: 0.2, shots: 2,
                                                             dampG: 0.01, dampA: 0.01, updates: .joint), output: dir + "/out")
        o.calibFile = Fixtures.wikiValid
        o.nsamples = 4
        o.seqlen = 64
        o.dtype = .bf16
        let job = CompressionJob(opened: try open(), options: o)
        XCTAssertEqual(job.opened.files.weights.weightDType, .bf16)
        let (cal, recipe) = try job.loadCalibration()
        let comp = try Compressor(model: job.opened.model, recipe: recipe, calibration: cal)
        _ = try comp.runShot(1)
        XCTAssertTrue(job.opened.model.blockLinearNames.allSatisfy { job.opened.model.linear($0)?.weight.valueDType == .bf16 })
        try job.saveCheckpoint(model: job.opened.model, state: comp.state, recipe: comp.recipe, source: SourceIdentity.of(job.opened.files))
        let file = try SafetensorsFile(path: dir + "/out.partial/weights.safetensors")
        for n in job.opened.model.blockLinearNames {
            XCTAssertEqual(file.storedDType(of: n + ".weight"), .bf16, n)
            XCTAssertEqual(try file.load(n + ".weight").data, job.opened.model.linear(n)?.denseWeight.data, n)
        }
        XCTAssertEqual(file.storedDType(of: "model.norm.weight"), .f32)
        var r = o
        r.resume = true
        let resumed = try CompressionJob(opened: try open(), options: r).run()
        XCTAssertEqual(resumed.report.shots.map(\.shot), [1, 2])
        var full = o
        full.output = dir + "/full"
        _ = try CompressionJob(opened: try open(), options: full).run()
        let a = try ModelLoader.model(dir + "/out", dtype: nil), b = try ModelLoader.model(dir + "/full", dtype: nil)
        for n in a.blockLinearNames {
            XCTAssertEqual(a.linear(n)?.weight.valueDType, .bf16, n)
            XCTAssertEqual(a.linear(n)?.denseWeight.data, b.linear(n)?.denseWeight.data, n)
        }
    }
}
