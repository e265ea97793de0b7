/// WikiText-2 text preparation as the pruning papers do it (Hugging Face datasets rows):
/// rows are the file's lines keeping their "\n", a blank line (" \n") becomes "".
public enum WikiText {
    /// The rows of a `wiki.*.raw` file.
    public static func rows(fileContents: String) -> [String] {
        let pieces = fileContents.split(separator: "\n", omittingEmptySubsequences: false)
        var rows: [String] = []
        rows.reserveCapacity(pieces.count)
        for (i, piece) in pieces.enumerated() {
            let isLast = i == pieces.count - 1
            if isLast && piece.isEmpty { break }  // the file ends with "\n"
            rows.append(piece == " " ? "" : (isLast ? String(piece) : piece + "\n"))
        }
        return rows
    }

    /// Perplexity text: rows joined with "\n\n" (`"\n\n".join(test["text"])`).
    public static func testText(fileContents: String) -> String {
        rows(fileContents: fileContents).joined(separator: "\n\n")
    }

    /// Calibration text: rows joined with " ".
    public static func calibrationText(fileContents: String) -> String {
        rows(fileContents: fileContents).joined(separator: " ")
    }
}
