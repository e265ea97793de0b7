/// Wanda (Sun, Liu, Bair, Kolter 2023): score |W[r,c]|·‖x_c‖₂, compared within each output row;
/// no weight update.

/// Scores |W[r,c]|·norms[c].  w: [R, n]; norms: [n]; returns [R, n].
public func wandaScores(w: [Double], rows: Int, cols: Int, inputNorms norms: [Double]) -> [Double] {
    var s = [Double](repeating: 0, count: rows * cols)
    for r in 0..<rows { for c in 0..<cols { s[r * cols + c] = abs(w[r * cols + c]) * norms[c] } }
    return s
}

/// Input norms ‖x_c‖₂ = sqrt(N·A[c,c]) from the activation factor A = XᵀX/N ([n, n]) over N tokens.
public func inputNorms(a: [Double], n: Int, tokens: Int) -> [Double] {
    (0..<n).map { (Double(tokens) * max(a[$0 * n + $0], 0)).squareRoot() }
}

/// Wanda's mask: unstructured(s): in every row the ⌊s·n⌋ smallest scores (ties by column; already-zero
/// weights score 0 and stay removed); 2:4: the two smallest scores of every group of 4 consecutive
/// inputs among the first `groupedInputs` columns (the bias column is in no group); mask: given.
public func wandaMask(w: [Double], rows R: Int, cols n: Int, inputNorms norms: [Double], pattern: LayerPattern,
                      groupedInputs: Int) throws -> [Bool] {
    guard norms.count == n, w.count == R * n else {
        throw SurgeryError.invalidTarget("Wanda got \(norms.count) input norms and \(w.count) weights for a \(R)×\(n) layer")
    }
    let score = wandaScores(w: w, rows: R, cols: n, inputNorms: norms)
    var mask = [Bool](repeating: false, count: R * n)
    switch pattern {
    case .unstructured(let s):
        let k = Int((s * Double(n)).rounded(.down))
        for r in 0..<R {
            let m = smallestMask(Array(score[(r * n)..<((r + 1) * n)]), count: k)
            for c in 0..<n { mask[r * n + c] = m[c] }
        }
    case .twoFour:
        twoFourWithinGroups(score, rows: R, stride: n, columns: 0..<(groupedInputs / 4 * 4), into: &mask)
    case .mask(let m):
        guard m.count == R * n else { throw SurgeryError.invalidTarget("a mask of \(m.count) entries was given for a \(R)×\(n) layer") }
        mask = m
    }
    return mask
}

/// Applies Wanda to a layer: zeroes the masked weights (no update).
public func wanda(w: inout [Double], rows: Int, cols: Int, inputNorms norms: [Double], pattern: LayerPattern,
                  groupedInputs: Int) throws {
    let mask = try wandaMask(w: w, rows: rows, cols: cols, inputNorms: norms, pattern: pattern, groupedInputs: groupedInputs)
    for i in mask.indices where mask[i] { w[i] = 0 }
}
