/// Splits text into the words that byte-level BPE encodes one at a time.
///
/// `.gpt2` is GPT-2's pattern, written out by hand:
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// `.smollm` first isolates every number character (`\p{N}`), as SmolLM2's
/// `Digits(individual_digits)` pre-tokenizer and llama.cpp's `smollm` pre-type do, then applies
/// the GPT-2 pattern to the text between them.
///
/// `.llama3` and `.qwen2` are the patterns of Llama-3's and Qwen2's `Split` pre-tokenizers
/// (`Llama3Pattern.swift`), which differ only in how many number characters one word holds
/// (1 to 3 for Llama-3, 1 for Qwen2).
public enum PreTokenizer: String, Sendable {
    case gpt2
    case smollm
    case llama3
    case qwen2

    /// The pre-tokenizer named by GGUF's `tokenizer.ggml.pre` (nil or absent: GPT-2).
    public init(ggufName name: String?) throws {
        switch name {
        case nil, "gpt2", "gpt-2": self = .gpt2
        case "smollm": self = .smollm
        case "llama-bpe", "llama3": self = .llama3
        case "qwen2": self = .qwen2
        case let other?: throw TokenizerError.unknownPreTokenizer(name: other)
        }
    }

    /// The pre-tokenizer whose `Split` regex is `pattern` (as tokenizer.json spells it), if any.
    public init?(splitPattern pattern: String) {
        switch pattern {
        case Self.llama3Pattern: self = .llama3
        case Self.qwen2Pattern: self = .qwen2
        default: return nil
        }
    }

    /// Llama-3's pattern (tokenizer.json `pre_tokenizer.pretokenizers[0].pattern.Regex`).
    public static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen2's pattern: Llama-3's with single number characters.
    public static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The words of `text`, in order (their concatenation is `text`).
    public func words(in text: String) -> [String] {
        let bytes = Array(text.utf8)
        var ranges: [Range<Int>] = []
        bytes.withUnsafeBufferPointer { split($0, 0..<bytes.count, into: &ranges) }
        return ranges.map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    /// Byte ranges of the words of `bytes[range]` (valid UTF-8), in order, covering it.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into words: inout [Range<Int>]) {
        var scalars = ScalarKinds()
        scalars.read(bytes, range)
        switch self {
        case .gpt2:
            scalars.splitGPT2(bytes, 0..<scalars.count, into: &words)
        case .smollm:
            var runStart = 0
            for i in 0..<scalars.count where scalars.kinds[i] == ScalarKind.number {
                if runStart < i { scalars.splitGPT2(bytes, runStart..<i, into: &words) }
                words.append(scalars.offsets[i]..<scalars.offsets[i + 1])
                runStart = i + 1
            }
            if runStart < scalars.count { scalars.splitGPT2(bytes, runStart..<scalars.count, into: &words) }
        case .llama3:
            scalars.splitLlama3(bytes, 0..<scalars.count, maxDigits: 3, into: &words)
        case .qwen2:
            scalars.splitLlama3(bytes, 0..<scalars.count, maxDigits: 1, into: &words)
        }
    }
}

/// Character classes the GPT-2 pattern distinguishes.
enum ScalarKind {
    static let letter: UInt8 = 0       // \p{L}
    static let number: UInt8 = 1       // \p{N}
    static let space: UInt8 = 2        // U+0020 (also whitespace)
    static let whitespace: UInt8 = 3   // \s other than U+0020
    static let apostrophe: UInt8 = 4   // U+0027 (also "other")
    static let other: UInt8 = 5        // [^\s\p{L}\p{N}]
    static let newline: UInt8 = 6      // U+000A, U+000D (also whitespace)

    static func isWhitespace(_ k: UInt8) -> Bool { k == space || k == whitespace || k == newline }
    static func isOther(_ k: UInt8) -> Bool { k == apostrophe || k == other }

    static let ascii: [UInt8] = (0..<128).map { classify(UInt32($0)) }

    static func classify(_ value: UInt32) -> UInt8 {
        if value == 0x20 { return space }
        if value == 0x27 { return apostrophe }
        if value == 0x0A || value == 0x0D { return newline }
        guard let scalar = Unicode.Scalar(value) else { return other }
        let p = scalar.properties
        if p.isWhitespace { return whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return other
        }
    }
}

/// The scalars of a text: byte offset and class of each (offsets has one extra end entry).
struct ScalarKinds {
    var offsets: [Int] = []
    var kinds: [UInt8] = []
    private var nonASCII: [UInt32: UInt8] = [:]

    var count: Int { kinds.count }

    mutating func read(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
        offsets.removeAll(keepingCapacity: true)
        kinds.removeAll(keepingCapacity: true)
        offsets.reserveCapacity(range.count + 1)
        kinds.reserveCapacity(range.count)
        var i = range.lowerBound
        while i < range.upperBound {
            let b0 = bytes[i]
            offsets.append(i)
            if b0 < 0x80 {
                kinds.append(ScalarKind.ascii[Int(b0)])
                i += 1
                continue
            }
            // Valid UTF-8 (it comes from a String): decode the lead byte's length.
            let length = b0 >= 0xF0 ? 4 : (b0 >= 0xE0 ? 3 : 2)
            var value = UInt32(b0) & (length == 2 ? 0x1F : (length == 3 ? 0x0F : 0x07))
            for k in 1..<length where i + k < range.upperBound {
                value = (value << 6) | (UInt32(bytes[i + k]) & 0x3F)
            }
            if let known = nonASCII[value] {
                kinds.append(known)
            } else {
                let kind = ScalarKind.classify(value)
                nonASCII[value] = kind
                kinds.append(kind)
            }
            i = min(i + length, range.upperBound)
        }
        offsets.append(range.upperBound)
    }

    /// Applies the GPT-2 pattern to scalars `lo..<hi`, appending byte ranges.
    func splitGPT2(_ bytes: UnsafeBufferPointer<UInt8>, _ scalarRange: Range<Int>, into words: inout [Range<Int>]) {
        let hi = scalarRange.upperBound
        var i = scalarRange.lowerBound
        while i < hi {
            let k = kinds[i]
            var end: Int
            if k == ScalarKind.apostrophe, let n = contractionLength(bytes, at: i, limit: hi) {
                end = i + n
            } else {
                // " ?X+": a single U+0020 joins the letter / number / other run that follows.
                var start = i
                var kind = k
                if k == ScalarKind.space, i + 1 < hi, !ScalarKind.isWhitespace(kinds[i + 1]) {
                    start = i + 1
                    kind = kinds[i + 1]
                }
                if kind == ScalarKind.letter || kind == ScalarKind.number {
                    end = start + 1
                    while end < hi && kinds[end] == kind { end += 1 }
                } else if ScalarKind.isOther(kind) {
                    end = start + 1
                    while end < hi && ScalarKind.isOther(kinds[end]) { end += 1 }
                } else {
                    // Whitespace: "\s+(?!\S)" leaves the last one for the next word; else "\s+".
                    end = i + 1
                    while end < hi && ScalarKind.isWhitespace(kinds[end]) { end += 1 }
                    if end < hi && end - i > 1 { end -= 1 }
                }
            }
            words.append(offsets[i]..<offsets[end])
            i = end
        }
    }

    /// Length in scalars of `'s|'t|'re|'ve|'m|'ll|'d` at scalar `i`, if one starts there.
    /// With `ignoreCase`, `(?i:...)` over ASCII letters.
    func contractionLength(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int, limit: Int, ignoreCase: Bool = false) -> Int? {
        guard i + 1 < limit else { return nil }
        func letter(_ b: UInt8) -> UInt8 { ignoreCase && b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        let first = letter(bytes[offsets[i + 1]])
        switch first {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return 2
        case UInt8(ascii: "r"), UInt8(ascii: "v"), UInt8(ascii: "l"):
            guard i + 2 < limit else { return nil }
            let second = letter(bytes[offsets[i + 2]])
            let wanted: UInt8 = first == UInt8(ascii: "l") ? UInt8(ascii: "l") : UInt8(ascii: "e")
            return second == wanted ? 3 : nil
        default:
            return nil
        }
    }
}
