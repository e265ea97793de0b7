/// Errors of building or loading a compressed weight storage. Each says what to do.
public enum StorageError: Error, CustomStringConvertible, Equatable {
    /// A stored tensor of a compressed layer is inconsistent (bad index, shape, count, value).
    case corrupt(file: String, tensor: String, detail: String)
    /// A storage was asked for a weight that does not have its pattern.
    case patternMismatch(layer: String, storage: String, detail: String)

    public var description: String {
        switch self {
        case .corrupt(let f, let t, let d):
            return "\(f): tensor \(t) is corrupt (\(d)). The compressed model is damaged; "
                + "write it again with `surgeon compress` or restore the file."
        case .patternMismatch(let l, let s, let d):
            return "layer \(l) cannot be stored as \(s) (\(d)); prune it to that pattern first, or let the "
                + "storage be chosen automatically."
        }
    }
}

/// Which storage a linear layer's weight uses (the names compression.json and inspect print).
public enum StorageKind: String, Sendable, CaseIterable, Codable {
    case dense
    case compacted
    case twoFour = "2:4"
    case bitmask
    case csr
}
