import Runtime

/// A block linear layer as the surgeon sees it: W' = [W | b] (R × C', C' = C + 1 with a bias),
/// in float64, with the rows and columns removed so far.
public struct PrunableLayer: Sendable {
    public let name: String
    public let rows: Int          // R
    public let cols: Int          // C' (inputs, plus the bias column)
    public let hasBias: Bool
    public var w: [Double]        // [R, C'] row-major
    public var removedRows: [Bool]
    public var removedCols: [Bool]

    public init(name: String, linear: Linear) {
        self.name = name
        rows = linear.outFeatures
        hasBias = linear.bias != nil
        cols = linear.inFeatures + (hasBias ? 1 : 0)
        let dense = linear.denseWeight.data
        var w = [Double](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for c in 0..<linear.inFeatures { w[r * cols + c] = Double(dense[r * linear.inFeatures + c]) }
            if let b = linear.bias { w[r * cols + cols - 1] = Double(b[r]) }
        }
        self.w = w
        removedRows = [Bool](repeating: false, count: rows)
        removedCols = [Bool](repeating: false, count: cols)
    }

    /// Number of parameters (weights and bias).
    public var size: Int { rows * cols }

    /// Parameters zeroed by the removed rows and columns: r·C' + c·R − r·c.
    public var removedCount: Int {
        let r = removedRows.filter { $0 }.count, c = removedCols.filter { $0 }.count
        return structuredRemovedCount(r: r, c: c, R: rows, C: cols)
    }

    public func rowIsZero(_ r: Int) -> Bool { (0..<cols).allSatisfy { w[r * cols + $0] == 0 } }
    public func colIsZero(_ c: Int) -> Bool { (0..<rows).allSatisfy { w[$0 * cols + c] == 0 } }

    /// Zeroes every removed row and column exactly.
    public mutating func applyMask() {
        for r in 0..<rows where removedRows[r] { for c in 0..<cols { w[r * cols + c] = 0 } }
        for c in 0..<cols where removedCols[c] { for r in 0..<rows { w[r * cols + c] = 0 } }
    }

    /// Writes the weights back into a linear layer of the same shape.
    public func write(into linear: inout Linear) throws {
        let C = linear.inFeatures
        var dense = [Float](repeating: 0, count: rows * C)
        var bias = hasBias ? [Float](repeating: 0, count: rows) : nil
        for r in 0..<rows {
            for c in 0..<C { dense[r * C + c] = Float(w[r * cols + c]) }
            bias?[r] = Float(w[r * cols + cols - 1])
        }
        guard dense.allSatisfy({ $0.isFinite }), bias?.allSatisfy({ $0.isFinite }) ?? true else {
            throw SurgeryError.nonFiniteWeights(layer: name)
        }
        linear.setDense(Tensor(shape: [rows, C], data: dense))
        linear.bias = bias
    }
}

/// Parameters removed from an R × C layer by removing r rows and c columns.
@inline(__always)
public func structuredRemovedCount(r: Int, c: Int, R: Int, C: Int) -> Int { r * C + c * R - r * c }
