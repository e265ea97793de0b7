import Foundation

/// Fixture copies with a finite weight large enough to overflow float32 arithmetic (3e38): the
/// loader accepts them (only NaN/Inf are refused at load) and the forward pass turns them into
/// Inf and NaN — the model of issue 20's defect 7.
public enum OverflowingModel {
    /// The tensor patched by default: every gain of block 0's input RMSNorm, so every position's
    /// normalized input overflows in the q/k/v projections.
    public static let defaultTensor = "model.layers.0.input_layernorm.weight"

    /// A copy of fixture `name` (all its files) in a fresh temporary directory, with the first
    /// `count` values of the float32 tensor `tensor` (all of them when nil) set to `value`, patched
    /// in place in model.safetensors. Returns the copy's directory.
    public static func copy(of name: String = "stories260K", tensor: String = defaultTensor, count: Int? = nil,
                            value: Float = 3e38) throws -> String {
        let source = Fixtures.directory(name)
        let dir = Fixtures.tempDir() + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // file by file: the shared fixtures are read-only and copyItem would keep that
        for file in try FileManager.default.contentsOfDirectory(atPath: source.path) {
            var data = try Data(contentsOf: source.appendingPathComponent(file))
            if file == "model.safetensors" { try patch(&data, tensor: tensor, count: count, value: value) }
            try data.write(to: URL(fileURLWithPath: dir).appendingPathComponent(file))
        }
        return dir
    }

    /// Sets values of an F32 tensor inside the bytes of a safetensors file.
    static func patch(_ data: inout Data, tensor: String, count: Int?, value: Float) throws {
        let bytes = [UInt8](data.prefix(8))
        guard bytes.count == 8 else { throw FixtureError.unexpectedContent(tensor, "a safetensors header") }
        let headerLength = bytes.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard headerLength > 0, 8 + headerLength <= data.count,
              let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any],
              let entry = header[tensor] as? [String: Any], entry["dtype"] as? String == "F32",
              let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
            throw FixtureError.unexpectedContent(tensor, "an F32 tensor of that name in model.safetensors")
        }
        let start = 8 + headerLength + offsets[0], available = (offsets[1] - offsets[0]) / 4
        let n = min(count ?? available, available)
        let pattern = withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
        for i in 0..<n { data.replaceSubrange((start + 4 * i)..<(start + 4 * i + 4), with: pattern) }
    }
}
