import Foundation

/// Next-token cross-entropy on logits rows.

/// −log softmax(logits)[target] for one row, accumulated in double.  logits: [V]
@inline(__always)
public func crossEntropy(_ logits: UnsafePointer<Float>, V: Int, target: Int) -> Double {
    var m = -Float.infinity
    for i in 0..<V { m = max(m, logits[i]) }
    var s: Double = 0
    for i in 0..<V { s += Double(expf(logits[i] - m)) }
    return log(s) + Double(m) - Double(logits[target])
}

/// Mean next-token cross-entropy of T rows: row t predicts tokens[t+1] (T−1 predictions).
/// logits: [T, V]
public func meanNextTokenLoss(_ logits: [Float], tokens: [Int32], V: Int) -> Double {
    let T = tokens.count
    guard T > 1 else { return 0 }
    var sum: Double = 0
    logits.withUnsafeBufferPointer { lp in
        for t in 0..<(T - 1) { sum += crossEntropy(lp.baseAddress! + t * V, V: V, target: Int(tokens[t + 1])) }
    }
    return sum / Double(T - 1)
}

/// Softmax of one row in place; returns the log-partition log Σ exp(x).  x: [V]
@inline(__always)
public func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, V: Int) -> Double {
    let m = vectorMax(x, V)
    let s = vectorExpShifted(x, V, shift: m)
    vectorScale(x, V, 1 / s)
    return Double(m) + log(Double(s))
}

/// Backward of −log softmax(logits)[target]: given the probabilities p (from `softmaxInPlace`),
/// writes d = scale·(p − onehot(target)) in place.  p: [V]
@inline(__always)
public func crossEntropyBackward(_ p: UnsafeMutablePointer<Float>, V: Int, target: Int, scale: Float) {
    vectorScale(p, V, scale)
    p[target] -= scale
}
