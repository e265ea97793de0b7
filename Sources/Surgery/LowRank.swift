import Foundation
import Runtime

/// Low-rank adapters installed on a model (surgeon.md §7): each chosen linear layer computes with
/// W + M ⊙ (B·A). The model's own training tape runs the forward and backward passes; as a
/// `LinearObserver` this object turns every adapted layer's (x, dy) into the gradients of its A and B,
/// so no gradient of any model parameter is ever formed (no lm_head or embedding gradient either).
public final class LowRankAdapters: LinearObserver {
    public let model: CausalLM
    /// In model order.
    public let adapters: [LowRankAdapter]
    private let byName: [String: LowRankAdapter]

    /// Adapters of rank `rank` on the named layers, with their masks. Each adapter's A is drawn from
    /// its own generator (seed, layer position), so the draw does not depend on which layers are chosen.
    public init(model: CausalLM, masks: [(name: String, mask: AdapterMask)], rank: Int, seed: UInt64) throws {
        guard !masks.isEmpty else { throw SurgeryError.invalidTarget("no layer was chosen for low-rank adapters") }
        let order = Dictionary(model.blockLinearNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var list: [LowRankAdapter] = []
        for (name, mask) in masks {
            guard let lin = model.linear(name) else {
                throw SurgeryError.invalidTarget("the model has no linear layer \(name) to put a low-rank adapter on")
            }
            let R = lin.outFeatures, C = lin.inFeatures
            switch mask {
            case .structure(let rows, let cols):
                guard rows.count == R, cols.count == C else {
                    throw SurgeryError.invalidTarget("adapter mask of \(name) is \(rows.count)×\(cols.count), the layer \(R)×\(C)")
                }
            case .elements(let m):
                guard m.count == R * C else { throw SurgeryError.invalidTarget("adapter mask of \(name) has \(m.count) entries, the layer \(R * C)") }
            }
            var rng = SeededRandom(seed: seed ^ (UInt64(order[name] ?? list.count) &+ 1) &* 0x9E37_79B9_7F4A_7C15)
            list.append(LowRankAdapter(name: name, weight: lin.denseWeight.data, rows: R, cols: C, rank: rank, mask: mask, rng: &rng))
        }
        self.model = model
        adapters = list
        byName = Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Writes every adapted layer's W + M ⊙ (B·A) into the model (its bias is left as it is).
    /// After training this is the merge: the entries outside the mask keep the base values exactly.
    public func install() throws {
        for ad in adapters {
            guard var lin = model.linear(ad.name) else { continue }
            let w = ad.effectiveWeight()
            guard w.allSatisfy({ $0.isFinite }) else { throw SurgeryError.nonFiniteWeights(layer: ad.name) }
            lin.setDense(Tensor(shape: [ad.rows, ad.cols], data: w))
            model.setLinear(ad.name, lin)
        }
    }

    public func zeroGradients() { for ad in adapters { ad.zeroGradients() } }

    /// Forward and backward of one window with the installed weights (call `install()` first):
    /// adds d loss / dA and d loss / dB of every adapter and returns the mean next-token loss.
    public func accumulateGradients(tokens: [Int32], tape: TrainingTape) throws -> Double {
        try tape.forward(tokens, observer: nil)
        return try tape.backward(labels: .given(nextTokenTargets(tokens)), observer: self, gradients: nil)
    }

    public func observe(_ act: LinearActivity) {
        guard let dy = act.outputGradient, let ad = byName[act.name] else { return }
        ad.accumulate(x: act.input, dy: dy, T: act.tokens)
    }
}

/// Trains fresh adapters with Adam on calibration windows and merges them (one phase of §7).
public struct LowRankTrainer {
    public let recipe: LowRankRecipe
    public var log: (String) -> Void = { _ in }

    public init(recipe: LowRankRecipe) { self.recipe = recipe }

    /// `steps` windows drawn without replacement from 0..<count (a new shuffle whenever they run out).
    public static func subset(count: Int, steps: Int, seed: UInt64) -> [Int] {
        var rng = SeededRandom(seed: seed)
        var out: [Int] = []
        while out.count < steps && count > 0 { out += shuffled(count, &rng).prefix(steps - out.count) }
        return out
    }

    /// `epochs` passes over 0..<count, each in its own seeded random order.
    public static func epochs(count: Int, epochs: Int, seed: UInt64) -> [Int] {
        var rng = SeededRandom(seed: seed)
        return (0..<epochs).flatMap { _ in shuffled(count, &rng) }
    }

    static func shuffled(_ n: Int, _ rng: inout SeededRandom) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            p.swapAt(i, CalibrationWindows.uniformInt(upTo: i, &rng))
        }
        return p
    }

    /// Trains rank-`recipe.rank` adapters (masks given) for one step per entry of `order` (window
    /// indices), `epochLength` steps per epoch, with Adam at a rate decaying linearly from
    /// `recipe.learningRate` to 0 over the phase; then merges B·A into the weights (re-masked).
    public func run(model: CausalLM, windows: [[Int32]], order: [Int], epochLength: Int,
                    masks: [(name: String, mask: AdapterMask)], seed: UInt64, label: String) throws -> LowRankPhaseReport {
        let start = now()
        guard !order.isEmpty else { throw SurgeryError.noCalibrationData("\(label): no calibration window to train on") }
        if let bad = order.first(where: { $0 < 0 || $0 >= windows.count }) {
            throw SurgeryError.noCalibrationData("\(label): window \(bad) does not exist (\(windows.count) windows)")
        }
        if let i = order.first(where: { windows[$0].count < 2 }) {
            throw SurgeryError.noCalibrationData("\(label): calibration window \(i) has fewer than 2 tokens; nothing to predict")
        }
        let set = try LowRankAdapters(model: model, masks: masks, rank: recipe.rank, seed: seed)
        var adamA = set.adapters.map { Adam(count: $0.a.count) }
        var adamB = set.adapters.map { Adam(count: $0.b.count) }
        let schedule = LinearDecay(base: recipe.learningRate, total: order.count)
        let tape = model.makeTrainingTape()
        let perEpoch = max(1, epochLength)
        var epochLosses: [Double] = [], epochSum = 0.0, epochCount = 0, firstLoss = 0.0
        var epochStart = now()
        for (step, w) in order.enumerated() {
            try set.install()
            set.zeroGradients()
            let loss = try set.accumulateGradients(tokens: windows[w], tape: tape)
            guard loss.isFinite else {
                throw SurgeryError.nonFiniteWeights(layer: "\(label): the training loss is \(loss) at step \(step + 1); lower the low-rank learning rate (lowrank learning_rate)")
            }
            if step == 0 { firstLoss = loss }
            let lr = schedule.rate(at: step)
            for (i, ad) in set.adapters.enumerated() {
                adamA[i].step(&ad.a, gradient: ad.gradA, lr: lr)
                adamB[i].step(&ad.b, gradient: ad.gradB, lr: lr)
                ad.maskParameters()
            }
            epochSum += loss
            epochCount += 1
            if order.count <= 16 {
                log(String(format: "%@: step %d/%d (window %d), loss %.4f, lr %.2e", label, step + 1, order.count, w, loss, lr))
            }
            if epochCount == perEpoch || step == order.count - 1 {
                epochLosses.append(epochSum / Double(epochCount))
                if order.count > 16 {
                    log(String(format: "%@: epoch %d (%d steps), mean loss %.4f, %.1f s", label, epochLosses.count, epochCount,
                               epochSum / Double(epochCount), now() - epochStart))
                }
                epochSum = 0
                epochCount = 0
                epochStart = now()
            }
        }
        try set.install()   // the merge: W + M ⊙ (B·A), entries outside the mask unchanged
        return LowRankPhaseReport(steps: order.count, epochs: epochLosses.count, layers: set.adapters.count,
                                  firstLoss: firstLoss, epochLosses: epochLosses, seconds: now() - start)
    }
}
