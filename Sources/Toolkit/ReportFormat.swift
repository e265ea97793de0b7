import Foundation

/// How reports print numbers and JSON.
enum ReportFormat {
    /// Bytes as "12.34 MiB".
    static func mib(_ bytes: Int) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }
}

/// One-line JSON with sorted keys and unescaped slashes (the form `surgeon ... --json` prints).
enum ReportJSON {
    static func line<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
