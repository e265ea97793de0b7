import Foundation
import Runtime
import Surgery

/// What can go wrong reading the inputs of a report. Each case names the path and says what to do;
/// the CLI adds the flag that gave the path.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    /// The directory has no compression.json: it is not an output of `compress`.
    case notAnOutput(String)
    /// A file that is there but does not decode (path, what is wrong).
    case corrupt(String, String)
    /// compression.json names an architecture this build does not know.
    case unknownArchitecture(String, String)
    /// A number in a file outside the range a report can draw (path, what, value).
    case outOfRange(String, String, Int)
    case noOutputs
    /// Two outputs that are one directory.
    case duplicateOutput(String)

    public var description: String {
        switch self {
        case .notAnOutput(let p):
            return "\(p) has no compression.json: give an output directory written by compress"
        case .corrupt(let p, let detail):
            return "\(p) is not a valid report input (\(detail)); give a file written by surgeon"
        case .unknownArchitecture(let p, let a):
            return "\(p) names architecture \"\(a)\", which this build does not know (\(Architecture.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .outOfRange(let p, let what, let v):
            return "\(p): \(what) \(v) is out of range; the file is damaged"
        case .noOutputs:
            return "give at least one compressed output directory"
        case .duplicateOutput(let p):
            return "\(p) is given twice; give each output once"
        }
    }
}

/// Kept attention sizes of one output, per block and kv group (from the model's compact plans).
public struct HeadDims: Sendable, Equatable {
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// Per block, per kv group: kept q·k and value dimensions (a block without a compact plan keeps all).
    public var qk: [[Int]]
    public var v: [[Int]]
    /// Whether any block runs compact attention.
    public var anyCompact: Bool

    public init(model lm: CausalLM) {
        let c = lm.config
        heads = c.numHeads
        kvHeads = c.numKVHeads
        headDim = c.headDim
        let layouts = lm.attentionLayouts
        qk = layouts.map { l in l.map { $0.qkIndex.map(\.count) } ?? Array(repeating: c.headDim, count: c.numKVHeads) }
        v = layouts.map { l in l.map { $0.vIndex.map(\.count) } ?? Array(repeating: c.headDim, count: c.numKVHeads) }
        anyCompact = layouts.contains { $0 != nil }
    }

    public init(heads: Int, kvHeads: Int, headDim: Int, qk: [[Int]], v: [[Int]], anyCompact: Bool) {
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.qk = qk
        self.v = v
        self.anyCompact = anyCompact
    }
}

/// One compressed output as a report shows it.
public struct ReportedOutput: Sendable {
    /// Short name in legends: the directory's last component (made unique by the page).
    public var name: String
    public var path: String
    public var compression: CompressionReport
    public var descriptor: ArchitectureDescriptor
    /// nil when the model was not loaded (the heads figure then leaves this output out).
    public var heads: HeadDims?

    /// Largest number of blocks a report draws (a name with a larger index is a damaged file).
    static let maxBlocks = 4096

    public init(name: String, path: String, compression: CompressionReport, heads: HeadDims?) throws {
        guard let arch = Architecture(rawValue: compression.architecture) else {
            throw ReportError.unknownArchitecture(path + "/compression.json", compression.architecture)
        }
        for l in compression.layers {
            if let b = arch.descriptor.parseLinear(l.name)?.block, b >= Self.maxBlocks {
                throw ReportError.outOfRange(path + "/compression.json", "block index of \(l.name)", b)
            }
            guard l.shape.count == 2 else {
                throw ReportError.outOfRange(path + "/compression.json", "number of shape dimensions of \(l.name)", l.shape.count)
            }
            for d in l.shape where d < 0 || d > ModelConfig.maxDimension {
                throw ReportError.outOfRange(path + "/compression.json", "shape of \(l.name)", d)
            }
            if l.shape[0] * l.shape[1] > ModelConfig.maxTensorElements {
                throw ReportError.outOfRange(path + "/compression.json", "parameter count of \(l.name)", l.shape[0] * l.shape[1])
            }
            if let b = l.bytes, b < 0 || b > 1 << 50 {
                throw ReportError.outOfRange(path + "/compression.json", "bytes of \(l.name)", b)
            }
        }
        self.name = name
        self.path = path
        self.compression = compression
        self.descriptor = arch.descriptor
        self.heads = heads
    }

    /// Reads `dir/compression.json` and, when `loadModel` is set, the model in `dir` for the kept
    /// attention sizes.
    public static func load(_ dir: String, loadModel load: Bool = true) throws -> ReportedOutput {
        let file = (dir as NSString).appendingPathComponent("compression.json")
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDir), !isDir.boolValue else {
            throw ReportError.notAnOutput(dir)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let report: CompressionReport
        do {
            report = try JSONDecoder().decode(CompressionReport.self, from: data)
        } catch let e as DecodingError {
            throw ReportError.corrupt(file, decodingDetail(e))
        }
        let heads = load ? HeadDims(model: try loadModel(ModelFiles.open(dir))) : nil
        let name = ((dir as NSString).standardizingPath as NSString).lastPathComponent
        return try ReportedOutput(name: name, path: dir, compression: report, heads: heads)
    }

    /// "method structure" as legends label the output, e.g. "surgeon rows-columns".
    public var label: String { "\(compression.recipe.method.rawValue) \(compression.recipe.structure.rawValue)" }

    /// Number of blocks drawn: one past the largest block index among the layers.
    var blocks: Int { (compression.layers.compactMap { descriptor.parseLinear($0.name)?.block }.max() ?? -1) + 1 }

    /// Bytes of the block linears as stored (layers without a recorded size count as dense).
    var linearBytes: Int { compression.layers.reduce(0) { $0 + ($1.bytes ?? Self.denseBytes($1)) } }
    /// Bytes of the block linears as dense float32.
    var linearDenseBytes: Int { compression.layers.reduce(0) { $0 + Self.denseBytes($1) } }

    static func denseBytes(_ l: LayerReport) -> Int {
        guard l.shape.count == 2 else { return 0 }
        return 4 * (l.shape[0] * l.shape[1] + (l.bias ? l.shape[0] : 0))
    }
}

/// The bench file of a report (`surgeon bench -o json`).
public func readBenchReport(_ path: String) throws -> BenchReport {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    do {
        let b = try JSONDecoder().decode(BenchReport.self, from: data)
        for r in b.rows where !r.tpsMean.isFinite || r.tpsMean < 0 || r.bytes < 0 {
            throw ReportError.corrupt(path, "the row of \(r.model) \(r.test) has a negative or non-finite value")
        }
        return b
    } catch let e as DecodingError {
        throw ReportError.corrupt(path, decodingDetail(e))
    }
}

/// "missing key recipe", "bad value at shots.0.actual_sparsity: ...": what a decoder refused, briefly.
func decodingDetail(_ e: DecodingError) -> String {
    func path(_ c: [any CodingKey]) -> String { c.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
    switch e {
    case .keyNotFound(let k, let c): return "missing key \(path(c.codingPath + [k]))"
    case .typeMismatch(_, let c), .valueNotFound(_, let c):
        return "wrong type at \(path(c.codingPath).isEmpty ? "top level" : path(c.codingPath))"
    case .dataCorrupted(let c):
        let p = path(c.codingPath)
        return p.isEmpty ? "not JSON" : "bad value at \(p): \(c.debugDescription)"
    @unknown default: return "\(e)"
    }
}
