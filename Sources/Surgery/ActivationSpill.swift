import Foundation
import Runtime

/// K-FAC factors from one calibration pass when they do not fit in memory, the other way round from
/// layer groups (`GroupedCurvature.swift`): the pass writes what the factors are made of — each input
/// group's inputs x: [T, C] and each layer's output gradients dy: [T, R], window after window — to
/// scratch files, and a layer's factor is built when it is asked for (`KFACFactors.a(_:)`/`g(_:)`) by
/// replaying its windows through the same `windowStatistic` and `FactorSum` with the same scales:
/// bit for bit the factor of `Curvature.estimate`. Memory: the model, one window's tape, and one
/// factor per worker being built (its float32 window, float64 sum and float32 result:
/// three squares' bytes); disk: windows · tokens · Σ widths · 4 bytes; time: one pass, then
/// each factor build reads its file (n²·tokens flops per build, a build per consumer).
public struct SpilledActivations: Sendable {
    /// One window's (or one sampled backward's) rows in a stream file, and the scale they enter with.
    struct Chunk: Sendable {
        var tokens: Int
        var alpha: Float
    }

    /// The rows of one statistic: inputs of an input group (A) or output gradients of a layer (G).
    struct Stream: Sendable {
        var path: String
        var width: Int
        var hasBias: Bool
        var chunks: [Chunk] = []
    }

    var inputs: [String: Stream] = [:]        // by input group (its first layer)
    var gradients: [String: Stream] = [:]     // by layer
    var groupOf: [String: String] = [:]       // layer → its input group
    /// Windows of the pass (for messages).
    var windows = 0
    /// Bytes written to the scratch files.
    public internal(set) var bytes = 0

    /// The A factor of `layer` (nil when the pass saw no input of it).  A: [C(+1), C(+1)]
    func a(_ layer: String) throws -> Tensor? {
        guard let group = groupOf[layer], let s = inputs[group] else { return nil }
        return try build(s, kind: "A", layer: layer)
    }

    /// The G factor of `layer` (nil when the pass kept no gradient of it).  G: [R, R]
    func g(_ layer: String) throws -> Tensor? {
        guard let s = gradients[layer] else { return nil }
        return try build(s, kind: "G", layer: layer)
    }

    /// Σ over chunks of α·[x 1]ᵀ[x 1] (the 1 only with a bias), upper triangle first, as
    /// `KFACAccumulator.observe` accumulates it; then mirrored and checked finite.
    private func build(_ s: Stream, kind: String, layer: String) throws -> Tensor {
        let C = s.width, n = C + (s.hasBias ? 1 : 0)
        guard let file = fopen(s.path, "rb") else { throw SpillError.unreadable(path: s.path, errno: errno) }
        defer { fclose(file) }
        let sum = FactorSum(n: n), scratch = Buffer(n * n)
        let rows = Buffer(max(1, (s.chunks.map(\.tokens).max() ?? 0) * C))
        for chunk in s.chunks {
            let T = chunk.tokens
            guard fread(rows.pointer, 4, T * C, file) == T * C else { throw SpillError.unreadable(path: s.path, errno: errno) }
            sum.add(windowStatistic(rows.pointer, T: T, C: C, hasBias: s.hasBias, alpha: chunk.alpha, into: scratch))
        }
        let t = sum.tensor()
        try t.data.withUnsafeBufferPointer { b in
            guard let p = b.baseAddress else { return }
            try checkFinite(p, count: b.count, rowLength: b.count) { _ in .factor(kind, layer: layer, windows: windows) }
        }
        return t
    }
}

public enum SpillError: Error, CustomStringConvertible, Equatable {
    case unwritable(path: String, errno: Int32)
    case unreadable(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .unwritable(let p, let e):
            return "cannot write the curvature scratch file \(p): \(String(cString: strerror(e))) — free disk space there or raise the memory limit"
        case .unreadable(let p, let e):
            return "cannot read back the curvature scratch file \(p): \(String(cString: strerror(e))) (was it removed while the run went on?)"
        }
    }
}

/// The observer of a spilling pass: appends each input group's x (forward) and each layer's dy
/// (backward) to its stream file. `observe` cannot throw: the first write error is kept and thrown
/// by `finish()`.
final class ActivationSpill: CurvatureObserver {
    let wantG: Bool
    let directory: String
    var alphaA: Float = 1
    var alphaG: Float = 1
    private var out = SpilledActivations()
    private var files: [String: UnsafeMutablePointer<FILE>] = [:]   // by stream path
    private var failure: SpillError?

    init(wantG: Bool, directory: String) {
        self.wantG = wantG
        self.directory = directory
    }

    deinit { for f in files.values { fclose(f) } }

    func observe(_ act: LinearActivity) {
        let T = act.tokens, C = act.inFeatures, R = act.outFeatures
        guard failure == nil else { return }
        guard let dy = act.outputGradient else {
            out.groupOf[act.name] = act.inputGroup
            guard act.name == act.inputGroup else { return }
            if let s = append(out.inputs[act.name], prefix: "x", index: out.inputs.count, rows: act.input, tokens: T, width: C,
                              hasBias: act.hasBias, alpha: alphaA) { out.inputs[act.name] = s }
            return
        }
        guard wantG else { return }
        if let s = append(out.gradients[act.name], prefix: "dy", index: out.gradients.count, rows: dy, tokens: T, width: R,
                          hasBias: false, alpha: alphaG) { out.gradients[act.name] = s }
    }

    /// `stream` (a new one numbered `index` when nil) with T rows appended to its file, or nil after
    /// a write error (kept in `failure`).
    private func append(_ stream: SpilledActivations.Stream?, prefix: String, index: Int, rows: UnsafePointer<Float>,
                        tokens T: Int, width: Int, hasBias: Bool, alpha: Float) -> SpilledActivations.Stream? {
        var s = stream ?? SpilledActivations.Stream(
            path: (directory as NSString).appendingPathComponent("\(prefix)-\(index).f32"), width: width, hasBias: hasBias)
        let file: UnsafeMutablePointer<FILE>
        if let f = files[s.path] {
            file = f
        } else {
            guard let f = fopen(s.path, "wb") else { failure = .unwritable(path: s.path, errno: errno); return nil }
            files[s.path] = f
            file = f
        }
        guard fwrite(rows, 4, T * width, file) == T * width else { failure = .unwritable(path: s.path, errno: errno); return nil }
        s.chunks.append(.init(tokens: T, alpha: alpha))
        out.bytes += 4 * T * width
        return s
    }

    /// Closes the files (flushing them) and returns the index of what was written.
    func finish(windows: Int) throws -> SpilledActivations {
        for (path, f) in files where fclose(f) != 0 { failure = failure ?? .unwritable(path: path, errno: errno) }
        files = [:]
        if let failure { throw failure }
        out.windows = windows
        return out
    }
}

extension Curvature {
    /// The factors of every layer from one calibration pass that spills their rows to `directory`
    /// (created when missing); each factor is built when `a(_:)`/`g(_:)` asks for it.
    public static func estimateSpilled(model: CausalLM, calibration: Calibration, method: CurvatureMethod,
                                       labels: FisherLabels = .empirical, directory: String,
                                       progress: ((Int, Int) -> Void)? = nil) throws -> KFACFactors {
        guard method != .identity else { return try estimate(model: model, calibration: calibration, method: method, labels: labels) }
        if case .sampled(let k, _) = labels, k < 1 { throw CurvatureError.invalidSampleCount(k) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let spill = ActivationSpill(wantG: method == .kfac, directory: directory)
        let loss = try pass(model: model, calibration: calibration, method: method, labels: labels, observer: spill, progress: progress)
        let index = try spill.finish(windows: calibration.windows.count)
        var meta = passMetadata(calibration: calibration, labels: labels)
        meta["spilled_bytes"] = String(index.bytes)
        if let loss { meta["mean_loss"] = String(loss) }
        var out = KFACFactors(method: method, A: [:], G: [:], tokens: calibration.tokenCount, metadata: meta)
        out.spilled = index
        return out
    }
}
