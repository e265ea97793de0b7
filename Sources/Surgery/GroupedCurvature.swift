import Foundation
import Runtime

/// K-FAC factors under a memory budget: when all layers' factors do not fit, the curvature pass runs
/// once per group of consecutive layers whose factors fit (input groups kept whole: their A is
/// shared), each group's factors go to a scratch file, and consumers read one layer's factors at a
/// time (`KFACFactors.a(_:)`/`g(_:)`). Every factor accumulates the same windows in the same order
/// as in one pass, so the factors are bit for bit those of `Curvature.estimate`.
public struct FactorFiles: Sendable {
    /// Layer → the scratch file holding its factors.
    public var file: [String: String] = [:]
    /// Layer → the name of its A tensor in that file (its input group's first layer).
    public var aName: [String: String] = [:]

    public init() {}
}

extension KFACFactors {
    /// The A factor of `layer`: in memory, built from a spilled pass, or read from its scratch file
    /// (nil: identity / absent).
    public func a(_ layer: String) throws -> Tensor? {
        if let t = A[layer] { return t }
        if let spilled { return try spilled.a(layer) }
        guard let files = onDisk, let path = files.file[layer], let name = files.aName[layer] else { return nil }
        return try SafetensorsFile(path: path).load("A." + name)
    }

    /// The G factor of `layer`: in memory, built from a spilled pass, or read from its scratch file.
    public func g(_ layer: String) throws -> Tensor? {
        if let t = G[layer] { return t }
        if let spilled { return method == .kfac ? try spilled.g(layer) : nil }
        guard let files = onDisk, let path = files.file[layer], method == .kfac else { return nil }
        return try SafetensorsFile(path: path).load("G." + layer)
    }
}

extension Curvature {
    /// Bytes of each layer's factor sums in a pass (its G, and its input group's A on the group's first
    /// layer): `FactorSum`'s n(n+1)/2 doubles, 4·n(n+1) bytes (the float32 squares they become: 4·n²).
    public static func factorBytes(model: CausalLM, method: CurvatureMethod) -> [(layer: String, bytes: Int)] {
        let d = model.config.architecture.descriptor
        return model.blockLinearNames.map { name in
            guard method != .identity, let l = model.linear(name) else { return (name, 0) }
            let leader = d.inputGroup(of: name) ?? name
            let aSide = l.inFeatures + (l.bias != nil ? 1 : 0)
            let a = leader == name ? factorSumBytes(side: aSide) : 0
            return (name, a + (method == .kfac ? factorSumBytes(side: l.outFeatures) : 0))
        }
    }

    /// Consecutive layers packed into groups of at most `budget` factor bytes, input groups whole.
    /// Throws when one input group alone needs more than the budget.
    public static func layerGroups(model: CausalLM, method: CurvatureMethod, budget: Int) throws -> [[String]] {
        let d = model.config.architecture.descriptor
        var units: [(names: [String], bytes: Int)] = []
        for (name, b) in factorBytes(model: model, method: method) {
            if let last = units.last, d.inputGroup(of: name) == d.inputGroup(of: last.names[0]) {
                units[units.count - 1].names.append(name)
                units[units.count - 1].bytes += b
            } else {
                units.append(([name], b))
            }
        }
        return try packLayerGroups(units, budget: budget)
    }

    /// Units (an input group's layers and their factor bytes) packed in order into groups of at most
    /// `budget` bytes; throws when one unit alone needs more.
    public static func packLayerGroups(_ units: [(names: [String], bytes: Int)], budget: Int) throws -> [[String]] {
        if let big = units.max(by: { $0.bytes < $1.bytes }), big.bytes > budget {
            throw SurgeryError.invalidTarget("the factors of \(big.names.joined(separator: ", ")) alone need \(big.bytes) bytes, "
                                             + "more than the memory left for factors (\(budget) bytes): allow more memory")
        }
        var groups: [[String]] = [], current: [String] = [], used = 0
        for u in units {
            if used + u.bytes > budget && !current.isEmpty {
                groups.append(current)
                current = []
                used = 0
            }
            current += u.names
            used += u.bytes
        }
        if !current.isEmpty { groups.append(current) }
        return groups
    }

    /// The factors of every layer, one calibration pass per layer group of at most `budget` bytes,
    /// each group written to `directory` (created when missing) and released before the next pass.
    public static func estimateInGroups(model: CausalLM, calibration: Calibration, method: CurvatureMethod,
                                        labels: FisherLabels = .empirical, budget: Int, directory: String,
                                        log: (String) -> Void = { _ in },
                                        progress: ((Int, Int) -> Void)? = nil) throws -> KFACFactors {
        let groups = try layerGroups(model: model, method: method, budget: budget)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let d = model.config.architecture.descriptor
        var files = FactorFiles(), meta: [String: String] = [:], peak = 0
        for (k, group) in groups.enumerated() {
            log("curvature: layer group \(k + 1) of \(groups.count) (\(group.count) layers)")
            let f = try estimate(model: model, calibration: calibration, method: method, labels: labels, layers: Set(group),
                                 progress: progress)
            var items: [SafetensorsWriter.Item] = []
            for name in group {
                let leader = d.inputGroup(of: name) ?? name
                if leader == name, let a = f.A[name] { items.append(.init(name: "A." + name, tensor: a)) }
                if let g = f.G[name] { items.append(.init(name: "G." + name, tensor: g)) }
            }
            let path = (directory as NSString).appendingPathComponent("factors-\(k).safetensors")
            try SafetensorsWriter.write(items, metadata: [:], to: path)
            for name in group {
                files.file[name] = path
                files.aName[name] = d.inputGroup(of: name) ?? name
            }
            peak = max(peak, Int(f.metadata["accumulated_bytes"] ?? "") ?? 0)
            meta = f.metadata
        }
        meta["accumulated_bytes"] = String(peak)
        meta["layer_groups"] = String(groups.count)
        var out = KFACFactors(method: method, A: [:], G: [:], tokens: calibration.tokenCount, metadata: meta)
        out.onDisk = files
        return out
    }
}
