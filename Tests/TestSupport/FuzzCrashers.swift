import Foundation

/// The minimized crashers the fuzz targets found (scripts/fuzz.sh, Fuzz/README.md), kept in
/// Tests/RuntimeTests/Resources/fuzz/TARGET/; the regression tests replay each one through the
/// loader the target fuzzes and expect an error, not a crash.
public enum FuzzCrashers {
    public static func directory(_ target: String) -> URL {
        Fixtures.root.appendingPathComponent("Tests/RuntimeTests/Resources/fuzz/\(target)")
    }

    /// The crashers of `target`, by name.
    public static func inputs(_ target: String) throws -> [URL] {
        let dir = directory(target)
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { dir.appendingPathComponent($0) }
    }

    /// An input cut at NUL bytes into at most `count` parts, as the multi-file targets do
    /// (tokenizer.json \0 tokenizer_config.json; vocab.json \0 merges.txt \0 tokenizer_config.json).
    public static func parts(_ bytes: Data, count: Int) -> [Data] {
        var out: [Data] = []
        var rest = bytes[...]
        while out.count < count - 1, let z = rest.firstIndex(of: 0) {
            out.append(Data(rest[..<z]))
            rest = rest[(z + 1)...]
        }
        out.append(Data(rest))
        return out
    }
}
