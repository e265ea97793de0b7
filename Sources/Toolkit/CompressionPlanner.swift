import CBLAS
import Foundation
import Runtime
import Surgery

/// This machine's speed at the surgery's two kinds of work (FLOP/s), measured in well under a second.
public struct MachineSpeeds: Sendable {
    public var sgemm: Double
    public var float64: Double

    public init(sgemm: Double, float64: Double) {
        self.sgemm = sgemm
        self.float64 = float64
    }

    /// sgemm of a calibration-pass shape ([512, 576] · [576, 1536]) on the workers, and Cholesky
    /// factorizations of 1024 × 1024 float64 matrices, one per worker at once (as costing and updates
    /// run), each repeated for at least `seconds`.
    public static func measure(seconds: Double = 0.25) -> MachineSpeeds {
        let M = 512, K = 576, N = 1536
        let a = [Float](repeating: 0.5, count: M * K), b = [Float](repeating: 0.25, count: K * N)
        var c = [Float](repeating: 0, count: M * N)
        func timed(_ body: () -> Void) -> (Int, Double) {
            body()   // warm-up
            let start = Date()
            var n = 0
            repeat { body(); n += 1 } while Date().timeIntervalSince(start) < seconds
            return (n, Date().timeIntervalSince(start))
        }
        let (ns, ts) = timed {
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                sgemmParallel(transA: false, transB: false, M: M, N: N, K: K, pa.baseAddress!, lda: K, pb.baseAddress!, ldb: N,
                              pc.baseAddress!, ldc: N)
            } } }
        }
        // float64 work runs one layer per worker: a Cholesky per worker at once, at a size between the
        // small and the large layers' factors
        let n = 1024, workers = max(1, Parallel.threads)
        var spd = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { spd[i * n + j] = i == j ? Double(n) : 1 / Double(1 + abs(i - j)) } }
        let (nd, td) = timed {
            Parallel.forEach(workers) { _ in
                var m = spd, info: Int32 = 0, nn = Int32(n), uplo = Int8(UInt8(ascii: "L"))
                dpotrf_(&uplo, &nn, &m, &nn, &info)
            }
        }
        return MachineSpeeds(sgemm: 2 * Double(M * N * K) * Double(ns) / ts,
                             float64: pow(Double(n), 3) / 3 * Double(workers * nd) / td)
    }
}

extension CompressionPlan {
    /// The block linears of a config in model order: shapes by role, biases as the loaders read them,
    /// the A factor on each input group's first layer (its side: inputs, plus 1 with a bias).
    public static func layers(_ c: ModelConfig) -> [Layer] {
        let d = c.architecture.descriptor
        var out: [Layer] = []
        for b in 0..<c.numLayers {
            for (s, slot) in d.linears.enumerated() {
                let (rows, cols): (Int, Int)
                let bias: Bool
                switch slot.role {
                case .attentionQuery: (rows, cols, bias) = (c.qDim, c.hiddenSize, c.attentionBias)
                case .attentionKey, .attentionValue: (rows, cols, bias) = (c.kvDim, c.hiddenSize, c.attentionBias)
                case .attentionOutput: (rows, cols, bias) = (c.hiddenSize, c.qDim, c.attentionBias && c.architecture != .qwen2)
                case .mlpIn: (rows, cols, bias) = (c.intermediateSize, c.hiddenSize, c.mlpBias)
                case .mlpOut: (rows, cols, bias) = (c.hiddenSize, c.intermediateSize, c.mlpBias)
                }
                let leader = d.groupLeader(s) == s
                out.append(Layer(name: d.linearName(block: b, slot: s), rows: rows, cols: cols, bias: bias,
                                 aSide: leader ? cols + (bias ? 1 : 0) : nil, gSide: rows))
            }
        }
        return out
    }

    /// The plan of `recipe` on a model of config `c` held in `dtype`, calibrating on windows of
    /// `seqlen` tokens (`windows` per curvature estimate, `heldOut` more evaluated after each shot).
    public static func make(config c: ModelConfig, recipe: CompressionRecipe, windows: Int, heldOut: Int, seqlen T: Int,
                            dtype: WeightDType, threads: Int, speeds: MachineSpeeds, machineBytes: Int,
                            maxMemory: Int? = nil, storage: FactorStorage = .auto) -> CompressionPlan {
        let ls = layers(c)
        let f = Double(T)
        let linearParams = ls.reduce(0) { $0 + $1.rows * $1.cols }
        let V = c.vocabSize, C = c.hiddenSize
        let embed = V * C * (c.tieEmbeddings ? 1 : 2) + (c.architecture == .opt ? (c.maxPositions + 2) * C : 0)
        let smallFloats = ls.reduce(0) { $0 + ($1.bias ? $1.rows : 0) } + c.numLayers * 4 * C + 2 * C
        let modelBytes = (linearParams + embed) * dtype.size + smallFloats * 4
        let factorBytes = ls.reduce(0) { $0 + layerFactorBytes($1) }
        // one window's tape: per block the saved activations, then the logits and their gradient
        let perBlock = T * (2 * C + 2 * c.qDim + 2 * c.kvDim + 2 * c.intermediateSize + 2) + c.numHeads * T
        let tapeBytes = 4 * (c.numLayers * perBlock + 2 * T * V + 4 * T * max(C, c.intermediateSize))
        // a worker's float64 work on one layer: the layer, its live part and the update (3 copies), two
        // copies of each factor (as read, damped and factorized in place), and its float32 factors as read
        let workerBytes = ls.map(Self.workerBytes).max() ?? 0
        let blockLinearBytes = linearParams * dtype.size
        let snapshotBytes = recipe.isAdaptive ? blockLinearBytes : 0
        let baseline = 150 << 20   // the program, tokenizer, calibration tokens
        // unstructured and 2:4 shots hold every weight's cost (float64) and removal mask (1 byte) for
        // the one global selection
        let elementBytes = recipe.structure != .rowsColumns && !recipe.method.isLayerwise ? 9 * linearParams : 0
        let others = modelBytes + max(tapeBytes, threads * workerBytes + elementBytes) + snapshotBytes + baseline
        let kind = recipe.method.traits.curvature
        let spill = spillEstimate(ls, recipe: recipe, windows: windows, seqlen: T, threads: threads)
        var peak = others + factorBytes, groups = 1, budget: Int?, fits = true
        var stored = FactorPlacement.memory
        // the surgery's memory besides the model's weights: given, or this machine's less a tenth and the model
        let limit = maxMemory ?? (machineBytes > 0 ? machineBytes - machineBytes / 10 - modelBytes : nil)
        if let limit {
            let left = limit - (others - modelBytes)
            let packed = left > 0 ? try? Curvature.packLayerGroups(factorUnits(ls), budget: left) : nil
            fits = packed != nil
            if let g = packed {
                budget = left
                groups = g.count
                var bytesOf: [String: Int] = [:]
                for l in ls { bytesOf[l.name] = layerFactorBytes(l) }
                var largest = 0
                for names in g { largest = max(largest, names.reduce(0) { $0 + (bytesOf[$1] ?? 0) }) }
                peak = others + (groups > 1 ? largest : factorBytes)
                if groups > 1 { stored = .groups }
            }
            // past the budget: one spilling pass instead of one pass per group, when it fits and (auto) costs less
            let extraPasses = Double(max(0, groups - 1) * windows) * passFlopsPerWindow(c, kind: kind, seqlen: T) / max(speeds.sgemm, 1)
            let spillFits = left >= spill.builderBytes && kind != .identity
            let spillWins = packed == nil || spill.seconds(sgemm: speeds.sgemm) < extraPasses
            if spillFits && factorBytes > left && (storage == .spill || (storage == .auto && spillWins)) {
                stored = .spill
                budget = left
                groups = 1
                peak = others + spill.builderBytes
                fits = true
            }
        }

        let forward = forwardFlops(c, seqlen: T)
        let passFlops = Double(groups * windows) * passFlopsPerWindow(c, kind: kind, seqlen: T) + Double(heldOut) * forward
        let sides = ls.reduce(0.0) { $0 + Double(($1.aSide ?? 0) * ($1.aSide ?? 0)) + (kind == .kfac ? Double($1.gSide * $1.gSide) : 0) }
        let factorFlops = kind == .identity ? 0 : stored == .spill ? spill.replayFlops : Double(windows) * f * sides
        let steps = plannedSteps(recipe)
        let step = steps.max() ?? recipe.targetSparsity
        var costing = 0.0, update = 0.0, iterative = 0.0
        let meanTarget = meanShotTarget(steps)
        for l in ls {
            let f = shotFlops(l, recipe: recipe, step: step, meanTarget: meanTarget)
            costing += f.costing
            update += f.update
            iterative += f.iterative
        }
        let perShot = (passFlops + factorFlops) / max(speeds.sgemm, 1) + (costing + update - iterative) / max(speeds.float64, 1)
            + iterative / max(speeds.float64 * Self.iterativeEfficiency, 1)
            + (stored == .spill ? spill.ioSeconds : 0)
        let shots = recipe.method.isLayerwise ? 1 : steps.count
        return CompressionPlan(architecture: c.architecture.rawValue, layers: ls, dtype: dtype, windowsPerShot: windows, seqlen: T,
                               threads: threads, modelBytes: modelBytes, blockLinearBytes: blockLinearBytes, factorBytes: factorBytes,
                               tapeBytes: tapeBytes, workerBytes: threads * workerBytes, snapshotBytes: snapshotBytes, peakBytes: peak,
                               passFlops: passFlops, factorFlops: factorFlops, costingFlops: costing, updateFlops: update, shots: shots,
                               sgemmRate: speeds.sgemm, float64Rate: speeds.float64, secondsPerShot: perShot,
                               seconds: perShot * Double(shots), machineBytes: machineBytes, fits: fits, maxMemory: maxMemory,
                               factorBudget: budget, layerGroups: groups,
                               scratchBytes: stored == .spill ? spill.bytes : groups > 1 ? factorBytes : 0,
                               factorStorage: stored, spillBytes: spill.bytes)
    }

    /// The mean target sparsity an element shot's systems hold over the planned steps (every weight
    /// removed so far is in each shot's systems).
    static func meanShotTarget(_ steps: [Double]) -> Double {
        var reached = 0.0, meanTarget = 0.0
        for s in steps { reached += s; meanTarget += reached / Double(max(1, steps.count)) }
        return meanTarget
    }

    /// Float64 FLOPs of one shot on layer l: costing, the update, and the part of the update done by
    /// conjugate gradients (`iterative`, included in `update`), at the largest step `step`.
    static func shotFlops(_ l: Layer, recipe: CompressionRecipe, step: Double, meanTarget: Double)
        -> (costing: Double, update: Double, iterative: Double) {
        let r = Double(l.rows), k = Double(l.cols + (l.bias ? 1 : 0))
        var costing = 0.0, update = 0.0, iterative = 0.0
        // the surgeon: W·L_A and L_Gᵀ·W (triangular products on the Cholesky factors); kobd/lobd/magnitude: W·A and G·W
        costing += (recipe.method.traits.cost == .obs ? 1 : 2) * r * k * (r + k)
        if recipe.method.traits.cost == .obs || recipe.method.traits.isLayerwise {
            costing += 2.0 / 3 * (pow(r, 3) + pow(k, 3))   // Cholesky and triangular inverse of both factors
        }
        guard recipe.method.traits.updatesWeights else { return (costing, 0, 0) }
        if recipe.structure == .rowsColumns {
            update += (pow(r, 3) + pow(k, 3)) / 3 + 2 * step * (r * r * r + k * k * k) + 2 * r * k * step * (r + k)
        } else {
            // conjugate gradients per entry (GroupSystemCG.swift): its row's block factor m²/3, the
            // norm's row e, and per iteration the Kronecker product 2(k + e/m) and two block solves
            // 4m; the iterations measured on SmolLM2 (~16 a group); then ΔW = Gi[:, P_r]·Y, 2·r·p·k a
            // group, 2·r²·k for all (each row is in one group)
            let e = Double(recipe.groupEntries ?? defaultMaxGroupEntries)
            let entries = meanTarget * r * k, m = max(1, meanTarget * k)
            iterative = entries * (m * m / 3 + e + Self.groupIterations * (2 * (k + e / m) + 4 * m))
            update += 2 * r * r * k + iterative
        }
        return (costing, update, iterative)
    }

    /// The block linears of `c` spread over `ranks` for a distributed run of `recipe`: each input
    /// group whole, weighed by its float64 FLOPs per shot (`shotFlops`: costing and updates, the work
    /// a layer's owner does alone), by the longest-processing-time rule (`LayerOwnership.balanced`).
    public static func ownership(config c: ModelConfig, recipe: CompressionRecipe, ranks: Int) throws -> LayerOwnership {
        let steps = plannedSteps(recipe), ls = layers(c)
        let step = steps.max() ?? recipe.targetSparsity, meanTarget = meanShotTarget(steps)
        var units: [(names: [String], cost: Double)] = []
        for l in ls {
            let f = shotFlops(l, recipe: recipe, step: step, meanTarget: meanTarget)
            if l.aSide == nil, !units.isEmpty {
                units[units.count - 1].names.append(l.name)
                units[units.count - 1].cost += f.costing + f.update
            } else {
                units.append(([l.name], f.costing + f.update))
            }
        }
        return try LayerOwnership.balanced(units: units, ranks: ranks)
    }

    /// A worker's bytes on layer l (see `make`).
    static func workerBytes(_ l: Layer) -> Int {
        let r = l.rows, k = l.cols + 1
        let float64 = 3 * r * k + 2 * r * r + 2 * k * k
        return 8 * float64 + 4 * (r * r + k * k)
    }

    /// FLOPs of one window's forward pass: the block linears and lm_head, and attention's scores and mixing.
    static func forwardFlops(_ c: ModelConfig, seqlen T: Int) -> Double {
        let f = Double(T)
        let linearParams = layers(c).reduce(0) { $0 + $1.rows * $1.cols }
        return 2 * f * Double(linearParams + c.vocabSize * c.hiddenSize) + 2 * f * f * Double(c.qDim * c.numLayers)
    }

    /// FLOPs of one window of a curvature pass: the forward, and for K-FAC the backward (twice the forward).
    static func passFlopsPerWindow(_ c: ModelConfig, kind: CurvatureMethod, seqlen T: Int) -> Double {
        let forward = forwardFlops(c, seqlen: T), f = Double(T)
        return kind == .identity ? 0 : kind == .activations ? forward : 2 * forward + f * f * Double(c.qDim * c.numLayers)
    }

    /// What one spilling pass costs (`Curvature.estimateSpilled`): the rows written (each input group's
    /// inputs, each layer's output gradients k times for k sampled labels), the factor builds (every
    /// linear's A and G, built for costing and again for the update: n²·tokens each), the disk time at
    /// `diskBytesPerSecond` (write once, read per build), and per worker one factor being built and its tensor.
    struct SpillEstimate {
        var bytes: Int
        var replayFlops: Double
        var ioSeconds: Double
        var builderBytes: Int
        func seconds(sgemm: Double) -> Double { ioSeconds + replayFlops / max(sgemm, 1) }
    }

    /// Disk speed the plan assumes for spilled rows (this machine kind measured 300 MB/s writing, 460 reading).
    static let diskBytesPerSecond = 250e6

    static func spillEstimate(_ ls: [Layer], recipe: CompressionRecipe, windows: Int, seqlen T: Int, threads: Int) -> SpillEstimate {
        let kfac = recipe.method.traits.curvature == .kfac
        var k = 1
        if case .sampled(let n, _) = recipe.fisher { k = max(1, n) }
        let tokens = Double(windows * T)
        var inputs = 0, grads = 0, builds = 0.0, read = 0.0, side = 0, maxSide = 0
        for l in ls {
            if let a = l.aSide { side = a; inputs += l.cols }
            grads += kfac ? k * l.rows : 0
            builds += Double(side * side) + (kfac ? Double(k * l.gSide * l.gSide) : 0)
            read += Double(l.cols) + (kfac ? Double(k * l.rows) : 0)
            maxSide = max(maxSide, side, l.gSide)
        }
        let bytes = 4 * windows * T * (inputs + grads)
        let reads = 2.0   // costing and update each build the factors they use
        return SpillEstimate(bytes: bytes, replayFlops: reads * tokens * builds,
                             ioSeconds: (Double(bytes) + reads * 4 * tokens * read) / diskBytesPerSecond,
                             builderBytes: threads * 3 * 4 * maxSide * maxSide)
    }

    /// Bytes of a layer's own factor sums in a pass (its G, and A when it leads its input group):
    /// float64 upper triangles, 4·n(n+1) bytes each (`Curvature.factorBytes`).
    static func layerFactorBytes(_ l: Layer) -> Int {
        factorSumBytes(side: l.aSide ?? 0) + factorSumBytes(side: l.gSide)
    }

    /// The plan's layers as the units layer groups are packed from: each input group whole, its bytes.
    static func factorUnits(_ ls: [Layer]) -> [(names: [String], bytes: Int)] {
        var units: [(names: [String], bytes: Int)] = []
        for l in ls {
            let b = layerFactorBytes(l)
            if l.aSide == nil, !units.isEmpty {
                units[units.count - 1].names.append(l.name)
                units[units.count - 1].bytes += b
            } else {
                units.append(([l.name], b))
            }
        }
        return units
    }

    /// The shot steps a recipe takes when no attempt is undone: linear target/shots each; adaptive
    /// from its first step, growing after every shot, landing on its grid.
    /// Conjugate-gradient iterations of one grouped solve (measured: 15–16 on SmolLM2's layers).
    static let groupIterations = 16.0
    /// Their flops' rate against the float64 Cholesky's (products that stream Ai's rows and small
    /// triangular solves: measured 0.36 on SmolLM2, 2:4 at 10%, 2,000 entries).
    static let iterativeEfficiency = 0.36

    static func plannedSteps(_ r: CompressionRecipe) -> [Double] {
        guard r.isAdaptive, let a = r.adaptive else {
            return Array(repeating: r.targetSparsity / Double(max(1, r.shots)), count: max(1, r.shots))
        }
        var steps: [Double] = [], from = 0.0, step = a.firstStep
        while from < r.targetSparsity * (1 - 1e-9) && steps.count < 10_000 {
            let to = a.shotEnd(from: from, step: step, target: r.targetSparsity)
            steps.append(to - from)
            step = min(a.maxStep, (to - from) * a.growth)
            from = to
        }
        return steps
    }

    /// MemTotal of /proc/meminfo in bytes (0 when it cannot be read).
    public static func machineMemory() -> Int {
        guard let s = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
              let kb = line.split(separator: " ").compactMap({ Int($0) }).first else { return 0 }
        return kb * 1024
    }
}
