import CBLAS
import Runtime

/// One K-FAC factor's running sum over windows: its upper triangle, packed row by row, in float64.
///
/// Each window's statistic is formed in float32 (`windowStatistic`: the same ssyrk/sgemm blocks
/// whatever the thread count) and added here in float64. Float32 terms summed in float64 are exact
/// unless one entry's terms span more than about 2^(29 − log2 windows) in magnitude, so the sum does
/// not depend on the order the windows arrive in: one process, or ranks each summing their share of
/// the windows and a reduction adding the shares (in float64 too), give the same float32 factor.
/// Memory: n(n+1)/2 doubles, the bytes of the float32 square it replaces.
final class FactorSum {
    let n: Int
    private let storage: Buffer   // n(n+1) floats' room: n(n+1)/2 doubles, zeroed
    let sum: UnsafeMutablePointer<Double>

    init(n: Int) {
        self.n = n
        storage = Buffer(n * (n + 1))
        sum = UnsafeMutableRawPointer(storage.pointer).bindMemory(to: Double.self, capacity: n * (n + 1) / 2)
    }

    /// Entries held: n(n+1)/2.
    var count: Int { n * (n + 1) / 2 }
    var bytes: Int { factorSumBytes(side: n) }

    /// sum += the upper triangle of `window`.  window: [n, n] (row stride n; only j >= i read)
    func add(_ window: UnsafePointer<Float>) {
        var o = 0
        for i in 0..<n {
            let row = window + i * n
            let s = sum + o
            for j in i..<n { s[j - i] += Double(row[j]) }
            o += n - i
        }
    }

    /// The full symmetric float32 factor.  out: [n, n]
    func tensor() -> Tensor {
        var out = [Float](repeating: 0, count: n * n)
        var o = 0
        for i in 0..<n {
            for j in i..<n {
                let v = Float(sum[o])
                out[i * n + j] = v
                out[j * n + i] = v
                o += 1
            }
        }
        return Tensor(shape: [n, n], data: out)
    }
}

/// Bytes of one factor's sum during a pass: n(n+1)/2 doubles (what the planner and the grouping count).
public func factorSumBytes(side n: Int) -> Int { 4 * n * (n + 1) }

/// One window's statistic into `scratch` (upper triangle; the lower is not written):
/// α·[x 1]ᵀ[x 1], the column of ones only with a bias.  x: [T, C]; scratch: [n, n], n = C (+1)
func windowStatistic(_ x: UnsafePointer<Float>, T: Int, C: Int, hasBias: Bool, alpha: Float,
                     into scratch: Buffer) -> UnsafePointer<Float> {
    let n = C + (hasBias ? 1 : 0)
    let s = scratch.reserve(n * n)
    syrkUpper(x, ldx: C, T: T, n: C, alpha: alpha, beta: 0, s, ldc: n)
    if hasBias {
        // the column of ones: s[c, C] = α·Σ_t x[t, c], s[C, C] = α·T
        for c in 0..<C { s[c * n + C] = 0 }
        for t in 0..<T {
            let xt = x + t * C
            for c in 0..<C { s[c * n + C] += alpha * xt[c] }
        }
        s[C * n + C] = alpha * Float(T)
    }
    return UnsafePointer(s)
}

/// c[upper] = alpha · xᵀ·x + beta · c[upper], in blocks spread over the workers: ssyrk on diagonal
/// blocks, sgemm on the blocks above them (each block of c belongs to one task). The blocks depend on
/// n only, not on the thread count, so every entry comes from the same BLAS call whatever the threads.
/// x: [T, n] (row stride ldx); c: [n, n] (stride ldc)
func syrkUpper(_ x: UnsafePointer<Float>, ldx: Int, T: Int, n: Int, alpha: Float, beta: Float = 1,
               _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    if n == 0 { return }
    if T == 0 {
        if beta != 1 { for i in 0..<n { for j in i..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } } }
        return
    }
    let blocks = n < 128 ? 1 : min(8, n / 64)
    let size = (n + blocks - 1) / blocks
    var tasks: [(Int, Int)] = []
    for i in 0..<blocks { for j in i..<blocks { tasks.append((i, j)) } }
    Parallel.forEach(tasks.count) { k in
        let (bi, bj) = tasks[k]
        let i0 = bi * size, j0 = bj * size
        let ni = min(n, i0 + size) - i0, nj = min(n, j0 + size) - j0
        if ni <= 0 || nj <= 0 { return }
        if bi == bj {
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(ni), Int32(T), alpha, x + i0, Int32(ldx),
                        beta, c + i0 * ldc + i0, Int32(ldc))
        } else {
            sgemm(transA: true, transB: false, M: ni, N: nj, K: T, alpha: alpha, x + i0, lda: ldx, x + j0, ldb: ldx,
                  beta: beta, c + i0 * ldc + j0, ldc: ldc)
        }
    }
}
