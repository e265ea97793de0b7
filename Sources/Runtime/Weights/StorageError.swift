/// Errors of building or loading a compressed weight storage. Each says what to do.
public enum StorageError: Error, CustomStringConvertible, Equatable {
    /// A stored tensor of a compressed layer is inconsistent (bad index, shape, count, value).
    case corrupt(file: String, tensor: String, detail: String)
    /// A storage was asked for a weight that does not have its pattern.
    case patternMismatch(layer: String, storage: String, detail: String)
    /// A layer's storage tag names no storage this build knows (`StorageRegistry`).
    case unknownStorage(file: String, layer: String, tag: String, known: [String])

    public var description: String {
        switch self {
        case .corrupt(let f, let t, let d):
            return "\(f): tensor \(t) is corrupt (\(d)). The compressed model is damaged; "
                + "write it again with `surgeon compress` or restore the file."
        case .patternMismatch(let l, let s, let d):
            return "layer \(l) cannot be stored as \(s) (\(d)); prune it to that pattern first, or let the "
                + "storage be chosen automatically."
        case .unknownStorage(let f, let l, let t, let k):
            return "\(f): layer \(l) is stored as \"\(t)\", a storage this build does not know (it knows "
                + k.joined(separator: ", ") + "). The model was written by a newer surgeon or the file is damaged; "
                + "update surgeon, or write the model again with `surgeon compress`."
        }
    }
}
