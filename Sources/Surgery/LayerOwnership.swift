import Foundation

/// Which rank of a distributed run owns each block linear: the owner receives the layer's factors,
/// costs it, updates it and sends its new weights to the others. Layers that read one input (q/k/v,
/// gate/up) share an A factor, so they are assigned together.
public struct LayerOwnership: Sendable, Equatable {
    public let ranks: Int
    /// Layer → its rank (0..<ranks).
    public let owner: [String: Int]

    /// Refuses a rank outside 0..<ranks.
    public init(owner: [String: Int], ranks: Int) throws {
        guard ranks >= 1 else { throw SurgeryError.invalidTarget("a run needs at least one rank (got \(ranks))") }
        if let (name, r) = owner.first(where: { !(0..<ranks).contains($0.value) }) {
            throw SurgeryError.invalidTarget("layer \(name) is assigned to rank \(r), outside 0..<\(ranks)")
        }
        self.owner = owner
        self.ranks = ranks
    }

    /// Units of work (the layers sharing an input, and their cost, e.g. FLOPs of a shot) spread over
    /// `ranks` by the longest-processing-time rule: the costliest unit first, each to the least loaded
    /// rank (ties to the lower rank). Its makespan is within 4/3 of the best possible.
    public static func balanced(units: [(names: [String], cost: Double)], ranks: Int) throws -> LayerOwnership {
        guard ranks >= 1 else { throw SurgeryError.invalidTarget("a run needs at least one rank (got \(ranks))") }
        var load = [Double](repeating: 0, count: ranks)
        var owner: [String: Int] = [:]
        // stable: equal costs keep model order
        let order = units.indices.sorted { (units[$0].cost, $1) > (units[$1].cost, $0) }
        for u in order {
            let r = load.indices.min { (load[$0], $0) < (load[$1], $1) } ?? 0
            load[r] += units[u].cost
            for name in units[u].names { owner[name] = r }
        }
        return try LayerOwnership(owner: owner, ranks: ranks)
    }

    /// The rank of `layer` (a layer not listed goes to rank 0).
    public func rank(of layer: String) -> Int { owner[layer] ?? 0 }

    /// Sum of `cost` over each rank's layers.  cost: per layer
    public func loads(_ cost: [String: Double]) -> [Double] {
        var load = [Double](repeating: 0, count: ranks)
        for (name, c) in cost { load[rank(of: name)] += c }
        return load
    }
}
