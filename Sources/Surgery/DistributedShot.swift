import Foundation
import Runtime

/// A shot across the ranks of an MPI job (docs/architecture.md, "Across processes"): every rank holds
/// the whole model and passes its share of the calibration windows; each layer's factors are reduced
/// to the rank that owns it (`LayerOwnership`), which costs it; the costs are gathered so that every
/// rank selects the same structures under one global threshold; each owner updates its layers and
/// sends their new weights to every rank (all of them pass the next shot's windows through the
/// whole model). A single process is the case of one rank owning every layer.
extension Compressor {
    /// Runs the shots across `communicator`'s ranks, layers owned as `ownership` says. Every rank
    /// calls this with the same recipe, model and windows. Refuses what does not run distributed yet:
    /// layer-wise methods, the adaptive schedule, the low-rank correction, and ownership that splits
    /// an input group.
    public func distribute(over communicator: Communicator, ownership: LayerOwnership) throws {
        guard communicator.size > 1 else { return }
        guard ownership.ranks == communicator.size else {
            throw SurgeryError.invalidTarget("the layers are assigned to \(ownership.ranks) ranks but the job has \(communicator.size)")
        }
        guard !method.isLayerwise else {
            throw SurgeryError.invalidRecipe(.method, "\(method.rawValue) prunes layer by layer in one process; run it without mpirun")
        }
        guard !recipe.isAdaptive else {
            throw SurgeryError.invalidRecipe(.schedule, "the adaptive schedule does not run across MPI ranks yet; give --shots N (the linear schedule)")
        }
        guard recipe.lowrank == nil else {
            throw SurgeryError.invalidRecipe(.lowrank, "the low-rank correction does not run across MPI ranks yet; run it as one process")
        }
        let architecture = model.config.architecture.descriptor
        for name in layerNames {
            if let leader = architecture.inputGroup(of: name), ownership.rank(of: leader) != ownership.rank(of: name) {
                throw SurgeryError.invalidTarget("layer \(name) and \(leader) read one input (one A factor) but are assigned to ranks \(ownership.rank(of: name)) and \(ownership.rank(of: leader))")
            }
        }
        self.communicator = communicator
        self.ownership = ownership
    }

    /// Whether this run has more than one rank.
    public var isDistributed: Bool { communicator.size > 1 }

    /// Whether this rank costs and updates `layer` (every layer in a single process).
    func owns(_ layer: String) -> Bool {
        guard isDistributed, let ownership else { return true }
        return ownership.rank(of: layer) == communicator.rank
    }

    /// Sums x over the ranks, in place on every rank (nothing in one process): exact for the integer
    /// counts the element selection and the logs sum.
    func sumOverRanks(_ x: inout [Double]) throws {
        if isDistributed { try communicator.allReduceSum(&x) }
    }

    /// Rows R and columns C' (inputs, plus one for a bias) of a block linear.
    func layerShape(_ name: String) throws -> (rows: Int, cols: Int) {
        guard let l = model.linear(name) else { throw SurgeryError.invalidTarget("no layer \(name)") }
        return (l.outFeatures, l.inFeatures + (l.bias == nil ? 0 : 1))
    }

    /// Every layer's row and column costs on every rank, from each owner's (nil where this rank did
    /// not cost the layer). Gathered as one sum over the ranks in which each cost has exactly one
    /// non-zero term (x + 0 is exact): twice an all-gather's bytes, of arrays that are small (one
    /// float64 per row and column).  rows[i]: [R_i] or nil, cols[i]: [C'_i] or nil
    func gatherCosts(rows: [[Double]?], cols: [[Double]?], shapes: [(rows: Int, cols: Int)]) throws
        -> (rows: [[Double]], cols: [[Double]]) {
        guard isDistributed else {
            let r = rows.compactMap { $0 }, c = cols.compactMap { $0 }
            guard r.count == shapes.count, c.count == shapes.count else { throw SurgeryError.invalidTarget("a layer was not costed") }
            return (r, c)
        }
        var flat: [Double] = []
        flat.reserveCapacity(shapes.reduce(0) { $0 + $1.rows + $1.cols })
        for (i, s) in shapes.enumerated() {
            flat += rows[i] ?? [Double](repeating: 0, count: s.rows)
            flat += cols[i] ?? [Double](repeating: 0, count: s.cols)
        }
        try communicator.allReduceSum(&flat)
        var outRows: [[Double]] = [], outCols: [[Double]] = []
        var o = 0
        for s in shapes {
            outRows.append(Array(flat[o..<(o + s.rows)]))
            o += s.rows
            outCols.append(Array(flat[o..<(o + s.cols)]))
            o += s.cols
        }
        return (outRows, outCols)
    }

    /// Each owner sends its layers' new weights, bias and removed rows and columns to every rank, in
    /// model order (one broadcast per layer, float32: what the model holds). The receivers store them
    /// as the owner did, so every rank holds the same model.  removed[i]: layer i's removed rows and columns
    func shareUpdatedLayers(_ names: [String], removed: inout [(rows: [Int], cols: [Int])]) throws {
        guard isDistributed, let ownership else { return }
        for (i, name) in names.enumerated() {
            guard var lin = model.linear(name) else { throw SurgeryError.invalidTarget("no layer \(name)") }
            let R = lin.outFeatures, C = lin.inFeatures, B = lin.bias == nil ? 0 : R, Cp = C + (B > 0 ? 1 : 0)
            // buffer: [W: R·C | bias: B | row removed: R | column removed: C'] (1 = removed)
            var buffer = [Float](repeating: 0, count: R * C + B + R + Cp)
            let root = ownership.rank(of: name)
            if root == communicator.rank {
                let w = lin.denseWeight.data
                for k in 0..<(R * C) { buffer[k] = w[k] }
                for k in 0..<B { buffer[R * C + k] = lin.bias?[k] ?? 0 }
                for r in removed[i].rows { buffer[R * C + B + r] = 1 }
                for c in removed[i].cols { buffer[R * C + B + R + c] = 1 }
            }
            try buffer.withUnsafeMutableBufferPointer { b in
                guard let p = b.baseAddress else { return }
                try communicator.broadcast(p, count: b.count, root: root)
            }
            guard root != communicator.rank else { continue }
            lin.setDense(Tensor(shape: [R, C], data: Array(buffer[0..<(R * C)])))
            if B > 0 { lin.bias = Array(buffer[(R * C)..<(R * C + B)]) }
            model.setLinear(name, lin)
            removed[i] = ((0..<R).filter { buffer[R * C + B + $0] != 0 }, (0..<Cp).filter { buffer[R * C + B + R + $0] != 0 })
        }
    }
}
