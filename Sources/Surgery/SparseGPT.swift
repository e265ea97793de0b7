import CBLAS

/// Which weights a layer-wise method removes.
public enum LayerPattern: Sendable, Equatable {
    /// A fraction of the layer's weights (SparseGPT: ⌊s·n⌋ in every block of columns; Wanda: ⌊s·C'⌋ per row).
    case unstructured(Double)
    /// Two of every group of 4 consecutive inputs of each row (the bias column excluded).
    case twoFour
    /// A given mask [R, C'] (true = removed).
    case mask([Bool])
}

/// Options of SparseGPT (Frantar & Alistarh 2023).
public struct SparseGPTOptions: Sendable, Equatable {
    /// Columns processed per block with lazy batch updates.
    public var blockSize = 128
    /// Damping λ = percentDamp · mean(diag H), added to the diagonal of H.
    public var percentDamp = 0.01

    public init(blockSize: Int = 128, percentDamp: Double = 0.01) {
        self.blockSize = blockSize
        self.percentDamp = percentDamp
    }
}

/// SparseGPT on one layer: row-independent OBS updates under H = XᵀX (G = I), columns processed in
/// order in blocks with lazy batch updates. For column c the remaining columns F = {c, …} have
/// inverse Hessian row [H_F⁻¹]_c = U[c,c]·U[c, c:] where H⁻¹ = UᵀU (upper Cholesky), so removing
/// w_c costs w_c²/U[c,c]² and the error (w_c − q_c)/U[c,c] is spread over the later columns along
/// U[c, c:]. Within each block of columns the mask is chosen on entry to the block (unstructured:
/// the ⌊s·n⌋ smallest w²/U[c,c]² of the block's R × b entries; 2:4: the two smallest of each group of
/// 4, chosen when the group's first column is reached). Columns with H[c,c] = 0 are dead: their
/// weights are zeroed.
/// w: [R, n] row-major (W' = [W | b]); h: [n, n] (any positive multiple of XᵀX); `groupedInputs`:
/// the leading columns that form 2:4 groups (the inputs, without the bias column).
public func sparseGPT(w: inout [Double], rows R: Int, cols n: Int, h: [Double], pattern: LayerPattern,
                      groupedInputs: Int, options: SparseGPTOptions = SparseGPTOptions(), layer: String = "layer") throws {
    guard options.blockSize > 0, options.blockSize % 4 == 0 else {
        throw SurgeryError.invalidTarget("the SparseGPT block size must be a positive multiple of 4 (got \(options.blockSize))")
    }
    if case .mask(let m) = pattern, m.count != R * n {
        throw SurgeryError.invalidTarget("a mask of \(m.count) entries was given for a \(R)×\(n) layer")
    }
    guard R > 0, n > 0 else { return }
    // dead inputs, then damping
    var hd = h
    for c in 0..<n where hd[c * n + c] == 0 {
        hd[c * n + c] = 1
        for r in 0..<R { w[r * n + c] = 0 }
    }
    hd = damped(hd, n: n, options.percentDamp)
    let u = try upperCholesky(try spdInverse(hd, n: n, what: "H of \(layer)"), n: n, what: "H⁻¹ of \(layer)")
    let B = options.blockSize
    let isTwoFour = pattern == .twoFour
    for i1 in stride(from: 0, to: n, by: B) {
        let i2 = min(i1 + B, n), b = i2 - i1
        var w1 = submatrix(w, cols: n, rows: Array(0..<R), cols: Array(i1..<i2))   // [R, b]
        var err = [Double](repeating: 0, count: R * b)
        var mask = [Bool](repeating: false, count: R * b)
        switch pattern {
        case .unstructured(let s):
            var score = [Double](repeating: 0, count: R * b)
            for r in 0..<R {
                for j in 0..<b { let d = u[(i1 + j) * n + i1 + j]; score[r * b + j] = w1[r * b + j] * w1[r * b + j] / (d * d) }
            }
            mask = smallestMask(score, count: Int((s * Double(R * b)).rounded(.down)))
        case .mask(let m):
            for r in 0..<R { for j in 0..<b { mask[r * b + j] = m[r * n + i1 + j] } }
        case .twoFour:
            break   // chosen group by group below
        }
        for j in 0..<b {
            let c = i1 + j
            let d = u[c * n + c]
            if isTwoFour, j % 4 == 0, c + 4 <= groupedInputs {
                var score = [Double](repeating: 0, count: R * 4)
                for r in 0..<R {
                    for o in 0..<4 { let dd = u[(c + o) * n + c + o]; score[r * 4 + o] = w1[r * b + j + o] * w1[r * b + j + o] / (dd * dd) }
                }
                var m4 = [Bool](repeating: false, count: R * 4)
                twoFourWithinGroups(score, rows: R, stride: 4, columns: 0..<4, into: &m4)
                for r in 0..<R { for o in 0..<4 { mask[r * b + j + o] = m4[r * 4 + o] } }
            }
            // OBS step of column c for every row, on the rest of the block
            for r in 0..<R where mask[r * b + j] {
                let e = w1[r * b + j] / d
                err[r * b + j] = e
                for t in j..<b { w1[r * b + t] -= e * u[c * n + i1 + t] }
                w1[r * b + j] = 0
            }
        }
        for r in 0..<R { for j in 0..<b { w[r * n + i1 + j] = w1[r * b + j] } }
        // lazy batch update of the later columns: W[:, i2:] −= Err · U[i1:i2, i2:]
        if i2 < n {
            w.withUnsafeMutableBufferPointer { wp in
                u.withUnsafeBufferPointer { up in
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(R), Int32(n - i2), Int32(b), -1,
                                err, Int32(b), up.baseAddress! + i1 * n + i2, Int32(n), 1, wp.baseAddress! + i2, Int32(n))
                }
            }
        }
    }
    guard w.allSatisfy({ $0.isFinite }) else { throw SurgeryError.nonFiniteWeights(layer: layer) }
}

/// U with a = UᵀU, U upper triangular (row-major), by Cholesky (LAPACK dpotrf).
public func upperCholesky(_ a: [Double], n: Int, what: String) throws -> [Double] {
    if n == 0 { return [] }
    var m = a
    var info: Int32 = 0
    var nn = Int32(n)
    var uplo = Int8(UInt8(ascii: "L"))
    // the column-major lower factor L (a = L·Lᵀ) read row-major is Lᵀ = U
    dpotrf_(&uplo, &nn, &m, &nn, &info)
    guard info == 0 else { throw SurgeryError.notPositiveDefinite(what: what) }
    for i in 0..<n { for j in 0..<i { m[i * n + j] = 0 } }
    return m
}
