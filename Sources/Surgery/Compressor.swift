import Foundation
import Runtime

/// Where a compression run stands: shots done and the structures removed so far (resumable).
public struct CompressionState: Codable, Sendable, Equatable {
    public var completedShots = 0
    public var removedRows: [String: [Int]] = [:]
    public var removedCols: [String: [Int]] = [:]
    public var shots: [ShotReport] = []
    /// Held-out losses so far (runs with held-out windows; measured before the first shot).
    public var heldOut: HeldOutLosses?
    /// The adaptive schedule's step, reached target and attempts (adaptive runs).
    public var adaptive: AdaptiveState?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case shots, adaptive
        case completedShots = "completed_shots", removedRows = "removed_rows", removedCols = "removed_cols", heldOut = "held_out"
    }
}

/// The multi-shot driver (surgeon.md §6): at shot t of T the target is t·s/T; the curvature is
/// recomputed on the current model, every layer's structures are costed, one global threshold
/// picks what to remove, and the surviving weights are updated and re-masked.
public final class Compressor {
    public let model: CausalLM
    /// What the run does (validated on init); compression.json and checkpoints record it.
    public let recipe: CompressionRecipe
    public let calibration: Calibration?
    public internal(set) var state: CompressionState
    /// Optional evaluation after each shot (e.g. perplexity on a few segments).
    public var evaluate: ((CausalLM) throws -> Double)?
    /// Evaluate after every k-th shot only (and always after the last).
    public var evaluateEvery = 1
    /// Progress messages (curvature windows, layers).
    public var log: (String) -> Void = { _ in }
    /// Progress of the curvature pass of a shot: (window, windows).
    public var curvatureProgress: ((Int, Int) -> Void)?
    /// The curvature of the last shot, kept by adaptive runs: a rejected shot is undone to the model
    /// it was measured on, so its retry reuses it (`reuseCurvature`).
    var lastCurvature: KFACFactors?
    var reuseCurvature = false
    /// Bytes the K-FAC factors may take (nil: no limit). Past it the curvature pass runs per group
    /// of layers and keeps the factors in `scratchDirectory` (`Curvature.estimateInGroups`), or with
    /// `spillFactors` runs once and spills the factors' rows there (`Curvature.estimateSpilled`).
    public var factorBudget: Int?
    public var spillFactors = false
    /// Where grouped or spilled passes keep their data (nil: a directory in the system's temporary directory).
    public var scratchDirectory: String?
    private var createdScratch: String?
    /// The ranks of a distributed run and which of them owns each layer (`distribute`).
    public internal(set) var communicator: Communicator = SingleProcess()
    public internal(set) var ownership: LayerOwnership?

    deinit {
        if let createdScratch { try? FileManager.default.removeItem(atPath: createdScratch) }
    }

    public var method: PruningMethod { recipe.method }
    public var structure: Structure { recipe.structure }
    public var updates: UpdateMode { recipe.updates }
    public var labels: FisherLabels { recipe.fisher }

    /// A run of `recipe` on `model`, continuing from `state`. Refuses an invalid recipe, a method or
    /// low-rank correction that needs calibration windows without them, and 2:4 on layers whose
    /// input count is not a multiple of 4.
    public init(model: CausalLM, recipe: CompressionRecipe, calibration: Calibration?,
                state: CompressionState = CompressionState()) throws {
        self.model = model
        self.recipe = recipe
        self.calibration = calibration
        self.state = state
        try recipe.validate()
        try state.validate(model: model, shots: recipe.maxShots)
        if recipe.method.needsData && calibration == nil {
            throw SurgeryError.noCalibrationData("method \(recipe.method.rawValue) needs calibration windows")
        }
        if recipe.lowrank != nil && calibration == nil {
            throw SurgeryError.noCalibrationData("the low-rank correction trains on calibration windows")
        }
        try Compressor.checkElementShapes(model: model, structure: recipe.structure)
    }

    /// The recipe field by field (tests and callers without a recipe at hand).
    public convenience init(model: CausalLM, method: PruningMethod, structure: Structure, targetSparsity: Double, shots: Int,
                            dampG: Double, dampA: Double, updates: UpdateMode = .joint, labels: FisherLabels = .empirical,
                            calibration: Calibration?, calibrationRecord: CalibrationRecord? = nil, lowRank: LowRankRecipe? = nil,
                            groupEntries: Int? = nil, state: CompressionState = CompressionState()) throws {
        try self.init(model: model,
                      recipe: CompressionRecipe(method: method, structure: structure, targetSparsity: targetSparsity, shots: shots,
                                                dampG: dampG, dampA: dampA, updates: updates, fisher: labels,
                                                calibration: calibrationRecord, lowrank: lowRank, groupEntries: groupEntries),
                      calibration: calibration, state: state)
    }

    /// The layers compression works on, in model order.
    public var layerNames: [String] { model.blockLinearNames }

    /// Runs the remaining shots; `afterShot` sees each accepted shot's report and the state (for
    /// checkpoints). With held-out windows their loss is measured before the first shot and after each.
    public func run(afterShot: (ShotReport, CompressionState) throws -> Void = { _, _ in }) throws {
        if state.heldOut == nil, let dense = try heldOutLoss() {
            state.heldOut = HeldOutLosses(dense: dense, current: dense)
            log(String(format: "held-out loss before: %.4f (%d windows)", dense, calibration?.heldOut.count ?? 0))
        }
        if recipe.isAdaptive { return try runAdaptive(afterShot: afterShot) }
        while state.completedShots < recipe.shots {
            let report = try runShot(state.completedShots + 1)
            try afterShot(report, state)
        }
    }

    /// Mean next-token loss of the current model on the held-out windows (nil without any).
    /// Measured on rank 0 only in a distributed run (the other ranks return nil).
    public func heldOutLoss() throws -> Double? {
        guard communicator.isRoot, let windows = calibration?.heldOut, !windows.isEmpty else { return nil }
        return try meanWindowLoss(model: model, windows: windows)
    }

    /// The final check against the recipe's bound on the held-out loss rise (nil without a bound
    /// or held-out windows).
    public var guardVerdict: GuardVerdict? {
        guard let bound = recipe.maxLossRise, let losses = state.heldOut else { return nil }
        return GuardVerdict(rise: losses.rise, bound: bound)
    }

    /// Curvature for this method on the current model (nil for the identity: nothing to estimate).
    func estimateCurvature() throws -> KFACFactors? {
        let kind = method.traits.curvature
        if kind == .identity { return nil }
        if reuseCurvature, let last = lastCurvature { return last }
        // the previous estimate and the rest of the last shot are garbage now: free them before
        // the new factors are accumulated (held on, the adaptive schedule's peak held two sets),
        // and hand their pages back (README recipe, 3 shots: 2838 MiB peak with them resident)
        lastCurvature = nil
        HeapPolicy.releaseFreePages()
        guard let all = calibration else { throw SurgeryError.noCalibrationData("no calibration windows") }
        // the k-th estimate of the run (one per kept shot) reads the k-th block of windows
        let calibration = try all.rotation(state.completedShots, count: recipe.curvatureWindows ?? all.windows.count)
        let start = now()
        let needed = Curvature.factorBytes(model: model, method: kind).reduce(0) { $0 + $1.bytes }
        let factors: KFACFactors
        if isDistributed {
            if let budget = factorBudget, needed > budget {
                throw SurgeryError.invalidTarget("the K-FAC factors need \(needed) bytes, past the budget of \(budget): per-group and spilled passes do not run across MPI ranks yet; allow more memory or run as one process")
            }
            factors = try Curvature.estimate(model: model, calibration: calibration, method: kind, labels: labels,
                                             communicator: communicator, ownership: ownership, progress: curvatureProgress)
            var held = [Double](repeating: 0, count: communicator.size)
            held[communicator.rank] = Double(factors.metadata["held_bytes"] ?? "") ?? 0
            try communicator.allReduceSum(&held)
            let mib = held.map { String(format: "%.1f", $0 / 1048576) }.joined(separator: ", ")
            log(String(format: "curvature: factors held per rank after the reduction: %@ MiB (all layers: %.1f MiB)", mib, Double(needed) / 1048576))
        } else if let budget = factorBudget, needed > budget {
            let dir = scratchDirectory ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("surgeon-factors-\(getpid())-\(ObjectIdentifier(self).hashValue)")
            createdScratch = dir
            if spillFactors {
                factors = try Curvature.estimateSpilled(model: model, calibration: calibration, method: kind, labels: labels,
                                                        directory: dir, progress: curvatureProgress)
                log("curvature: one pass, \(factors.spilled?.bytes ?? 0) bytes of activations spilled; factors built per layer")
            } else {
                factors = try Curvature.estimateInGroups(model: model, calibration: calibration, method: kind, labels: labels, budget: budget,
                                                         directory: dir, log: log, progress: curvatureProgress)
            }
        } else {
            factors = try Curvature.estimate(model: model, calibration: calibration, method: kind, labels: labels,
                                             progress: curvatureProgress)
        }
        log(String(format: "curvature: %d of %d windows in %.1f s", calibration.windows.count, all.windows.count, now() - start))
        lastCurvature = recipe.isAdaptive ? factors : nil
        return factors
    }

    public func runShot(_ t: Int) throws -> ShotReport {
        let start = now()
        // layer-wise methods (sparsegpt, wanda) are one-shot: one pass at the full target completes the run
        let target = method.isLayerwise ? recipe.targetSparsity : recipe.targetSparsity * Double(t) / Double(recipe.shots)
        let threshold = try prune(to: target)
        let isLast = method.isLayerwise || t == recipe.shots
        let corrections = try lowRankCorrection(shot: t, isLast: isLast)
        var report = ShotReport(shot: t, targetSparsity: target, actualSparsity: actualSparsity(), seconds: 0,
                                threshold: threshold?.isFinite == true ? threshold : nil, perplexity: nil, lowrank: corrections.shot, lowrankFinal: corrections.final)
        report.seconds = now() - start
        if let evaluate, t % max(1, evaluateEvery) == 0 || t == recipe.shots { report.perplexity = try evaluate(model) }
        if let loss = try heldOutLoss() {
            report.heldOutLoss = loss
            state.heldOut?.current = loss
        }
        state.completedShots = method.isLayerwise ? recipe.shots : t
        state.shots.append(report)
        return report
    }

    /// Prunes the current model to `target` (structured or element shot); returns the threshold.
    func prune(to target: Double) throws -> Double? {
        switch structure {
        case .rowsColumns: return try structuredShot(target: target)
        case .unstructured, .twoFour: return try elementShot(target: target)
        }
    }

    /// Fraction of zeros over the pruned layers (weights and biases).
    public func actualSparsity() -> Double {
        var zeros = 0, total = 0
        for name in layerNames {
            guard let l = model.linear(name) else { continue }
            zeros += l.zeroCount
            total += l.outFeatures * l.inFeatures + (l.bias?.count ?? 0)
        }
        return total > 0 ? Double(zeros) / Double(total) : 0
    }

    /// compression.json for the current state.
    public func report(source: String) -> CompressionReport {
        let layers = layerNames.compactMap { name -> LayerReport? in
            guard let l = model.linear(name) else { return nil }
            let n = l.outFeatures * l.inFeatures + (l.bias?.count ?? 0)
            return LayerReport(name: name, shape: [l.outFeatures, l.inFeatures], bias: l.bias != nil,
                               removedRows: state.removedRows[name] ?? [], removedCols: state.removedCols[name] ?? [],
                               sparsity: Double(l.zeroCount) / Double(max(n, 1)), storage: l.storageKind.rawValue,
                               bytes: l.storageBytes)
        }
        return CompressionReport(source: source, architecture: model.config.architecture.rawValue, recipe: recipe,
                                 shots: state.shots, actualSparsity: actualSparsity(), layers: layers, heldOut: state.heldOut,
                                 attempts: state.adaptive?.attempts, guardVerdict: guardVerdict)
    }
}

/// A float32 factor as float64, checked for NaN/Inf.
func doubleFactor(_ t: Tensor?, layer: String) throws -> [Double]? {
    guard let t else { return nil }
    var out = [Double](repeating: 0, count: t.count)
    for i in 0..<t.count {
        let v = t.data[i]
        guard v.isFinite else { throw SurgeryError.nonFiniteCurvature(layer: layer) }
        out[i] = Double(v)
    }
    return out
}
