import Foundation
import Runtime

/// What `surgeon inspect` reports about a model: its architecture, and per block linear layer its
/// storage, shape, sparsity, bytes and removed rows/columns; per block the sizes attention runs at.
/// Encodes to the JSON keys scripts read (`total_bytes`, `layers[].storage_detail`, ...).
public struct InspectReport: Codable, Sendable, Equatable {
    public struct Config: Codable, Sendable, Equatable {
        public var layers: Int
        public var hiddenSize: Int
        public var heads: Int
        public var kvHeads: Int
        public var headDim: Int
        public var intermediateSize: Int
        public var vocabSize: Int

        enum CodingKeys: String, CodingKey {
            case layers, heads
            case hiddenSize = "hidden_size", kvHeads = "kv_heads", headDim = "head_dim"
            case intermediateSize = "intermediate_size", vocabSize = "vocab_size"
        }
    }

    /// One block linear layer.
    public struct Layer: Codable, Sendable, Equatable {
        public var name: String
        public var shape: [Int]              // [out, in]
        public var storage: String           // storage kind tag
        public var dtype: String             // type of the stored values: f32, f16, bf16
        public var storageDetail: String     // e.g. "compacted 56x64 of 64x64"
        public var sparsity: Double          // zeros / (weights + bias)
        public var bytes: Int                // as stored
        public var validTwoFour: Bool        // stored 2:4, or dense with a valid 2:4 pattern
        public var removedRows: [Int]
        public var removedCols: [Int]

        enum CodingKeys: String, CodingKey {
            case name, shape, storage, sparsity, bytes, dtype
            case storageDetail = "storage_detail", validTwoFour = "valid_2_4"
            case removedRows = "removed_rows", removedCols = "removed_cols"
        }
    }

    /// Attention of one block run per head at its kept sizes (q·k and value dims per kv group).
    public struct Attention: Codable, Sendable, Equatable {
        public var layer: Int
        public var qkDims: [Int]
        public var vDims: [Int]
        public var kvFloatsPerPosition: Int
        public var kvFloatsPerPositionDense: Int

        enum CodingKeys: String, CodingKey {
            case layer
            case qkDims = "qk_dims", vDims = "v_dims"
            case kvFloatsPerPosition = "kv_floats_per_position", kvFloatsPerPositionDense = "kv_floats_per_position_dense"
        }
    }

    public var architecture: String
    public var config: Config
    public var sparsity: Double          // of the block linears
    public var totalBytes: Int           // all parameters as stored
    public var linearBytes: Int          // block linears as stored
    public var linearDenseBytes: Int     // block linears as dense float32
    public var parameters: Int
    public var layers: [Layer]
    public var attention: [Attention]    // only the blocks with compact attention

    enum CodingKeys: String, CodingKey {
        case architecture, config, sparsity, parameters, layers, attention
        case totalBytes = "total_bytes", linearBytes = "linear_bytes", linearDenseBytes = "linear_dense_bytes"
    }
}

extension InspectReport {
    /// The report of a loaded model.
    public init(model lm: CausalLM) {
        let c = lm.config
        let stats = weightStats(lm)
        architecture = c.architecture.rawValue
        config = Config(layers: c.numLayers, hiddenSize: c.hiddenSize, heads: c.numHeads, kvHeads: c.numKVHeads,
                        headDim: c.headDim, intermediateSize: c.intermediateSize, vocabSize: c.vocabSize)
        sparsity = stats.sparsity
        totalBytes = stats.bytes
        linearBytes = stats.blockLinearBytes
        linearDenseBytes = stats.blockLinearDenseBytes
        parameters = stats.parameters
        layers = lm.blockLinearNames.compactMap { name in
            guard let l = lm.linear(name) else { return nil }
            let n = l.outFeatures * l.inFeatures + (l.bias?.count ?? 0)
            return Layer(name: name, shape: [l.outFeatures, l.inFeatures], storage: l.storageKind.rawValue,
                         dtype: l.weight.valueDType.rawValue, storageDetail: l.storageDescription, sparsity: Double(l.zeroCount) / Double(max(n, 1)),
                         bytes: l.storageBytes,
                         validTwoFour: l.storageKind == StorageKind.twoFour.typed(l.weight.valueDType)
                            || isValidTwoFour(l.denseWeight.data, rows: l.outFeatures, cols: l.inFeatures),
                         removedRows: l.removedRows, removedCols: l.removedCols)
        }
        attention = lm.attentionLayouts.enumerated().compactMap { i, l in
            guard let l else { return nil }
            return Attention(layer: i, qkDims: l.qkIndex.map(\.count), vDims: l.vIndex.map(\.count),
                             kvFloatsPerPosition: l.kWidth + l.vWidth, kvFloatsPerPositionDense: 2 * c.numKVHeads * c.headDim)
        }
    }

    /// One line of JSON, keys sorted.
    public func json() throws -> String { try ReportJSON.line(self) }

    /// The architecture line, the per-layer table, the attention table (when any block has compact
    /// attention) and the totals line; ends with a newline.
    public func markdown() -> String {
        let c = config
        var out = "\(architecture): \(c.layers) layers, hidden \(c.hiddenSize), \(c.heads) heads "
            + "(\(c.kvHeads) kv, dim \(c.headDim)), ffn \(c.intermediateSize), vocab \(c.vocabSize)\n"
        out += "| layer | shape | storage | dtype | sparsity | bytes | 2:4 | removed rows | removed cols |\n"
        out += "| --- | ---: | --- | --- | ---: | ---: | :---: | ---: | ---: |\n"
        for l in layers {
            let shape = l.shape.map(String.init).joined(separator: "x")
            out += String(format: "| %@ | %@ | %@ | %@ | %.1f%% | %@ | %@ | %d | %d |\n",
                          l.name, shape, l.storageDetail, l.dtype, 100 * l.sparsity, ReportFormat.mib(l.bytes),
                          l.validTwoFour ? "yes" : "no", l.removedRows.count, l.removedCols.count)
        }
        if !attention.isEmpty {
            out += "\n| attention of layer | q·k dims per kv group | value dims per kv group | KV floats per position |\n"
            out += "| ---: | --- | --- | ---: |\n"
            for a in attention {
                let dims = { (d: [Int]) in d.map(String.init).joined(separator: " ") }
                out += "| \(a.layer) | \(dims(a.qkDims)) | \(dims(a.vDims)) | \(a.kvFloatsPerPosition) of \(a.kvFloatsPerPositionDense) |\n"
            }
            out += "\n"
        }
        out += String(format: "block linears: sparsity %.1f%%, %@ as stored (%.3f of dense); all parameters: %@\n",
                      100 * sparsity, ReportFormat.mib(linearBytes),
                      Double(linearBytes) / Double(max(linearDenseBytes, 1)), ReportFormat.mib(totalBytes))
        return out
    }
}
