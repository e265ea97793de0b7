/// GPT-2's byte-level alphabet: every byte maps to a printable Unicode scalar, so that
/// vocabulary entries are strings (`Ġ` is the space byte 0x20, `Ċ` is 0x0A).
/// Printable Latin-1 bytes (`!`...`~`, `¡`...`¬`, `®`...`ÿ`) map to themselves; the other
/// 68 bytes map, in byte order, to U+0100, U+0101, ...
enum ByteLevelAlphabet {
    /// scalar value for each byte
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// byte for each scalar value below 324 (the last mapped scalar is U+0143); -1 elsewhere.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, s) in scalarForByte.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    // The table holds U+0021...U+0143 only, so the scalar initializers below never fail.

    /// The one-character vocabulary entry of a byte.
    static func string(forByte b: UInt8) -> String {
        String(Character(Unicode.Scalar(scalarForByte[Int(b)])!))
    }

    /// The bytes a vocabulary entry stands for; nil if it holds a scalar outside the alphabet.
    static func bytes(of entry: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(entry.unicodeScalars.count)
        for s in entry.unicodeScalars {
            let v = Int(s.value)
            guard v < byteForScalar.count, byteForScalar[v] >= 0 else { return nil }
            out.append(UInt8(byteForScalar[v]))
        }
        return out
    }

    /// Byte-level string of raw bytes (for display and for building vocabulary keys).
    static func string(forBytes bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(Unicode.Scalar(scalarForByte[Int(b)])!) }
        return String(s)
    }
}
