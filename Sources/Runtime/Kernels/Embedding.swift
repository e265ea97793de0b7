/// A token embedding table [V, C] held in a dense storage of the model's weight type (float32,
/// f16 or bf16), so a tied lm_head shares it (`Linear(weight: table.storage)`, one copy).
public struct EmbeddingTable: Sendable {
    enum Rows: Sendable {
        case f32(DenseStorage), f16(Dense16Storage<F16>), bf16(Dense16Storage<BF16>)
    }
    let rowsOf: Rows
    /// The table as a dense linear storage [V, C].
    public var storage: any LinearStorage {
        switch rowsOf {
        case .f32(let s): return s
        case .f16(let s): return s
        case .bf16(let s): return s
        }
    }
    public var rows: Int { storage.rows }
    public var cols: Int { storage.cols }
    /// The table as float32: [V, C].
    public var values: [Float] { storage.dense() }
    public var dtype: WeightDType {
        switch rowsOf {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        }
    }

    /// A table over a dense storage of any type; nil for other storages.
    public init?(storage: any LinearStorage) {
        if let s = storage as? DenseStorage { rowsOf = .f32(s) }
        else if let s = storage as? Dense16Storage<F16> { rowsOf = .f16(s) }
        else if let s = storage as? Dense16Storage<BF16> { rowsOf = .bf16(s) }
        else { return nil }
    }

    /// A float32 table.  values: [V, C]
    public init(rows: Int, cols: Int, values: [Float]) {
        rowsOf = .f32(DenseStorage(rows: rows, cols: cols, values: values))
    }

    /// Tensor `name` [rows, cols] in the source's weight type (`WeightSource.weightDType`), kept
    /// as stored when the types match.
    public init(loading w: WeightSource, name: String, rows: Int, cols: Int) throws {
        switch w.weightDType {
        case .f32: rowsOf = .f32(try DenseStorage.load(from: w, weight: name, rows: rows, cols: cols))
        case .f16: rowsOf = .f16(try Dense16Storage<F16>.load(from: w, weight: name, rows: rows, cols: cols))
        case .bf16: rowsOf = .bf16(try Dense16Storage<BF16>.load(from: w, weight: name, rows: rows, cols: cols))
        }
    }
}

/// Copies (widens) embedding rows for the given tokens.  table: [V, C]; out: [T, C]
@inline(__always)
func embeddingForward(_ table: EmbeddingTable, C: Int, _ tokens: UnsafeBufferPointer<Int32>, _ out: UnsafeMutablePointer<Float>) {
    switch table.rowsOf {
    case .f32(let s):
        embeddingForward(s.values, C: C, tokens, out)
    case .f16(let s):
        s.bits.withUnsafeBufferPointer { tb in
            for (t, id) in tokens.enumerated() {
                HalfKernels.convert(tb.baseAddress! + Int(id) * C, out + t * C, C, bf16: false)
            }
        }
    case .bf16(let s):
        s.bits.withUnsafeBufferPointer { tb in
            for (t, id) in tokens.enumerated() {
                HalfKernels.convert(tb.baseAddress! + Int(id) * C, out + t * C, C, bf16: true)
            }
        }
    }
}

/// A model whose embedding table and lm_head may be held in 16 bits (for size reports).
public protocol EmbeddingHolder {
    var embed: EmbeddingTable { get }
    var lmHead: Linear { get }
}
extension LlamaModel: EmbeddingHolder {}
extension OPTModel: EmbeddingHolder {}

extension EmbeddingHolder where Self: CausalLM {
    /// Bytes the embedding and an untied lm_head take beyond float32 (≤ 0 when held in 16 bits):
    /// `namedParameters` widens them, so size reports add this.
    public var embeddingBytesBeyondFloat32: Int {
        var d = embed.storage.bytes - 4 * embed.rows * embed.cols
        if !config.tieEmbeddings { d += lmHead.weight.bytes - 4 * lmHead.outFeatures * lmHead.inFeatures }
        return d
    }
}
