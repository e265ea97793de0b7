/// The parallel forwards of `Linear`: one layer, or up to three reading the same input, split over
/// the worker threads by cost (the compacted storage's prefix and kept-row modes included).
extension Linear {
    /// Which output rows a many-layer run writes, and where.
    enum OutputRows {
        /// All R rows: y: [T, R].
        case all
        /// The first n kept rows of compacted layers, in kept order: y: [T, n].
        case keptPrefix(Int)
        /// All kept rows of compacted layers, in kept order: y: [T, nr] (nr of each layer).
        case kept

        @inline(__always) func units(_ l: Linear) -> Int {
            switch self {
            case .all: return l.workUnits
            case .keptPrefix(let n): return n
            case .kept: return l.keptRowCount
            }
        }

        @inline(__always) func ldy(_ l: Linear) -> Int {
            switch self {
            case .all: return l.outFeatures
            case .keptPrefix(let n): return n
            case .kept: return l.keptRowCount
            }
        }
    }

    /// y = x Wᵀ + b (or y += x Wᵀ + b) for all rows, split over the worker threads.  x: [T, C]; y: [T, R]
    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, T: Int, accumulate: Bool = false) {
        Linear.runMany(x, ldx: inFeatures, T: T, accumulate: accumulate, inputPrefix: nil, output: .all, self, y)
    }

    /// Up to three linears reading the same input (q/k/v, gate/up): their work is split over the
    /// workers in one parallel region, without allocating.  x: [T, C]; y_i: [T, R_i]
    public static func forwardMany(_ x: UnsafePointer<Float>, T: Int,
                                   _ a: Linear, _ ya: UnsafeMutablePointer<Float>,
                                   _ b: Linear? = nil, _ yb: UnsafeMutablePointer<Float>? = nil,
                                   _ c: Linear? = nil, _ yc: UnsafeMutablePointer<Float>? = nil) {
        runMany(x, ldx: a.inFeatures, T: T, accumulate: false, inputPrefix: nil, output: .all, a, ya, b, yb, c, yc)
    }

    /// MLP chain, first half (gate/up or fc1): only the first n kept rows, written compactly.
    /// Both layers must be compacted with the same first n kept rows (see `MLPChain`).
    /// x: [T, C]; ya, yb: [T, n]
    public static func forwardManyPrefix(_ x: UnsafePointer<Float>, T: Int, n: Int,
                                         _ a: Linear, _ ya: UnsafeMutablePointer<Float>,
                                         _ b: Linear? = nil, _ yb: UnsafeMutablePointer<Float>? = nil) {
        runMany(x, ldx: a.inFeatures, T: T, accumulate: false, inputPrefix: nil, output: .keptPrefix(n), a, ya, b, yb)
    }

    /// Compacted layers reading the same input, each writing all its kept rows in kept order
    /// (per-head attention, see `CompactAttention`).  x: [T, C]; y_i: [T, nr_i]
    public static func forwardManyKept(_ x: UnsafePointer<Float>, T: Int,
                                       _ a: Linear, _ ya: UnsafeMutablePointer<Float>,
                                       _ b: Linear? = nil, _ yb: UnsafeMutablePointer<Float>? = nil,
                                       _ c: Linear? = nil, _ yc: UnsafeMutablePointer<Float>? = nil) {
        runMany(x, ldx: a.inFeatures, T: T, accumulate: false, inputPrefix: nil, output: .kept, a, ya, b, yb, c, yc)
    }

    /// Second half of a chain (down, fc2, o_proj): x holds the inputs of the first n kept columns only.
    /// x: [T, n]; y: [T, R]
    public func forward(prefixInput x: UnsafePointer<Float>, n: Int, _ y: UnsafeMutablePointer<Float>, T: Int, accumulate: Bool) {
        Linear.runMany(x, ldx: n, T: T, accumulate: accumulate, inputPrefix: n, output: .all, self, y)
    }

    @inline(__always)
    static func runMany(_ x: UnsafePointer<Float>, ldx: Int, T: Int, accumulate: Bool, inputPrefix: Int?, output: OutputRows,
                        _ a: Linear, _ ya: UnsafeMutablePointer<Float>,
                        _ b: Linear? = nil, _ yb: UnsafeMutablePointer<Float>? = nil,
                        _ c: Linear? = nil, _ yc: UnsafeMutablePointer<Float>? = nil) {
        let ua = output.units(a)
        let ub = b.map { output.units($0) } ?? 0
        let uc = c.map { output.units($0) } ?? 0
        let minUnits = T == 1 ? 64 : 16
        let compact: Bool
        if case .all = output { compact = false } else { compact = true }
        // Split by cost, not by unit count: a unit (row) costs its kept inputs, which differ
        // between compacted layers (e.g. a q_proj keeping 56 inputs beside a v_proj keeping 571).
        let wa = a.unitCost(inputPrefix), wb = b?.unitCost(inputPrefix) ?? 0, wc = c?.unitCost(inputPrefix) ?? 0
        let n = ua + ub + uc, total = ua * wa + ub * wb + uc * wc
        let parts = max(1, min(Parallel.threads, n / minUnits))
        @inline(__always) func unit(atCost w: Int) -> Int {
            var u: Int
            if w < ua * wa { u = w / max(wa, 1) }
            else if w < ua * wa + ub * wb { u = ua + (w - ua * wa) / max(wb, 1) }
            else { u = ua + ub + (w - ua * wa - ub * wb) / max(wc, 1) }
            u = u / 16 * 16
            return min(u, n)
        }
        Parallel.forEach(parts) { p in
            let range = (p == 0 ? 0 : unit(atCost: total * p / parts)) ..< (p == parts - 1 ? n : unit(atCost: total * (p + 1) / parts))
            if range.isEmpty { return }
            @inline(__always) func go(_ l: Linear, _ y: UnsafeMutablePointer<Float>, base: Int, count: Int) {
                let lo = max(range.lowerBound, base) - base
                let hi = min(range.upperBound, base + count) - base
                if lo < hi {
                    l.run(x, ldx: ldx, y, ldy: output.ldy(l), T: T, units: lo..<hi, accumulate: accumulate,
                          inputPrefix: inputPrefix, compactOutput: compact)
                }
            }
            go(a, ya, base: 0, count: ua)
            if let b, let yb { go(b, yb, base: ua, count: ub) }
            if let c, let yc { go(c, yc, base: ua + ub, count: uc) }
        }
    }
}
