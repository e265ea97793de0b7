/// 2:4 semi-structured sparsity along the input dimension: in every row, the inputs are cut into
/// groups of 4 consecutive columns (0–3, 4–7, ...) of the weight; the bias column of an OPT layer
/// (the last column of W' = [W | b]) belongs to no group. A hardware-valid layer has at most two
/// nonzeros in every group.

/// Whether a weight [rows, cols] (row-major) is hardware-valid 2:4 along its inputs: cols is a
/// multiple of 4 and every group of 4 consecutive inputs of every row holds at least two zeros.
public func isValid2of4(weight: [Float], rows: Int, cols: Int) -> Bool {
    guard cols % 4 == 0, weight.count == rows * cols else { return false }
    for r in 0..<rows {
        for g in stride(from: 0, to: cols, by: 4) {
            var nonzero = 0
            for c in g..<(g + 4) where weight[r * cols + c] != 0 { nonzero += 1 }
            if nonzero > 2 { return false }
        }
    }
    return true
}

/// Checks that every layer can hold a 2:4 pattern (input count a multiple of 4).
public func require2of4Shapes(_ layers: [(name: String, inputs: Int)]) throws {
    if let bad = layers.first(where: { $0.inputs % 4 != 0 }) {
        throw SurgeryError.invalidTarget("2:4 sparsity needs every pruned layer's input count to be a multiple of 4; \(bad.name) has \(bad.inputs) inputs (use the unstructured structure)")
    }
}

/// The two cheapest of the four costs (ties by position): their offsets within the group.
@inline(__always)
func twoSmallest(_ c0: Double, _ c1: Double, _ c2: Double, _ c3: Double) -> (Int, Int) {
    @inline(__always) func at(_ i: Int) -> Double {
        switch i {
        case 0: return c0
        case 1: return c1
        case 2: return c2
        default: return c3
        }
    }
    var a = 0
    for i in 1..<4 where at(i) < at(a) { a = i }
    var b = a == 0 ? 1 : 0
    for i in 0..<4 where i != a && at(i) < at(b) { b = i }
    return (min(a, b), max(a, b))
}

/// Cost of each 2:4 group of a layer (surgeon.md §3): the sum of its two smallest element costs.
/// cost: [rows, stride] element costs (stride = C' = inputs + 1 with a bias); returns [rows, inputs/4].
public func twoFourGroupCosts(_ cost: [Double], rows: Int, stride: Int, inputs: Int) -> [Double] {
    let groups = inputs / 4
    var out = [Double](repeating: 0, count: rows * groups)
    for r in 0..<rows {
        for g in 0..<groups {
            let o = r * stride + 4 * g
            let (a, b) = twoSmallest(cost[o], cost[o + 1], cost[o + 2], cost[o + 3])
            out[r * groups + g] = cost[o + a] + cost[o + b]
        }
    }
    return out
}

/// The element mask of the selected groups: in each selected group, its two cheapest entries.
/// cost: [rows, stride]; selected: [rows, inputs/4]; returns [rows, stride].
public func twoFourMask(_ cost: [Double], selected: [Bool], rows: Int, stride: Int, inputs: Int) -> [Bool] {
    let groups = inputs / 4
    var mask = [Bool](repeating: false, count: rows * stride)
    for r in 0..<rows {
        for g in 0..<groups where selected[r * groups + g] {
            let o = r * stride + 4 * g
            let (a, b) = twoSmallest(cost[o], cost[o + 1], cost[o + 2], cost[o + 3])
            mask[o + a] = true
            mask[o + b] = true
        }
    }
    return mask
}

/// 2:4 mask from scores compared inside each group only (Wanda, SparseGPT): the two smallest
/// scores of every group of the columns `first ..< first + count` (count a multiple of 4).
/// score: [rows, stride]; mask: [rows, stride] (only the given columns are written).
func twoFourWithinGroups(_ score: [Double], rows: Int, stride: Int, columns: Range<Int>, into mask: inout [Bool]) {
    for r in 0..<rows {
        for o in Swift.stride(from: r * stride + columns.lowerBound, to: r * stride + columns.upperBound, by: 4) {
            let (a, b) = twoSmallest(score[o], score[o + 1], score[o + 2], score[o + 3])
            for i in 0..<4 { mask[o + i] = i == a || i == b }
        }
    }
}
