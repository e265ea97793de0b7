import CBLAS
import Runtime

/// What a curvature pass shows the block linears' activity to (`Curvature.pass`): an accumulator of
/// the factors, or a spill of their rows to disk. The pass sets the scales of the next statistics.
protocol CurvatureObserver: LinearObserver {
    var alphaA: Float { get set }
    var alphaG: Float { get set }
}

/// Streams K-FAC statistics out of training passes: per block linear layer
/// A += α_A·[x 1]ᵀ[x 1] (the 1 only for layers with a bias) from the forward pass, once per group of
/// layers reading the same input, and G += α_G·dyᵀdy from each backward pass. Upper triangles are
/// accumulated with ssyrk/sgemm blocks split over the workers; `finish()` mirrors them.
final class KFACAccumulator: CurvatureObserver {
    let wantG: Bool
    /// Scales applied to the next observed statistics (1/(N·L), and 1/(N·L·k) for k sampled labels).
    var alphaA: Float = 1
    var alphaG: Float = 1

    private(set) var groupOf: [String: String] = [:]    // layer → the layer whose input it shares
    private(set) var order: [String] = []                 // layers in model order
    private var a: [String: (n: Int, buffer: Buffer)] = [:]   // keyed by input group
    private var g: [String: (n: Int, buffer: Buffer)] = [:]   // keyed by layer

    /// The layers whose factors are accumulated (nil: every layer); an input group's A is
    /// accumulated when its first layer is among them.
    let only: Set<String>?
    /// Bytes of the accumulators allocated so far (they live until `finish`: the pass's factor memory).
    private(set) var bytes = 0

    init(wantG: Bool, only: Set<String>? = nil) {
        self.wantG = wantG
        self.only = only
    }

    func observe(_ act: LinearActivity) {
        let T = act.tokens, C = act.inFeatures, R = act.outFeatures
        if let only, !only.contains(act.name) { return }
        guard let dy = act.outputGradient else {
            if groupOf[act.name] == nil { order.append(act.name) }
            groupOf[act.name] = act.inputGroup
            guard act.name == act.inputGroup else { return }
            let n = C + (act.hasBias ? 1 : 0)
            let acc = a[act.name] ?? { bytes += 4 * n * n; return (n, Buffer(n * n)) }()
            a[act.name] = acc
            let A = acc.buffer.pointer
            syrkUpper(act.input, ldx: C, T: T, n: C, alpha: alphaA, A, ldc: n)
            if act.hasBias {
                // the column of ones: A[c, C] += α·Σ_t x[t, c], A[C, C] += α·T
                for t in 0..<T {
                    let xt = act.input + t * C
                    for c in 0..<C { A[c * n + C] += alphaA * xt[c] }
                }
                A[C * n + C] += alphaA * Float(T)
            }
            return
        }
        guard wantG else { return }
        let acc = g[act.name] ?? { bytes += 4 * R * R; return (R, Buffer(R * R)) }()
        g[act.name] = acc
        syrkUpper(dy, ldx: R, T: T, n: R, alpha: alphaG, acc.buffer.pointer, ldc: R)
    }

    /// Sums every accumulator (its upper triangle, the part `finish` reads) over the ranks into the rank `owner` names for its layer (an input
    /// group's A goes to its first layer's owner), in model order: the same collectives on every rank,
    /// each of which has seen the same layers. With `keepOwnedOnly` every rank then frees the
    /// accumulators of the layers it does not own (its factors are those of its layers); otherwise the
    /// other ranks keep their own share.
    func reduce(over communicator: Communicator, owner: (String) -> Int, keepOwnedOnly: Bool = false) throws {
        // an A is reduced to one rank: every layer of its input group must be owned there
        if let layer = order.first(where: { owner($0) != owner(groupOf[$0] ?? $0) }) {
            throw SurgeryError.invalidTarget("layer \(layer) is owned by rank \(owner(layer)) but the A factor it shares with \(groupOf[layer] ?? layer) by rank \(owner(groupOf[layer] ?? layer)): assign input groups whole")
        }
        var packed: [Float] = []
        for layer in order {
            let to = owner(layer)
            if groupOf[layer] == layer, let acc = a[layer] {
                try reduceUpper(acc.buffer.pointer, n: acc.n, over: communicator, root: to, packed: &packed)
                if keepOwnedOnly && to != communicator.rank { a[layer] = nil }
            }
            if let acc = g[layer] {
                try reduceUpper(acc.buffer.pointer, n: acc.n, over: communicator, root: to, packed: &packed)
                if keepOwnedOnly && to != communicator.rank { g[layer] = nil }
            }
        }
        if keepOwnedOnly {
            // the layers whose factors left: no A or G of theirs is returned
            order = order.filter { owner($0) == communicator.rank }
        }
    }

    /// Sums the upper triangle of `m` over the ranks into root's `m`: packed row by row into `packed`
    /// (n(n+1)/2 floats), so a reduction moves half the bytes of the square.  m: [n, n]
    private func reduceUpper(_ m: UnsafeMutablePointer<Float>, n: Int, over communicator: Communicator, root: Int,
                             packed: inout [Float]) throws {
        let count = n * (n + 1) / 2
        if packed.count < count { packed = [Float](repeating: 0, count: count) }
        try packed.withUnsafeMutableBufferPointer { b in
            guard let p = b.baseAddress else { return }
            var o = 0
            for i in 0..<n {
                (p + o).update(from: m + i * n + i, count: n - i)
                o += n - i
            }
            try communicator.reduceSum(p, count: count, root: root)
            guard communicator.rank == root else { return }
            o = 0
            for i in 0..<n {
                (m + i * n + i).update(from: p + o, count: n - i)
                o += n - i
            }
        }
    }

    /// Bytes of the accumulators held now (after `reduce(keepOwnedOnly:)`: this rank's layers only).
    var heldBytes: Int {
        a.values.reduce(0) { $0 + 4 * $1.n * $1.n } + g.values.reduce(0) { $0 + 4 * $1.n * $1.n }
    }

    /// The symmetric factors: A per layer (one shared storage per input group) and G per layer.
    /// Each accumulator is released as soon as its tensor exists (peak: the factors plus one matrix).
    func finish() -> (A: [String: Tensor], G: [String: Tensor]) {
        var groupA: [String: Tensor] = [:]
        for name in Array(a.keys) {
            if let acc = a.removeValue(forKey: name) { groupA[name] = symmetricTensor(acc.buffer.pointer, n: acc.n) }
        }
        var A: [String: Tensor] = [:], G: [String: Tensor] = [:]
        for layer in order {
            if let group = groupOf[layer], let t = groupA[group] { A[layer] = t }
        }
        for name in Array(g.keys) {
            if let acc = g.removeValue(forKey: name) { G[name] = symmetricTensor(acc.buffer.pointer, n: acc.n) }
        }
        return (A, G)
    }
}

/// A full symmetric [n, n] tensor from an upper triangle.  upper: [n, n]
func symmetricTensor(_ upper: UnsafePointer<Float>, n: Int) -> Tensor {
    var out = [Float](repeating: 0, count: n * n)
    for i in 0..<n {
        for j in i..<n {
            let v = upper[i * n + j]
            out[i * n + j] = v
            out[j * n + i] = v
        }
    }
    return Tensor(shape: [n, n], data: out)
}

/// c[upper] += alpha · xᵀ·x, in blocks spread over the workers: ssyrk on diagonal blocks, sgemm on the
/// blocks above them (each block of c belongs to one task).  x: [T, n] (row stride ldx); c: [n, n] (stride ldc)
func syrkUpper(_ x: UnsafePointer<Float>, ldx: Int, T: Int, n: Int, alpha: Float, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    if n == 0 || T == 0 { return }
    let blocks = n < 128 || Parallel.threads <= 1 ? 1 : min(2 * Parallel.threads, n / 64)
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
                        1, c + i0 * ldc + i0, Int32(ldc))
        } else {
            sgemm(transA: true, transB: false, M: ni, N: nj, K: T, alpha: alpha, x + i0, lda: ldx, x + j0, ldb: ldx,
                  beta: 1, c + i0 * ldc + j0, ldc: ldc)
        }
    }
}
