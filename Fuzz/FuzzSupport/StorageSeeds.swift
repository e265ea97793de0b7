import Foundation
import Runtime
import TestSupport
import Surgery

/// The storage target's layer and seeds: one linear `layer` [12, 40] with bias, written in every
/// storage that can hold each of three pruning patterns (rows and columns, 2:4, 90 % scattered).
public enum StorageSeeds {
    public static let layer = "layer", rows = 12, cols = 40

    static func pattern(_ k: Int) -> [Float] {
        var w = TinyModel.values(rows * cols, seed: 7)
        for r in 0..<rows {
            for c in 0..<cols {
                let zero: Bool
                switch k {
                case 0: zero = r % 4 == 1 || c % 5 == 3
                case 1: zero = (c % 4 + r) % 4 < 2
                default: zero = (r * 7 + c * 13) % 10 != 0
                }
                if zero { w[r * cols + c] = 0 }
            }
        }
        return w
    }

    public static func write(_ dir: String) throws {
        let bias = TinyModel.values(rows, seed: 8)
        for k in 0..<3 {
            let lin = Linear(dense: Tensor(shape: [rows, cols], data: pattern(k)), bias: Tensor(shape: [rows], data: bias))
            let planned = try PlannedLayer(name: layer, linear: lin, masks: nil)
            for type in StorageRegistry.types where type.estimatedBytes(planned) != nil {
                let storage = try type.build(planned)
                let l = Linear(weight: storage, bias: bias)
                let tag = l.storageTag(name: layer)
                let items = l.storageItems(name: layer) + [SafetensorsWriter.Item(name: layer + ".bias", shape: [rows], floats: bias)]
                try SafetensorsWriter.write(items, metadata: [tag.key: tag.value],
                                            to: dir + "/pattern\(k)-\(type.kind.rawValue.replacingOccurrences(of: ":", with: "_"))")
            }
        }
    }
}

/// The checkpoint target's recipe and seeds: `state.json` of a magnitude rows-columns run on the
/// tiny model (as `CompressionJob.saveCheckpoint` writes it: `{recipe, state}`).
public enum CheckpointSeeds {
    /// The recipe the fuzzed checkpoint must match (as the CLI would build it for `--resume`).
    public static let recipe = CompressionRecipe(method: .magnitude, structure: .rowsColumns, targetSparsity: 0.3, shots: 3,
                                                 dampG: 0.01, dampA: 0.01)

    /// The layout of `state.json` (Toolkit's internal `CheckpointFile`: same keys).
    public struct File: Codable {
        public var recipe: CompressionRecipe
        public var state: CompressionState
        public init(recipe: CompressionRecipe, state: CompressionState) {
            self.recipe = recipe
            self.state = state
        }
    }

    /// The tiny model's directory inside the scratch directory (written once).
    public static let modelDirectory: String = {
        let d = Harness.directory("tiny-model")
        try? TinyModel.writeDirectory(d)
        return d
    }()

    public static func write(_ dir: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let files = try ModelFiles.open(modelDirectory)
        let comp = try Compressor(model: try loadModel(files), recipe: recipe, calibration: nil)
        try enc.encode(File(recipe: recipe, state: comp.state)).write(to: URL(fileURLWithPath: dir + "/state-0.json"))
        var shot = 0
        try comp.run { _, state in
            shot += 1
            if shot < recipe.shots {
                try enc.encode(File(recipe: recipe, state: state)).write(to: URL(fileURLWithPath: dir + "/state-\(shot).json"))
            }
        }
    }
}
