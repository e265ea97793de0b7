import ArgumentParser
import Foundation
import Runtime

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Architecture, and per block linear layer its storage, shape, sparsity, bytes and removed rows/columns.")

    @OptionGroup var model: ModelOptions

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        try runReportingErrors {
            Parallel.setThreads(model.threads)
            let lm = try loadModel(ModelFiles.open(model.model))
            let c = lm.config
            let stats = weightStats(lm)
            var layers: [[String: Any]] = []
            for name in lm.blockLinearNames {
                guard let l = lm.linear(name) else { continue }
                let n = l.outFeatures * l.inFeatures + (l.bias?.count ?? 0)
                layers.append([
                    "name": name, "shape": [l.outFeatures, l.inFeatures], "storage": l.storageKind.rawValue,
                    "storage_detail": l.storageDescription,
                    "sparsity": Double(l.zeroCount) / Double(max(n, 1)), "bytes": l.storageBytes,
                    "valid_2_4": l.storageKind == .twoFour || isValidTwoFour(l.denseWeight.data, rows: l.outFeatures, cols: l.inFeatures),
                    "removed_rows": l.removedRows, "removed_cols": l.removedCols,
                ])
            }
            // attention run per head at the kept sizes (q·k dims and value dims per kv group)
            let attention: [[String: Any]] = lm.attentionLayouts.enumerated().compactMap { i, l in
                guard let l else { return nil }
                return ["layer": i, "qk_dims": l.qkIndex.map(\.count), "v_dims": l.vIndex.map(\.count),
                        "kv_floats_per_position": l.kWidth + l.vWidth, "kv_floats_per_position_dense": 2 * c.numKVHeads * c.headDim]
            }
            let config: [String: Any] = [
                "layers": c.numLayers, "hidden_size": c.hiddenSize, "heads": c.numHeads,
                "kv_heads": c.numKVHeads, "head_dim": c.headDim, "intermediate_size": c.intermediateSize, "vocab_size": c.vocabSize,
            ]
            if json {
                print(jsonLine([
                    "architecture": c.architecture.rawValue, "config": config, "sparsity": stats.sparsity, "total_bytes": stats.bytes,
                    "linear_bytes": stats.blockLinearBytes, "linear_dense_bytes": stats.blockLinearDenseBytes,
                    "parameters": stats.parameters, "layers": layers, "attention": attention,
                ] as [String: Any]))
                return
            }
            print("\(c.architecture.rawValue): \(c.numLayers) layers, hidden \(c.hiddenSize), \(c.numHeads) heads "
                + "(\(c.numKVHeads) kv, dim \(c.headDim)), ffn \(c.intermediateSize), vocab \(c.vocabSize)")
            print("| layer | shape | storage | sparsity | bytes | 2:4 | removed rows | removed cols |")
            print("| --- | ---: | --- | ---: | ---: | :---: | ---: | ---: |")
            for l in layers {
                let shape = (l["shape"] as? [Int] ?? []).map(String.init).joined(separator: "x")
                print(String(format: "| %@ | %@ | %@ | %.1f%% | %@ | %@ | %d | %d |",
                             l["name"] as? String ?? "", shape, l["storage_detail"] as? String ?? "",
                             100 * (l["sparsity"] as? Double ?? 0), mib(l["bytes"] as? Int ?? 0),
                             (l["valid_2_4"] as? Bool ?? false) ? "yes" : "no",
                             (l["removed_rows"] as? [Int])?.count ?? 0, (l["removed_cols"] as? [Int])?.count ?? 0))
            }
            if !attention.isEmpty {
                print("\n| attention of layer | q·k dims per kv group | value dims per kv group | KV floats per position |")
                print("| ---: | --- | --- | ---: |")
                for a in attention {
                    let dims = { (k: String) in ((a[k] as? [Int]) ?? []).map(String.init).joined(separator: " ") }
                    print("| \(a["layer"] as? Int ?? 0) | \(dims("qk_dims")) | \(dims("v_dims")) | "
                        + "\(a["kv_floats_per_position"] as? Int ?? 0) of \(a["kv_floats_per_position_dense"] as? Int ?? 0) |")
                }
                print("")
            }
            print(String(format: "block linears: sparsity %.1f%%, %@ as stored (%.3f of dense); all parameters: %@",
                         100 * stats.sparsity, mib(stats.blockLinearBytes),
                         Double(stats.blockLinearBytes) / Double(max(stats.blockLinearDenseBytes, 1)), mib(stats.bytes)))
        }
    }

    private func mib(_ b: Int) -> String { String(format: "%.2f MiB", Double(b) / 1_048_576) }
}
