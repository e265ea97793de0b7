import XCTest
@testable import Runtime
import TestSupport

/// Every registered storage saves with an explicit tag and loads back through it; an unknown tag
/// is refused; files from before the tags (no tag, suffix layout) still load.
final class StorageTagTests: XCTestCase {
    static let name = "model.layers.0.mlp.up_proj"

    /// A [20, 37] weight every storage can hold: 2:4 in each row, rows 3 and 11 and columns 0, 5,
    /// 36 removed, about 50% zeros. Returns the dense layer (with bias) and its plan.
    func patternLayer() throws -> (Linear, PlannedLayer) {
        let (R, C) = (20, 37)
        var rng = SeededRandom(seed: 21)
        var w = (0..<R * C).map { _ in Float(rng.uniform() * 2 - 1) }
        Masks.twoFour(&w, rows: R, cols: C)
        Masks.rowsCols(&w, rows: R, cols: C, removedRows: [3, 11], removedCols: [0, 5, 36])
        let bias = (0..<R).map { Float($0) / 10 - 1 }
        let l = Linear(weight: DenseStorage(rows: R, cols: C, values: w), bias: bias)
        return (l, try PlannedLayer(name: Self.name, linear: l, masks: nil))
    }

    /// Writes the layer's tensors (and bias) to dir/name.safetensors with `metadata`; returns the opened file.
    func write(_ l: Linear, _ dir: String, _ file: String, metadata: [String: String]) throws -> SafetensorsFile {
        var items = l.storageItems(name: Self.name)
        if let b = l.bias { items.append(.init(name: Self.name + ".bias", shape: [b.count], floats: b)) }
        let path = dir + "/" + file + ".safetensors"
        try SafetensorsWriter.write(items, metadata: metadata, to: path)
        return try SafetensorsFile(path: path)
    }

    /// The storages that hold a float32 weight exactly (the 16-bit storages round it; their round
    /// trips are in Dense16StorageTests and Sparse16StorageTests).
    static let exactTypes = StorageRegistry.types.filter { $0.valueDType == .f32 }

    func testEveryStorageRoundTripsThroughItsTag() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (dense, plan) = try patternLayer()
        let x = (0..<3 * dense.inFeatures).map { Float($0 % 7) - 3 }
        var want = [Float](repeating: 0, count: 3 * dense.outFeatures)
        dense.forward(x, &want, T: 3)
        XCTAssertEqual(Array(StorageKind.allCases.prefix(7)), [.dense, .denseF16, .denseBF16, .compacted, .twoFour, .bitmask, .csr])
        XCTAssertEqual(StorageKind.allCases.map(\.rawValue), ["dense", "dense-f16", "dense-bf16", "compacted", "2:4", "bitmask", "csr",
                                 "compacted-f16", "2:4-f16", "bitmask-f16", "csr-f16", "compacted-bf16", "2:4-bf16", "bitmask-bf16", "csr-bf16"])
        XCTAssertEqual(StorageKind.twoFour.typed(.bf16), StorageKind(rawValue: "2:4-bf16"))
        XCTAssertEqual(StorageKind.csr.typed(.f32), .csr)
        XCTAssertEqual(String(decoding: try JSONEncoder().encode([StorageKind.twoFour]), as: UTF8.self), #"["2:4"]"#)
        XCTAssertEqual(try JSONDecoder().decode([StorageKind].self, from: Data(#"["csr"]"#.utf8)), [.csr])
        for type in Self.exactTypes {
            let kind = type.kind
            let estimate = try XCTUnwrap(type.estimatedBytes(plan), "\(kind) holds the pattern layer")
            let storage = try type.build(plan)
            XCTAssertEqual(storage.bytes, estimate, "\(kind): the planner's estimate is the stored size")
            XCTAssertEqual(storage.kind, kind)
            let layer = Linear(weight: storage, bias: dense.bias)
            let tag = layer.storageTag(name: Self.name)
            XCTAssertEqual(tag.key, Self.name + ".weight.storage")
            XCTAssertEqual(tag.value, kind.rawValue)
            let file = try write(layer, dir, "tagged-\(kind.rawValue.replacingOccurrences(of: ":", with: "-"))",
                                 metadata: [tag.key: tag.value])
            XCTAssertEqual(file.metadata[tag.key], kind.rawValue)
            let loaded = try Linear.load(from: file, name: Self.name, rows: dense.outFeatures, cols: dense.inFeatures, bias: true)
            XCTAssertEqual(loaded.storageKind, kind)
            XCTAssertEqual(loaded.denseWeight.data, dense.denseWeight.data, "\(kind)")
            XCTAssertEqual(loaded.bias, dense.bias)
            XCTAssertEqual(loaded.storageBytes, layer.storageBytes)
            XCTAssertEqual(loaded.storageDescription, layer.storageDescription)
            var got = [Float](repeating: 0, count: want.count)
            loaded.forward(x, &got, T: 3)
            XCTAssertLessThanOrEqual(relativeError(got, want), 1e-5, "\(kind)")
        }
    }

    /// The loader follows the tag, not the tensor names: 2:4 tensors tagged as bitmask are not read as 2:4.
    func testTagDecidesTheStorage() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (dense, plan) = try patternLayer()
        let layer = Linear(weight: try TwoFourWeight<F32>.build(plan), bias: dense.bias)
        let file = try write(layer, dir, "mislabelled", metadata: [Linear.storageTagKey(Self.name): StorageKind.bitmask.rawValue])
        XCTAssertThrowsError(try Linear.load(from: file, name: Self.name, rows: 20, cols: 37, bias: true)) { e in
            guard case ModelError.missingTensor(_, let t) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(t, Self.name + ".weight.bitmask")
        }
    }

    func testUnknownTagIsRefused() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (dense, plan) = try patternLayer()
        let layer = Linear(weight: try TwoFourWeight<F32>.build(plan), bias: dense.bias)
        XCTAssertNil(StorageKind(rawValue: "2:4-f8"))
        XCTAssertEqual(StorageKind(rawValue: "2:4"), .twoFour)
        XCTAssertThrowsError(try JSONDecoder().decode([StorageKind].self, from: Data(#"["2:4-f8"]"#.utf8)))
        let file = try write(layer, dir, "future", metadata: [Linear.storageTagKey(Self.name): "2:4-f8"])
        XCTAssertThrowsError(try Linear.load(from: file, name: Self.name, rows: 20, cols: 37, bias: true)) { e in
            guard case StorageError.unknownStorage(let f, let l, let t, let known) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(f, file.origin)
            XCTAssertEqual(l, Self.name)
            XCTAssertEqual(t, "2:4-f8")
            XCTAssertEqual(known, ["dense", "dense-f16", "dense-bf16", "compacted", "2:4", "bitmask", "csr",
                                 "compacted-f16", "2:4-f16", "bitmask-f16", "csr-f16", "compacted-bf16", "2:4-bf16", "bitmask-bf16", "csr-bf16"])
            XCTAssertTrue("\(e)".contains("\"2:4-f8\""), "\(e)")
            XCTAssertTrue("\(e)".contains("update surgeon"), "\(e)")
        }
    }

    /// Files written before the tags: each compressed storage is told by its tensor names.
    func testUntaggedLayersLoadThroughTheLegacyLayout() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (dense, plan) = try patternLayer()
        for type in Self.exactTypes {
            let layer = Linear(weight: try type.build(plan), bias: dense.bias)
            let file = try write(layer, dir, "untagged-\(type.kind.rawValue.replacingOccurrences(of: ":", with: "-"))", metadata: [:])
            XCTAssertTrue(file.metadata.isEmpty)
            let loaded = try Linear.load(from: file, name: Self.name, rows: 20, cols: 37, bias: true)
            XCTAssertEqual(loaded.storageKind, type.kind)
            XCTAssertEqual(loaded.denseWeight.data, dense.denseWeight.data, "\(type.kind)")
        }
        // neither a tag, nor a dense weight, nor a legacy suffix: the weight is missing
        let other = try write(dense, dir, "other", metadata: [:])
        XCTAssertThrowsError(try Linear.load(from: other, name: "model.layers.0.mlp.down_proj", rows: 20, cols: 37, bias: false)) { e in
            guard case ModelError.missingTensor(_, let t) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(t, "model.layers.0.mlp.down_proj.weight")
        }
    }

    /// Rewrites dir/src/model.safetensors into dir/dst with its metadata edited, keeping the other files.
    func rewrite(_ dir: String, _ src: String, _ dst: String, _ edit: (inout [String: String]) -> Void) throws -> String {
        let file = try SafetensorsFile(path: dir + "/" + src + "/model.safetensors")
        let items = try file.tensorNames.map { n in
            let (e, raw) = try file.rawBytes(n)
            return SafetensorsWriter.Item(name: n, dtype: e.dtype, shape: e.shape, bytes: Array(raw))
        }
        var meta = file.metadata
        edit(&meta)
        try FileManager.default.copyItem(atPath: dir + "/" + src, toPath: dir + "/" + dst)
        try SafetensorsWriter.write(items, metadata: meta, to: dir + "/" + dst + "/model.safetensors")
        return dir + "/" + dst
    }

    /// A whole compressed model: tagged on save; without its tags (a legacy file) it loads to the
    /// same storages and logits; one unknown tag refuses the model.
    func testSavedModelsAreTaggedAndLegacyModelsLoad() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try ModelFiles.open(Fixtures.fixture("stories260K"))
        let ids: [Int32] = [1, 7, 300, 42, 5, 99]
        for structure in SparseModelTests.Structure.allCases {
            let model = try loadModel(files)
            let masks = SparseModelTests.mask(model, structure, seed: 3)
            try compressStorages(model: model, structuredMasks: structure == .rowsColumns ? masks : nil)
            let out = "s\(SparseModelTests.Structure.allCases.firstIndex(of: structure) ?? 0)"
            try ModelWriter.write(model: model, source: files, to: dir + "/" + out)
            let saved = try SafetensorsFile(path: dir + "/" + out + "/model.safetensors")
            for name in model.blockLinearNames {
                XCTAssertEqual(saved.metadata[name + ".weight.storage"], model.linear(name)?.storageKind.rawValue, name)
            }
            let want = try prefillAndDecodeLogits(model, ids)
            let legacy = try rewrite(dir, out, out + "-legacy") { meta in
                for k in meta.keys where k.hasSuffix(".weight.storage") { meta[k] = nil }
            }
            XCTAssertFalse(try SafetensorsFile(path: legacy + "/model.safetensors").metadata.keys.contains { $0.hasSuffix(".storage") })
            for path in [dir + "/" + out, legacy] {
                let reloaded = try loadModel(ModelFiles.open(path))
                for name in model.blockLinearNames {
                    XCTAssertEqual(reloaded.linear(name)?.storageKind, model.linear(name)?.storageKind, "\(path) \(name)")
                }
                let got = try prefillAndDecodeLogits(reloaded, ids)
                XCTAssertEqual(got.prefill, want.prefill, path)
                XCTAssertEqual(got.decode, want.decode, path)
            }
            let layer = "model.layers.1.self_attn.k_proj"
            let future = try rewrite(dir, out, out + "-future") { $0[layer + ".weight.storage"] = "csr-f8" }
            XCTAssertThrowsError(try loadModel(ModelFiles.open(future))) { e in
                guard case StorageError.unknownStorage(_, let l, let t, _) = e else { return XCTFail("\(e)") }
                XCTAssertEqual(l, layer)
                XCTAssertEqual(t, "csr-f8")
            }
        }
    }
}
