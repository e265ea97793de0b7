import Foundation

/// Copies of the fixtures and of the SmolLM2 GGUF with a few bytes or keys changed, as a hostile
/// user would: what loader-limit tests feed the loaders.
public enum PatchedFiles {
    /// Copies a fixture model directory into `dir`, with its config.json edited.
    public static func modelDirectory(_ fixture: String, into dir: String,
                                      editing edit: (inout [String: Any]) -> Void) throws -> String {
        let fm = FileManager.default
        for name in try fm.contentsOfDirectory(atPath: Fixtures.fixture(fixture)) {
            try fm.copyItem(atPath: Fixtures.fixture("\(fixture)/\(name)"), toPath: "\(dir)/\(name)")
        }
        try editJSON("\(dir)/config.json", edit)
        return dir
    }

    /// Copies a fixture tokenizer directory into `dir`, with one of its JSON files edited.
    public static func tokenizerDirectory(_ fixture: String, into dir: String, file: String,
                                          editing edit: (inout [String: Any]) -> Void) throws -> URL {
        let fm = FileManager.default
        for name in try fm.contentsOfDirectory(atPath: Fixtures.fixture(fixture)) {
            try fm.copyItem(atPath: Fixtures.fixture("\(fixture)/\(name)"), toPath: "\(dir)/\(name)")
        }
        try editJSON("\(dir)/\(file)", edit)
        return URL(fileURLWithPath: dir)
    }

    /// Rewrites a JSON object file in place.
    public static func editJSON(_ path: String, _ edit: (inout [String: Any]) -> Void) throws {
        var object = try Fixtures.json(URL(fileURLWithPath: path))
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    /// Where the value of a GGUF metadata key starts in `bytes` and its type code: the key is
    /// found as its 8-byte length followed by its UTF-8 text, then a u32 type.
    public static func ggufValue(of key: String, in bytes: [UInt8]) -> (offset: Int, type: UInt32)? {
        var needle = withUnsafeBytes(of: UInt64(key.utf8.count).littleEndian) { Array($0) }
        needle += Array(key.utf8)
        guard bytes.count > needle.count + 4 else { return nil }
        outer: for start in 0...(bytes.count - needle.count - 4) {
            for (j, b) in needle.enumerated() where bytes[start + j] != b { continue outer }
            let t = start + needle.count
            let type = UInt32(bytes[t]) | UInt32(bytes[t + 1]) << 8 | UInt32(bytes[t + 2]) << 16 | UInt32(bytes[t + 3]) << 24
            return (t + 4, type)
        }
        return nil
    }

    /// Copies the GGUF at `source` to `dir/name` with the u32 value of `key` replaced: a 4-byte patch.
    public static func gguf(_ source: String, into dir: String, name: String = "patched.gguf",
                            key: String, u32 value: UInt32) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        // The metadata precedes the tensor data; search only the header's first megabytes.
        let head = Array(bytes.prefix(4 << 20))
        guard let (offset, type) = ggufValue(of: key, in: head), type == 4 else {
            throw FixtureError.unexpectedContent(source, "a u32 metadata key \(key)")
        }
        withUnsafeBytes(of: value.littleEndian) { for (j, b) in $0.enumerated() { bytes[offset + j] = b } }
        let path = "\(dir)/\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
