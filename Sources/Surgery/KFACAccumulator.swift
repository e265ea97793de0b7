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
/// layers reading the same input, and G += α_G·dyᵀdy from each backward pass. Each window's upper
/// triangle is formed in float32 with ssyrk/sgemm blocks split over the workers and summed in float64
/// (`FactorSum`: the factors do not depend on the order of the windows, hence not on how ranks share
/// them); `finish()` mirrors them into float32 tensors.
final class KFACAccumulator: CurvatureObserver {
    let wantG: Bool
    /// Scales applied to the next observed statistics (1/(N·L), and 1/(N·L·k) for k sampled labels).
    var alphaA: Float = 1
    var alphaG: Float = 1

    private(set) var groupOf: [String: String] = [:]    // layer → the layer whose input it shares
    private(set) var order: [String] = []                 // layers in model order
    private var a: [String: FactorSum] = [:]   // keyed by input group
    private var g: [String: FactorSum] = [:]   // keyed by layer
    private let scratch = Buffer()             // one window's statistic, float32  [n, n]

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
            let sum = accumulator(&a, act.name, n: C + (act.hasBias ? 1 : 0))
            sum.add(windowStatistic(act.input, T: T, C: C, hasBias: act.hasBias, alpha: alphaA, into: scratch))
            return
        }
        guard wantG else { return }
        let sum = accumulator(&g, act.name, n: R)
        sum.add(windowStatistic(dy, T: T, C: R, hasBias: false, alpha: alphaG, into: scratch))
    }

    /// The sum kept under `key`, made (and counted in `bytes`) on first use.
    private func accumulator(_ sums: inout [String: FactorSum], _ key: String, n: Int) -> FactorSum {
        if let s = sums[key] { return s }
        let s = FactorSum(n: n)
        sums[key] = s
        bytes += s.bytes
        return s
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
        for layer in order {
            let to = owner(layer)
            if groupOf[layer] == layer, let sum = a[layer] {
                try communicator.reduceSum(sum.sum, count: sum.count, root: to)
                if keepOwnedOnly && to != communicator.rank { a[layer] = nil }
            }
            if let sum = g[layer] {
                try communicator.reduceSum(sum.sum, count: sum.count, root: to)
                if keepOwnedOnly && to != communicator.rank { g[layer] = nil }
            }
        }
        if keepOwnedOnly {
            // the layers whose factors left: no A or G of theirs is returned
            order = order.filter { owner($0) == communicator.rank }
        }
    }

    /// Bytes of the accumulators held now (after `reduce(keepOwnedOnly:)`: this rank's layers only).
    var heldBytes: Int {
        a.values.reduce(0) { $0 + $1.bytes } + g.values.reduce(0) { $0 + $1.bytes }
    }

    /// The symmetric factors: A per layer (one shared storage per input group) and G per layer.
    /// Each accumulator is released as soon as its tensor exists (peak: the factors plus one matrix).
    func finish() -> (A: [String: Tensor], G: [String: Tensor]) {
        var groupA: [String: Tensor] = [:]
        for name in Array(a.keys) {
            if let sum = a.removeValue(forKey: name) { groupA[name] = sum.tensor() }
        }
        var A: [String: Tensor] = [:], G: [String: Tensor] = [:]
        for layer in order {
            if let group = groupOf[layer], let t = groupA[group] { A[layer] = t }
        }
        for name in Array(g.keys) {
            if let sum = g.removeValue(forKey: name) { G[name] = sum.tensor() }
        }
        return (A, G)
    }
}
