import Runtime

/// A `CompressionState` that cannot belong to this model and recipe (a damaged or hand-edited
/// checkpoint): the field, as compression.json and checkpoints spell it, and what is wrong.
public struct CompressionStateError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let detail: String

    public init(field: String, detail: String) {
        self.field = field
        self.detail = detail
    }

    public var description: String {
        "the compression state's \(field) \(detail); the checkpoint it was read from is damaged: delete it and run again without resuming"
    }
}

extension CompressionState {
    /// Checks what a resumed run indexes with: the finished shots within 0...shots, and every
    /// removed row and column inside its layer (layers the model has; a layer with a bias has
    /// the bias column C among its columns, as `PrunableLayer` does).
    public func validate(model: CausalLM, shots: Int) throws {
        guard completedShots >= 0, completedShots <= shots else {
            throw CompressionStateError(field: "completed_shots", detail: "is \(completedShots), outside 0...\(shots)")
        }
        for (field, lists) in [("removed_rows", removedRows), ("removed_cols", removedCols)] {
            for (name, indices) in lists {
                guard let l = model.linear(name) else {
                    throw CompressionStateError(field: field, detail: "names \(name), which is not a linear layer of the model")
                }
                let n = field == "removed_rows" ? l.outFeatures : l.inFeatures + (l.bias != nil ? 1 : 0)
                if let bad = indices.first(where: { $0 < 0 || $0 >= n }) {
                    throw CompressionStateError(field: field, detail: "of \(name) holds \(bad), outside 0..<\(n)")
                }
            }
        }
    }
}
