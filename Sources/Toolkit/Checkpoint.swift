import Foundation
import Runtime
import Surgery

/// `OUT.partial/state.json`: the recipe, the source model's identity and the driver's state after
/// the last finished shot (the weights beside it in `weights.safetensors`).
struct CheckpointFile: Codable {
    var recipe: CompressionRecipe
    /// Absent in checkpoints written before sources were recorded (such a checkpoint is refused).
    var source: SourceIdentity?
    var state: CompressionState

    /// Reads `dir/state.json`; anything unreadable is `badCheckpoint`.
    static func read(directory dir: String) throws -> CheckpointFile {
        let path = dir + "/state.json"
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CompressionJobError.badCheckpoint(checkpoint: dir, field: "state.json", detail: "cannot be read")
        }
        do {
            return try JSONDecoder().decode(CheckpointFile.self, from: data)
        } catch let DecodingError.dataCorrupted(c), let DecodingError.typeMismatch(_, c), let DecodingError.valueNotFound(_, c) {
            let at = c.codingPath.map(\.stringValue).joined(separator: ".")
            throw CompressionJobError.badCheckpoint(checkpoint: dir, field: at.isEmpty ? "state.json" : at, detail: c.debugDescription)
        } catch DecodingError.keyNotFound(let key, let c) {
            let at = (c.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw CompressionJobError.badCheckpoint(checkpoint: dir, field: at, detail: "missing")
        } catch {
            throw CompressionJobError.badCheckpoint(checkpoint: dir, field: "state.json", detail: "not a checkpoint (\(error))")
        }
    }

    /// Checks the state against the recipe it continues and the model it prunes: a shot count
    /// inside the run, one report per finished shot in order, removed rows and columns of the
    /// model's layers within their shapes, each once. Throws `badCheckpoint` naming the field.
    func validate(directory dir: String, model: CausalLM) throws {
        func bad(_ field: String, _ detail: String) -> CompressionJobError {
            .badCheckpoint(checkpoint: dir, field: field, detail: detail)
        }
        let s = state
        guard (0..<recipe.maxShots).contains(s.completedShots) else {
            throw bad("completed_shots", "\(s.completedShots) is outside 0..<\(recipe.maxShots) (the run's shots)")
        }
        if recipe.isAdaptive {
            guard let a = s.adaptive else { throw bad("adaptive", "missing for a run on the adaptive schedule") }
            guard a.reached >= 0, a.reached < recipe.targetSparsity, a.step > 0, a.step < 1 else {
                throw bad("adaptive", "reached \(a.reached) and step \(a.step) do not fit a run to \(recipe.targetSparsity)")
            }
            guard s.heldOut != nil else { throw bad("held_out", "missing for a run on the adaptive schedule") }
        }
        guard s.shots.count == s.completedShots else {
            throw bad("shots", "\(s.shots.count) shot reports for \(s.completedShots) completed shots")
        }
        for (i, r) in s.shots.enumerated() {
            guard r.shot == i + 1 else { throw bad("shots[\(i)].shot", "\(r.shot) where \(i + 1) was expected") }
            guard (0...1).contains(r.targetSparsity), (0...1).contains(r.actualSparsity) else {
                throw bad("shots[\(i)]", "sparsities \(r.targetSparsity), \(r.actualSparsity) outside [0, 1]")
            }
        }
        for (key, removed) in [("removed_rows", s.removedRows), ("removed_cols", s.removedCols)] {
            for (name, indices) in removed {
                guard let lin = model.linear(name) else { throw bad("\(key).\(name)", "the model has no layer \(name)") }
                let n = key == "removed_rows" ? lin.outFeatures : lin.inFeatures + (lin.bias == nil ? 0 : 1)
                if let i = indices.first(where: { !(0..<n).contains($0) }) {
                    throw bad("\(key).\(name)", "index \(i) is outside 0..<\(n)")
                }
                guard Set(indices).count == indices.count else { throw bad("\(key).\(name)", "repeats an index") }
            }
        }
    }
}
