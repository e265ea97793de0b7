import Foundation
import Runtime
import Surgery
import Tokenize

/// Calibration windows from a text file (sampled at seeded offsets) or from a JSON file of windows.
public enum CalibrationInput {
    /// N windows of L tokens at N distinct seeded offsets of the calibration text (rows joined with
    /// a space, one tokenization with the default special tokens), and `heldOut` more windows that
    /// overlap none of them (`CalibrationWindows.holdOut`).
    public static func fromText(file: String, tokenizer: any Tokenizer, nsamples: Int, seqlen: Int, seed: UInt64,
                                heldOut: Int = 0) throws -> Calibration {
        let tokens = try EvalText.calibrationTokens(file: file, tokenizer: tokenizer)
        let c = try CalibrationWindows.sample(tokens: tokens, count: nsamples, length: seqlen, seed: seed,
                                              source: (file as NSString).lastPathComponent)
        return try CalibrationWindows.holdOut(c, tokens: tokens, count: heldOut, length: seqlen, seed: seed)
    }

    /// `--ids-file`: a JSON array of windows, each an array of token ids; the last `heldOut` of them
    /// are held out of the curvature.
    public static func fromIDsFile(_ path: String, vocabSize: Int, heldOut: Int = 0) throws -> Calibration {
        let data = try readFileContents(path)
        guard let arr = try? JSONSerialization.jsonObject(with: data) as? [[NSNumber]], !arr.isEmpty else {
            throw ToolkitError.badInput("\(path): expected a JSON array of windows, each an array of token ids")
        }
        var windows: [[Int32]] = []
        for (i, w) in arr.enumerated() {
            var ids: [Int32] = []
            for n in w {
                guard let v = Int32(exactly: n.doubleValue), v >= 0, Int(v) < vocabSize else {
                    throw ToolkitError.badInput("\(path): window \(i) holds \(n), not a token id in 0..<\(vocabSize)")
                }
                ids.append(v)
            }
            guard ids.count >= 2 else { throw ToolkitError.badInput("\(path): window \(i) needs at least 2 tokens") }
            windows.append(ids)
        }
        let c = try Calibration(windows: windows, offsets: Array(0..<windows.count), source: (path as NSString).lastPathComponent)
        return try CalibrationWindows.holdOutLast(c, count: heldOut)
    }

    /// "empirical", "sampled" (k = 1) or "sampled:k".
    public static func fisherLabels(_ s: String, seed: UInt64) throws -> FisherLabels {
        if s == "empirical" { return .empirical }
        if s == "sampled" { return .sampled(1, seed: seed) }
        if s.hasPrefix("sampled:"), let k = Int(s.dropFirst("sampled:".count)), k >= 1, k <= 1000 { return .sampled(k, seed: seed) }
        throw ToolkitError.badFisherLabels(s)
    }
}

/// Peak resident memory of this process, in bytes.
public func peakRSSBytes() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return u.ru_maxrss * 1024
}
