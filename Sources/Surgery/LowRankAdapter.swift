import Runtime

/// Which entries of a layer's weight a low-rank adapter may change (the rest stay as they are: zero).
public enum AdapterMask: Sendable, Equatable {
    /// Live rows × live columns (structured pruning): the update vanishes on dead rows and columns.
    case structure(liveRows: [Bool], liveCols: [Bool])
    /// Live entries, row-major [R, C] (unstructured, 2:4): the update vanishes wherever the mask is false.
    case elements([Bool])

    /// The mask of a structured layer: rows and columns listed as removed, or all zero in W, are dead.
    /// removedCols may hold the bias column (index C); it is ignored. w: [R, C]
    public static func structure(weight w: [Float], rows R: Int, cols C: Int, removedRows: [Int], removedCols: [Int]) -> AdapterMask {
        var liveRows = [Bool](repeating: false, count: R), liveCols = [Bool](repeating: false, count: C)
        for r in 0..<R { for c in 0..<C where w[r * C + c] != 0 { liveRows[r] = true; liveCols[c] = true } }
        for r in removedRows where r >= 0 && r < R { liveRows[r] = false }
        for c in removedCols where c >= 0 && c < C { liveCols[c] = false }
        return .structure(liveRows: liveRows, liveCols: liveCols)
    }

    /// The mask of an unstructured or 2:4 layer: the nonzero entries of W.
    public static func elements(weight w: [Float]) -> AdapterMask { .elements(w.map { $0 != 0 }) }

    /// Whether entry (r, c) of an R × C weight may change.
    @inline(__always)
    public func isLive(_ r: Int, _ c: Int, cols C: Int) -> Bool {
        switch self {
        case .structure(let rows, let cols): return rows[r] && cols[c]
        case .elements(let m): return m[r * C + c]
        }
    }
}

/// A rank-r adapter on one linear layer: W_eff = W + M ⊙ (B·A), with A: [r, C], B: [R, r] and M the
/// adapter mask. The base W and the mask are fixed; A and B are trained, and their gradients are
/// accumulated from the layer's input x: [T, C] and output gradient dy: [T, R] (G_W = dyᵀx):
/// dB = (M ⊙ G_W)·Aᵀ, dA = Bᵀ·(M ⊙ G_W). For a structure mask M = m_r m_cᵀ this factors as
/// dB = m_r ⊙ dyᵀ(x·Aᵀ), dA = ((dy·B)ᵀx) ⊙ m_c (A's dead columns and B's dead rows are kept at zero),
/// costing T·r·(R + C) instead of T·R·C.
public final class LowRankAdapter {
    public let name: String
    public let rows: Int      // R
    public let cols: Int      // C
    public let rank: Int      // r
    public let base: [Float]  // W [R, C]
    public let mask: AdapterMask
    public var a: [Float]     // [r, C]
    public var b: [Float]     // [R, r]
    public private(set) var gradA: [Float]
    public private(set) var gradB: [Float]
    private let scratch = Buffer()

    /// A ~ N(0, 1/C) entry-wise (LoRA's scale 1/√fan_in, drawn normal instead of uniform), B = 0, so
    /// W_eff = W at the start; A's dead columns are zero. No α/r scaling (it is absorbed in the rate).
    public init(name: String, weight: [Float], rows R: Int, cols C: Int, rank r: Int, mask: AdapterMask, rng: inout SeededRandom) {
        precondition(weight.count == R * C && r >= 1, "adapter \(name): weight of \(weight.count) values for \(R)×\(C), rank \(r)")
        self.name = name
        rows = R
        cols = C
        rank = r
        base = weight
        self.mask = mask
        let s = 1 / Double(C).squareRoot()
        var a = [Float](repeating: 0, count: r * C)
        for i in 0..<(r * C) { a[i] = Float(rng.normal() * s) }
        self.a = a
        b = [Float](repeating: 0, count: R * r)
        gradA = [Float](repeating: 0, count: r * C)
        gradB = [Float](repeating: 0, count: R * r)
        maskParameters()
    }

    /// Zeroes A's dead columns and B's dead rows (structure masks), so B·A vanishes there exactly.
    public func maskParameters() {
        guard case .structure(let liveRows, let liveCols) = mask else { return }
        let r = rank, C = cols
        for c in 0..<C where !liveCols[c] { for k in 0..<r { a[k * C + c] = 0 } }
        for i in 0..<rows where !liveRows[i] { for k in 0..<r { b[i * r + k] = 0 } }
    }

    public func zeroGradients() {
        for i in gradA.indices { gradA[i] = 0 }
        for i in gradB.indices { gradB[i] = 0 }
    }

    /// W + M ⊙ (B·A), exactly zero wherever the mask is false and W is zero.  [R, C]
    public func effectiveWeight() -> [Float] {
        let R = rows, C = cols, r = rank
        var out = [Float](repeating: 0, count: R * C)
        out.withUnsafeMutableBufferPointer { ob in
            guard let o = ob.baseAddress else { return }
            a.withUnsafeBufferPointer { ab in
                b.withUnsafeBufferPointer { bb in
                    guard let ap = ab.baseAddress, let bp = bb.baseAddress else { return }
                    sgemmParallel(transA: false, transB: false, M: R, N: C, K: r, bp, lda: r, ap, ldb: C, o, ldc: C)
                }
            }
            base.withUnsafeBufferPointer { wb in
                switch mask {
                case .structure(let liveRows, let liveCols):
                    for i in 0..<R {
                        for c in 0..<C { o[i * C + c] = liveRows[i] && liveCols[c] ? wb[i * C + c] + o[i * C + c] : wb[i * C + c] }
                    }
                case .elements(let m):
                    for i in 0..<(R * C) { o[i] = m[i] ? wb[i] + o[i] : wb[i] }
                }
            }
        }
        return out
    }

    /// Adds the gradients of A and B for one observed pass of the layer.  x: [T, C]; dy: [T, R]
    public func accumulate(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, T: Int) {
        let R = rows, C = cols, r = rank
        guard T > 0 else { return }
        a.withUnsafeBufferPointer { ab in
        b.withUnsafeBufferPointer { bb in
        gradA.withUnsafeMutableBufferPointer { gab in
        gradB.withUnsafeMutableBufferPointer { gbb in
            guard let A = ab.baseAddress, let B = bb.baseAddress, let dA = gab.baseAddress, let dB = gbb.baseAddress else { return }
            switch mask {
            case .structure(let liveRows, let liveCols):
                let t = scratch.reserve(T * r)
                // dB += dyᵀ·(x·Aᵀ), then the dead rows zeroed
                sgemmParallel(transA: false, transB: true, M: T, N: r, K: C, x, lda: C, A, ldb: C, t, ldc: r)
                sgemmParallel(transA: true, transB: false, M: R, N: r, K: T, dy, lda: R, t, ldb: r, beta: 1, dB, ldc: r)
                for i in 0..<R where !liveRows[i] { for k in 0..<r { dB[i * r + k] = 0 } }
                // dA += (dy·B)ᵀ·x, then the dead columns zeroed
                sgemmParallel(transA: false, transB: false, M: T, N: r, K: R, dy, lda: R, B, ldb: r, t, ldc: r)
                sgemmParallel(transA: true, transB: false, M: r, N: C, K: T, t, lda: r, x, ldb: C, beta: 1, dA, ldc: C)
                for c in 0..<C where !liveCols[c] { for k in 0..<r { dA[k * C + c] = 0 } }
            case .elements(let m):
                // G = M ⊙ dyᵀx; dB += G·Aᵀ; dA += Bᵀ·G
                let g = scratch.reserve(R * C)
                sgemmParallel(transA: true, transB: false, M: R, N: C, K: T, dy, lda: R, x, ldb: C, g, ldc: C)
                m.withUnsafeBufferPointer { mb in for i in 0..<(R * C) where !mb[i] { g[i] = 0 } }
                sgemmParallel(transA: false, transB: true, M: R, N: r, K: C, g, lda: C, A, ldb: C, beta: 1, dB, ldc: r)
                sgemmParallel(transA: true, transB: false, M: r, N: C, K: R, B, lda: r, g, ldb: C, beta: 1, dA, ldc: C)
            }
        }
        }
        }
        }
    }
}
