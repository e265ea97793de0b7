/// A merge rule: the pair (left, right) becomes `result`. Lower `priority` merges first
/// (byte-level BPE: the merge's rank; SentencePiece: minus the merged piece's score).
struct MergeRule {
    var priority: Float
    var result: Int32
}

/// Merge rules keyed by the pair of ids.
struct MergeTable {
    private(set) var rules: [UInt64: MergeRule] = [:]

    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        (UInt64(UInt32(bitPattern: left)) << 32) | UInt64(UInt32(bitPattern: right))
    }

    /// A later rule for the same pair replaces the earlier one (as Hugging Face's merge map does).
    mutating func add(_ left: Int32, _ right: Int32, _ rule: MergeRule) {
        rules[MergeTable.key(left, right)] = rule
    }

    func rule(_ left: Int32, _ right: Int32) -> MergeRule? {
        rules[MergeTable.key(left, right)]
    }
}

/// Applies merge rules to a sequence of symbol ids: repeatedly merges the adjacent pair with
/// the best (lowest) priority, the leftmost one among equals, until no rule applies.
/// This is both Hugging Face's BPE word merge and SentencePiece's BPE encoder.
/// Scratch arrays are kept between calls; one merger per encoding call (not shared).
struct PairMerger {
    private var next: [Int32] = []
    private var prev: [Int32] = []
    private var heap: [Candidate] = []

    private struct Candidate {
        var priority: Float
        var left: Int32
        var leftId: Int32
        var rightId: Int32
        var result: Int32

        func precedes(_ o: Candidate) -> Bool {
            priority < o.priority || (priority == o.priority && left < o.left)
        }
    }

    /// Merges `ids` in place; `onMerge(left, right, result)` is told of every merge.
    /// Negative ids (symbols without a vocabulary entry) never merge.
    mutating func merge(_ ids: inout [Int32], table: MergeTable, onMerge: ((Int32, Int32, Int32) -> Void)? = nil) {
        let n = ids.count
        guard n > 1 else { return }
        next.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
        for i in 0..<n {
            next.append(i + 1 < n ? Int32(i + 1) : -1)
            prev.append(Int32(i - 1))
        }
        func consider(_ l: Int32, _ r: Int32) {
            guard l >= 0, r >= 0 else { return }
            let a = ids[Int(l)], b = ids[Int(r)]
            guard a >= 0, b >= 0, let rule = table.rule(a, b) else { return }
            push(Candidate(priority: rule.priority, left: l, leftId: a, rightId: b, result: rule.result))
        }
        for i in 0..<(n - 1) { consider(Int32(i), Int32(i + 1)) }

        while let top = pop() {
            let l = Int(top.left)
            let r = next[l]
            // Stale if either side has changed since the candidate was queued.
            guard ids[l] == top.leftId, r >= 0, ids[Int(r)] == top.rightId else { continue }
            onMerge?(top.leftId, top.rightId, top.result)
            ids[l] = top.result
            let rr = next[Int(r)]
            next[l] = rr
            if rr >= 0 { prev[Int(rr)] = Int32(l) }
            ids[Int(r)] = -1  // merged away (never read again: links skip it)
            consider(prev[l], Int32(l))
            consider(Int32(l), rr)
        }
        // Compact the surviving symbols, in order.
        var out = 0
        var i: Int32 = 0
        while i >= 0 {
            ids[out] = ids[Int(i)]
            out += 1
            i = next[Int(i)]
        }
        ids.removeSubrange(out...)
    }

    private mutating func push(_ c: Candidate) {
        heap.append(c)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func pop() -> Candidate? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return first }
        heap[0] = last
        var i = 0
        let count = heap.count
        while true {
            let a = 2 * i + 1, b = a + 1
            var best = i
            if a < count && heap[a].precedes(heap[best]) { best = a }
            if b < count && heap[b].precedes(heap[best]) { best = b }
            if best == i { break }
            heap.swapAt(i, best)
            i = best
        }
        return first
    }
}
