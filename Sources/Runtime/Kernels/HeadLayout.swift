/// Where each attention head's dimensions sit when heads keep different numbers of them
/// (surgeon.md §8). Query head h belongs to kv group g = h / (heads / kvHeads). Group g keeps
/// `qkIndex[g]` of the headDim q·k dimensions (shared by its query heads and its key head) and
/// `vIndex[g]` of the value dimensions (shared by the outputs of its query heads).
/// Compact layouts, each head's block contiguous, heads in order:
///   q:   [T, qWidth]    head h at qOffset[h], |qkIndex[g]| columns
///   k:   [n, kWidth]    group g at kOffset[g], |qkIndex[g]| columns
///   v:   [n, vWidth]    group g at vOffset[g], |vIndex[g]| columns
///   out: [T, outWidth]  head h at outOffset[h], |vIndex[g]| columns
/// qkIndex[g][j] and vIndex[g][j] are the original dimensions (0..<headDim) of compact column j.
/// With RoPE, `rotaryPairs[g]` = P lists the kept rotation pairs (i, i + headDim/2) and
/// qkIndex[g] = P ++ (P + headDim/2): compact column j rotates with column j + |P|.
public struct HeadLayout: Sendable, Equatable {
    public let heads: Int, kvHeads: Int, headDim: Int
    public let qkIndex: [[Int32]]
    public let vIndex: [[Int32]]
    public let rotaryPairs: [[Int32]]?
    public let qOffset: [Int], outOffset: [Int]
    public let kOffset: [Int], vOffset: [Int]
    public let qWidth: Int, kWidth: Int, vWidth: Int, outWidth: Int

    /// With rotaryPairs, qkIndex is derived from them (the argument is ignored and may be []).
    public init(heads: Int, kvHeads: Int, headDim: Int, qkIndex: [[Int32]], vIndex: [[Int32]], rotaryPairs: [[Int32]]? = nil) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "query heads must split evenly into kv groups")
        precondition(vIndex.count == kvHeads && (rotaryPairs?.count ?? qkIndex.count) == kvHeads, "one index list per kv group")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        let half = Int32(headDim / 2)
        self.qkIndex = rotaryPairs.map { $0.map { p in p + p.map { $0 + half } } } ?? qkIndex
        self.vIndex = vIndex
        self.rotaryPairs = rotaryPairs
        let group = heads / kvHeads
        func offsets(_ sizes: [Int]) -> (offsets: [Int], total: Int) {
            var o: [Int] = [], at = 0
            for s in sizes { o.append(at); at += s }
            return (o, at)
        }
        let qkSizes = self.qkIndex.map(\.count), vSizes = vIndex.map(\.count)
        (qOffset, qWidth) = offsets((0..<heads).map { qkSizes[$0 / group] })
        (kOffset, kWidth) = offsets(qkSizes)
        (vOffset, vWidth) = offsets(vSizes)
        (outOffset, outWidth) = offsets((0..<heads).map { vSizes[$0 / group] })
    }

    /// The kv group of query head h.
    @inline(__always) public func group(of h: Int) -> Int { h / (heads / kvHeads) }

    /// True when every head keeps every dimension (nothing to compact).
    public var isFull: Bool {
        qkIndex.allSatisfy { $0.count == headDim } && vIndex.allSatisfy { $0.count == headDim }
    }
}

/// Per-head sizes and offsets as the attention kernel reads them (dims of kv group g, offsets of
/// query head h or kv group g, in columns of the q, k, v and out buffers).
protocol AttentionGeometry {
    func qkDims(_ g: Int) -> Int
    func vDims(_ g: Int) -> Int
    func qColumn(_ h: Int) -> Int
    func kColumn(_ g: Int) -> Int
    func vColumn(_ g: Int) -> Int
    func outColumn(_ h: Int) -> Int
}

/// Every head keeps all headDim dimensions: head h at h·headDim.
struct UniformHeads: AttentionGeometry {
    let headDim: Int
    @inline(__always) func qkDims(_ g: Int) -> Int { headDim }
    @inline(__always) func vDims(_ g: Int) -> Int { headDim }
    @inline(__always) func qColumn(_ h: Int) -> Int { h * headDim }
    @inline(__always) func kColumn(_ g: Int) -> Int { g * headDim }
    @inline(__always) func vColumn(_ g: Int) -> Int { g * headDim }
    @inline(__always) func outColumn(_ h: Int) -> Int { h * headDim }
}

extension HeadLayout: AttentionGeometry {
    @inline(__always) func qkDims(_ g: Int) -> Int { qkIndex[g].count }
    @inline(__always) func vDims(_ g: Int) -> Int { vIndex[g].count }
    @inline(__always) func qColumn(_ h: Int) -> Int { qOffset[h] }
    @inline(__always) func kColumn(_ g: Int) -> Int { kOffset[g] }
    @inline(__always) func vColumn(_ g: Int) -> Int { vOffset[g] }
    @inline(__always) func outColumn(_ h: Int) -> Int { outOffset[h] }
}
