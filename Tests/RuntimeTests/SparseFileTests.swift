import XCTest
@testable import Runtime
import TestSupport

/// Corrupt compressed files are refused with a typed error when the model is opened.
final class SparseFileTests: XCTestCase {
    /// Writes stories260K compressed in `structure` to dir/ok and returns the path of its safetensors.
    func writeCompressed(_ structure: SparseModelTests.Structure, _ dir: String) throws -> String {
        let files = try ModelFiles.open(Fixtures.fixture("stories260K"))
        let model = try loadModel(files)
        let masks = SparseModelTests.mask(model, structure, seed: 3)
        try compressStorages(model: model, structuredMasks: structure == .rowsColumns ? masks : nil)
        try ModelWriter.write(model: model, source: files, to: dir + "/ok")
        return dir + "/ok/model.safetensors"
    }

    /// Copies the model directory to dir/bad with tensor `name` rewritten by `edit` (the metadata,
    /// storage tags included, kept), then opens it.
    func openEdited(_ path: String, _ dir: String, _ name: String,
                    _ edit: (inout SafetensorsWriter.Item) -> Void) throws -> CausalLM {
        let src = try SafetensorsFile(path: path)
        var items: [SafetensorsWriter.Item] = []
        for n in src.tensorNames {
            let (e, raw) = try src.rawBytes(n)
            var item = SafetensorsWriter.Item(name: n, dtype: e.dtype, shape: e.shape, bytes: Array(raw))
            if n == name { edit(&item) }
            items.append(item)
        }
        XCTAssertTrue(items.contains { $0.name == name }, "no tensor \(name)")
        let bad = dir + "/bad"
        try? FileManager.default.removeItem(atPath: bad)
        try FileManager.default.copyItem(atPath: (path as NSString).deletingLastPathComponent, toPath: bad)
        try SafetensorsWriter.write(items, metadata: src.metadata, to: bad + "/model.safetensors")
        return try loadModel(ModelFiles.open(bad))
    }

    func assertCorrupt(_ body: @autoclosure () throws -> CausalLM, _ tensor: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            guard case StorageError.corrupt(_, let t, _) = e else { return XCTFail("\(e)", file: file, line: line) }
            XCTAssertEqual(t, tensor, file: file, line: line)
            XCTAssertTrue("\(e)".contains("surgeon compress"), file: file, line: line)
        }
    }

    func setInt32(_ item: inout SafetensorsWriter.Item, at i: Int, _ v: Int32) {
        var b = item.bytes
        withUnsafeBytes(of: v.littleEndian) { for k in 0..<4 { b[4 * i + k] = $0[k] } }
        item = SafetensorsWriter.Item(name: item.name, dtype: item.dtype, shape: item.shape, bytes: b)
    }

    func replaced(_ b: [UInt8], _ i: Int, _ v: UInt8) -> [UInt8] { var c = b; c[i] = v; return c }

    func testCorruptCompactedIndices() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeCompressed(.rowsColumns, dir)
        let t = "model.layers.0.mlp.down_proj.weight.kept_cols"
        assertCorrupt(try openEdited(path, dir, t) { setInt32(&$0, at: 0, 100_000) }, t)
        assertCorrupt(try openEdited(path, dir, t) { setInt32(&$0, at: 0, -1) }, t)
        assertCorrupt(try openEdited(path, dir, t) { item in
            let second = Array(item.bytes[4..<8])
            for k in 0..<4 { item = SafetensorsWriter.Item(name: item.name, dtype: item.dtype, shape: item.shape, bytes: replaced(item.bytes, k, second[k])) }
        }, t)
        // an integer list stored as floats is refused too
        XCTAssertThrowsError(try openEdited(path, dir, t) { item in
            item = SafetensorsWriter.Item(name: item.name, dtype: .f32, shape: item.shape, bytes: item.bytes)
        })
        // the intact file loads
        XCTAssertNoThrow(try loadModel(ModelFiles.open(dir + "/ok")))
    }

    func testCorruptTwoFourPositions() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeCompressed(.twoFour, dir)
        let t = "model.layers.2.self_attn.q_proj.weight.positions"
        // group 0 of row 0 with positions (3, 3): not increasing
        assertCorrupt(try openEdited(path, dir, t) { item in item = SafetensorsWriter.Item(name: item.name, dtype: item.dtype, shape: item.shape, bytes: replaced(item.bytes, 0, 0xFF)) }, t)
    }

    func testCorruptBitmask() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try writeCompressed(.unstructured, dir)
        let v = "model.layers.1.mlp.up_proj.weight.values"
        // one value short of what the mask marks
        assertCorrupt(try openEdited(path, dir, v) { item in
            item = SafetensorsWriter.Item(name: item.name, dtype: item.dtype, shape: [item.shape[0] - 1], bytes: Array(item.bytes.dropLast(4)))
        }, v)
        XCTAssertThrowsError(try openEdited(path, dir, v) { item in
            item = SafetensorsWriter.Item(name: item.name, dtype: item.dtype, shape: item.shape,
                                          bytes: Float.nan.bitPattern.littleEndian.bytes + Array(item.bytes.dropFirst(4)))
        })
    }
}

private extension UInt32 {
    var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }
}
