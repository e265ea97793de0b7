/// Llama-3's and Qwen2's pre-tokenizer pattern, matched by hand over scalar classes:
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// (Qwen2: `\p{N}` instead of `\p{N}{1,3}`). At each position the first alternative that matches
/// wins, as in the regex: a contraction (any case); one character that is not a newline, letter
/// or number followed by letters, or letters; 1...maxDigits numbers; an optional space, symbols and
/// trailing newlines; whitespace up to its last newline; whitespace leaving its last character to
/// the word after it; whitespace.
extension ScalarKinds {
    func splitLlama3(_ bytes: UnsafeBufferPointer<UInt8>, _ scalarRange: Range<Int>, maxDigits: Int,
                     into words: inout [Range<Int>]) {
        let hi = scalarRange.upperBound
        var i = scalarRange.lowerBound
        func run(from s: Int, while kind: (UInt8) -> Bool) -> Int {
            var e = s
            while e < hi && kind(kinds[e]) { e += 1 }
            return e
        }
        let isLetter = { (k: UInt8) in k == ScalarKind.letter }
        while i < hi {
            let k = kinds[i]
            var end: Int
            if k == ScalarKind.apostrophe, let n = contractionLength(bytes, at: i, limit: hi, ignoreCase: true) {
                end = i + n
            } else if k == ScalarKind.letter {
                end = run(from: i + 1, while: isLetter)
            } else if k != ScalarKind.newline && k != ScalarKind.number && i + 1 < hi && kinds[i + 1] == ScalarKind.letter {
                // [^\r\n\p{L}\p{N}]?\p{L}+
                end = run(from: i + 2, while: isLetter)
            } else if k == ScalarKind.number {
                end = i + 1
                while end < hi && end - i < maxDigits && kinds[end] == ScalarKind.number { end += 1 }
            } else if ScalarKind.isOther(k) || (k == ScalarKind.space && i + 1 < hi && ScalarKind.isOther(kinds[i + 1])) {
                // " ?[^\s\p{L}\p{N}]+[\r\n]*"
                end = run(from: k == ScalarKind.space ? i + 2 : i + 1, while: ScalarKind.isOther)
                end = run(from: end, while: { $0 == ScalarKind.newline })
            } else {
                // whitespace: "\s*[\r\n]+", else "\s+(?!\S)", else "\s+"
                let e = run(from: i + 1, while: ScalarKind.isWhitespace)
                if let lastNewline = (i..<e).last(where: { kinds[$0] == ScalarKind.newline }) {
                    end = lastNewline + 1
                } else {
                    end = e == hi || e - i == 1 ? e : e - 1
                }
            }
            words.append(offsets[i]..<offsets[end])
            i = end
        }
    }
}
