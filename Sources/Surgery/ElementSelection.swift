import Runtime

/// Which entries of several cost arrays are removed, and the threshold that separated them.
public struct ElementSelection: Sendable, Equatable {
    /// Per array: true where the entry is removed.
    public var masks: [[Bool]]
    /// Entries removed in total.
    public var removed: Int
    /// The largest removed cost (τ); −∞ when nothing is removed.
    public var threshold: Double
}

/// The global selection of surgeon.md §4 over non-negative costs: exactly max(k, z) entries are
/// removed, where z counts the zero costs (zero weights and dead structure, which stay removed):
/// τ = the max(k, z)-th smallest cost, every cost < τ is removed, and ties at τ are broken by array
/// order, then index order. τ is found by radix selection on the IEEE bit patterns (8 counting
/// passes over the arrays, no copy and no sort).
public func selectSmallest(_ costs: [[Double]], count k: Int) -> ElementSelection {
    selectSmallest(costs.map { Optional($0) }, total: costs.reduce(0) { $0 + $1.count }, count: k) { _ in }
}

/// The same selection when each process holds some of the arrays (nil: another rank's), `total`
/// entries over all of them: every count the rule needs — the zero costs, each radix pass's
/// histogram, the costs below τ, the ties at τ per array — is summed over the processes by `sum`
/// (an all-reduce of exact integer counts; nothing in one process), so every process finds the same
/// τ and the same tie breaks as one process holding every array, and masks the arrays it holds
/// (the others' masks are empty).
func selectSmallest(_ costs: [[Double]?], total: Int, count k: Int,
                    sum: (inout [Double]) throws -> Void) rethrows -> ElementSelection {
    var masks = costs.map { [Bool](repeating: false, count: $0?.count ?? 0) }
    var zeros = [0.0]
    for a in costs { for v in a ?? [] where v <= 0 { zeros[0] += 1 } }
    try sum(&zeros)
    let n = min(max(k, Int(zeros[0])), total)
    guard n > 0 else { return ElementSelection(masks: masks, removed: 0, threshold: -.infinity) }
    let tau = try kthSmallest(costs, n, sum: sum)
    // [below τ, ties at τ in array 0, in array 1, ...]
    var tally = [Double](repeating: 0, count: 1 + costs.count)
    for (i, a) in costs.enumerated() {
        for v in a ?? [] {
            if v < tau { tally[0] += 1 } else if v == tau { tally[1 + i] += 1 }
        }
    }
    try sum(&tally)
    var ties = n - Int(tally[0])
    for i in costs.indices {
        let mine = min(ties, Int(tally[1 + i]))
        ties -= mine
        guard let a = costs[i] else { continue }
        var left = mine
        a.withUnsafeBufferPointer { b in
            masks[i].withUnsafeMutableBufferPointer { m in
                for j in 0..<b.count {
                    let v = b[j]
                    if v < tau {
                        m[j] = true
                    } else if v == tau && left > 0 {
                        m[j] = true
                        left -= 1
                    }
                }
            }
        }
    }
    return ElementSelection(masks: masks, removed: n, threshold: tau)
}

/// The same rule on a single array: true for the removed entries.
public func smallestMask(_ values: [Double], count k: Int) -> [Bool] {
    selectSmallest([values], count: k).masks[0]
}

/// Sort key of a non-negative double: its bit pattern (monotone for +0 ... +∞); −0 and negatives map to 0.
@inline(__always)
private func key(_ v: Double) -> UInt64 { v > 0 ? v.bitPattern : 0 }

/// The k-th smallest (1-based, 1 ≤ k ≤ total) value over the arrays, by most-significant-byte
/// radix selection: each pass histograms the next byte of the keys that match the prefix found so far.
func kthSmallest(_ arrays: [[Double]], _ k: Int) -> Double {
    kthSmallest(arrays.map { Optional($0) }, k) { _ in }
}

/// The same over arrays held by several processes (nil: another's), each pass's histogram summed by `sum`.
func kthSmallest(_ arrays: [[Double]?], _ k: Int, sum: (inout [Double]) throws -> Void) rethrows -> Double {
    var prefix: UInt64 = 0, known: UInt64 = 0
    var rank = k
    var hists = [[Int]](repeating: [Int](repeating: 0, count: 256), count: arrays.count)
    for shift in stride(from: 56, through: 0, by: -8) {
        let p = prefix, m = known, s = UInt64(shift)
        hists.withUnsafeMutableBufferPointer { hs in
            Parallel.forEach(arrays.count) { i in
                var h = [Int](repeating: 0, count: 256)
                arrays[i]?.withUnsafeBufferPointer { b in
                    for v in b {
                        let x = key(v)
                        if x & m == p { h[Int((x >> s) & 0xFF)] += 1 }
                    }
                }
                hs[i] = h
            }
        }
        var counts = [Double](repeating: 0, count: 256)
        for h in hists { for b in 0..<256 { counts[b] += Double(h[b]) } }
        try sum(&counts)
        var bucket = 0
        while bucket < 256 {
            let inBucket = Int(counts[bucket])
            if rank <= inBucket { break }
            rank -= inBucket
            bucket += 1
        }
        prefix |= UInt64(min(bucket, 255)) << s
        known |= UInt64(0xFF) << s
    }
    return Double(bitPattern: prefix)
}
