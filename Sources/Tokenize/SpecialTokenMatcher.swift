/// Finds special tokens (`<|im_start|>`, `<|endoftext|>`, `<s>` ...) written in text, so that
/// they become their ids instead of being split into pieces. Leftmost match wins; among
/// tokens matching at the same place, the longest.
struct SpecialTokenMatcher: Sendable {
    private struct Entry: Sendable {
        var bytes: [UInt8]
        var id: Int32
    }

    /// Entries by first byte, longest first.
    private var byFirstByte: [[Entry]] = Array(repeating: [], count: 256)
    private(set) var isEmpty = true

    init(_ tokens: [String: Int32]) {
        for (content, id) in tokens where !content.isEmpty {
            let bytes = Array(content.utf8)
            byFirstByte[Int(bytes[0])].append(Entry(bytes: bytes, id: id))
            isEmpty = false
        }
        for b in 0..<256 where byFirstByte[b].count > 1 {
            byFirstByte[b].sort { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
        }
    }

    enum Segment: Equatable {
        case text(Range<Int>)
        case special(Int32)
    }

    /// Splits `bytes` into text ranges and special tokens, in order.
    func segments(_ bytes: UnsafeBufferPointer<UInt8>) -> [Segment] {
        guard !isEmpty else { return bytes.isEmpty ? [] : [.text(0..<bytes.count)] }
        var out: [Segment] = []
        var textStart = 0
        var i = 0
        let n = bytes.count
        scan: while i < n {
            let candidates = byFirstByte[Int(bytes[i])]
            if !candidates.isEmpty {
                for entry in candidates where entry.bytes.count <= n - i {
                    var same = true
                    for k in 1..<entry.bytes.count where bytes[i + k] != entry.bytes[k] {
                        same = false
                        break
                    }
                    if same {
                        if textStart < i { out.append(.text(textStart..<i)) }
                        out.append(.special(entry.id))
                        i += entry.bytes.count
                        textStart = i
                        continue scan
                    }
                }
            }
            i += 1
        }
        if textStart < n { out.append(.text(textStart..<n)) }
        return out
    }
}
