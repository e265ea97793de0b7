import CBLAS
import Foundation

/// Dense float64 linear algebra for the surgeon's solves (row-major square/rectangular matrices).

public enum SurgeryError: Error, CustomStringConvertible, Equatable {
    case notPositiveDefinite(what: String)
    case nonFiniteCurvature(layer: String)
    case nonFiniteWeights(layer: String)
    case invalidTarget(String)
    /// A recipe value that cannot work, naming the recipe field (the CLI maps it to its flag).
    case invalidRecipe(RecipeField, String)
    case noCalibrationData(String)

    public var description: String {
        switch self {
        case .notPositiveDefinite(let w):
            return "\(w) is not positive definite even after damping; raise the damping (damp_g / damp_a) or use more calibration data"
        case .nonFiniteCurvature(let l):
            return "curvature of \(l) contains NaN or Inf: the model or the calibration data produce non-finite gradients"
        case .nonFiniteWeights(let l):
            return "weights of \(l) became NaN or Inf during the update; raise the damping (damp_g / damp_a)"
        case .invalidTarget(let s):
            return s
        case .invalidRecipe(_, let s):
            return s
        case .noCalibrationData(let s):
            return s
        }
    }
}

/// Inverse of a symmetric positive definite n×n matrix by Cholesky (LAPACK dpotrf/dpotri).
public func spdInverse(_ a: [Double], n: Int, what: String) throws -> [Double] {
    if n == 0 { return [] }
    var m = a
    var info: Int32 = 0
    var nn = Int32(n)
    var uplo = Int8(UInt8(ascii: "L"))
    // row-major symmetric = column-major symmetric: the lower triangle of one is the upper of the other
    dpotrf_(&uplo, &nn, &m, &nn, &info)
    guard info == 0 else { throw SurgeryError.notPositiveDefinite(what: what) }
    dpotri_(&uplo, &nn, &m, &nn, &info)
    guard info == 0 else { throw SurgeryError.notPositiveDefinite(what: what) }
    // dpotri fills one triangle (column-major lower = row-major upper): mirror it
    for i in 0..<n {
        for j in (i + 1)..<n {
            m[j * n + i] = m[i * n + j]
        }
    }
    return m
}

/// The Cholesky factor of a symmetric positive definite n×n matrix, in place (dpotrf): `a` holds L
/// column-major lower, i.e. row-major upper U = Lᵀ (the other triangle keeps the input).
public func choleskyInPlace(_ a: inout [Double], n: Int, what: String) throws {
    if n == 0 { return }
    var info: Int32 = 0
    var nn = Int32(n)
    var uplo = Int8(UInt8(ascii: "L"))
    dpotrf_(&uplo, &nn, &a, &nn, &info)
    guard info == 0 else { throw SurgeryError.notPositiveDefinite(what: what) }
}

/// The diagonal of a⁻¹ from a's Cholesky factor (`choleskyInPlace`), without the inverse: L⁻¹ in
/// place (dtrtri), (a⁻¹)ᵢᵢ = Σₖ (L⁻¹)ₖᵢ². `l` holds L⁻¹ afterwards.
public func inverseDiagonal(fromCholesky l: inout [Double], n: Int, what: String) throws -> [Double] {
    if n == 0 { return [] }
    var info: Int32 = 0
    var nn = Int32(n)
    var uplo = Int8(UInt8(ascii: "L")), unit = Int8(UInt8(ascii: "N"))
    dtrtri_(&uplo, &unit, &nn, &l, &nn, &info)
    guard info == 0 else { throw SurgeryError.notPositiveDefinite(what: what) }
    // column i of the column-major lower L⁻¹ is l[i·n + i ..< i·n + n]
    return (0..<n).map { i in
        var s = 0.0
        for k in i..<n { s += l[i * n + k] * l[i * n + k] }
        return s
    }
}

/// Columns `cols` of the inverse of a symmetric positive definite n×n matrix, as [n, |cols|]
/// row-major: one Cholesky factorization (in place: `a` holds it afterwards) and |cols| solves
/// against unit vectors.
public func spdInverseColumns(_ a: inout [Double], n: Int, cols: [Int], what: String) throws -> [Double] {
    let k = cols.count
    if n == 0 || k == 0 { return [Double](repeating: 0, count: n * k) }
    var et = [Double](repeating: 0, count: n * k)   // the unit vectors, column-major [n, k]
    for (j, c) in cols.enumerated() { et[j * n + c] = 1 }
    try choleskySolve(&a, n: n, &et, k: k, what: what)
    return rowMajor(et, n: n, k: k)
}

/// Solves a·x = b for SPD a (n×n) and b (n×k), row-major; returns x (n×k).
public func spdSolve(_ a: [Double], n: Int, _ b: [Double], k: Int, what: String) throws -> [Double] {
    if n == 0 || k == 0 { return b }
    var m = a
    // LAPACK is column-major: solve with the transpose of b (k×n row-major == n×k column-major)
    var bt = [Double](repeating: 0, count: n * k)
    for i in 0..<n { for j in 0..<k { bt[j * n + i] = b[i * k + j] } }
    try choleskySolve(&m, n: n, &bt, k: k, what: what)
    return rowMajor(bt, n: n, k: k)
}

/// a·X = B in place: a (n×n SPD) becomes its Cholesky factor (`choleskyInPlace`), B (column-major
/// [n, k]) becomes X (dpotrs).
private func choleskySolve(_ a: inout [Double], n: Int, _ b: inout [Double], k: Int, what: String) throws {
    try choleskyInPlace(&a, n: n, what: what)
    var info: Int32 = 0
    var nn = Int32(n), kk = Int32(k)
    var uplo = Int8(UInt8(ascii: "L"))
    dpotrs_(&uplo, &nn, &kk, a, &nn, &b, &nn, &info)
    guard info == 0 else { throw SurgeryError.notPositiveDefinite(what: what) }
}

/// A column-major [n, k] matrix as row-major.
private func rowMajor(_ c: [Double], n: Int, k: Int) -> [Double] {
    var x = [Double](repeating: 0, count: n * k)
    for i in 0..<n { for j in 0..<k { x[i * k + j] = c[j * n + i] } }
    return x
}

/// c[M, N] = alpha · a[M, K] · b[K, N] + beta · c (row-major, float64).
public func dgemm(_ a: [Double], _ b: [Double], M: Int, N: Int, K: Int, alpha: Double = 1, beta: Double = 0, into c: inout [Double]) {
    if M == 0 || N == 0 { return }
    if K == 0 {
        for i in 0..<(M * N) { c[i] *= beta }
        return
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(M), Int32(N), Int32(K), alpha, a, Int32(K), b, Int32(N), beta, &c, Int32(N))
}

/// The sub-matrix m[rows, cols] of an n-column row-major matrix.
public func submatrix(_ m: [Double], cols n: Int, rows: [Int], cols sel: [Int]) -> [Double] {
    var out = [Double](repeating: 0, count: rows.count * sel.count)
    for (i, r) in rows.enumerated() {
        for (j, c) in sel.enumerated() { out[i * sel.count + j] = m[r * n + c] }
    }
    return out
}

/// The factor f (n = full × full) on the indices idx: f itself when idx is all of them (no copy),
/// the identity when f is nil.
public func livePart(_ f: [Double]?, full: Int, _ idx: [Int]) -> [Double] {
    guard let f else {
        var id = [Double](repeating: 0, count: idx.count * idx.count)
        for i in 0..<idx.count { id[i * idx.count + i] = 1 }
        return id
    }
    return idx.count == full ? f : submatrix(f, cols: full, rows: idx, cols: idx)
}

/// a + d·mean(diag a)·I (relative damping); a: n×n.
public func damped(_ a: [Double], n: Int, _ d: Double) -> [Double] {
    guard n > 0 else { return a }
    var mean = 0.0
    for i in 0..<n { mean += a[i * n + i] }
    mean /= Double(n)
    var out = a
    let add = d * mean
    for i in 0..<n { out[i * n + i] += add }
    return out
}
