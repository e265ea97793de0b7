/// The global structured threshold (surgeon.md §4): all layers' rows and columns compete in one
/// list by cost; walking it in ascending order, a structure is taken while the summed removed count
/// (r·C' + c·R − r·c per layer) stays ≤ the target. Dead structures cost 0 and come first.
public struct StructuredSelection: Equatable, Sendable {
    public var rows: [[Int]]      // per layer: rows to remove (dead ones included)
    public var cols: [[Int]]
    public var removed: Int       // parameters removed in total
    public var threshold: Double  // cost of the last structure taken (−∞ if none)
}

public func selectStructures(rowCosts: [[Double]], colCosts: [[Double]], target: Int) -> StructuredSelection {
    struct Candidate { let cost: Double; let layer: Int; let isRow: Bool; let index: Int }
    var all: [Candidate] = []
    for l in rowCosts.indices {
        for (i, c) in rowCosts[l].enumerated() { all.append(Candidate(cost: c, layer: l, isRow: true, index: i)) }
        for (i, c) in colCosts[l].enumerated() { all.append(Candidate(cost: c, layer: l, isRow: false, index: i)) }
    }
    // stable order on ties: by layer, rows before columns, index
    all.sort { ($0.cost, $0.layer, $0.isRow ? 0 : 1, $0.index) < ($1.cost, $1.layer, $1.isRow ? 0 : 1, $1.index) }
    let R = rowCosts.map(\.count), C = colCosts.map(\.count)
    var r = [Int](repeating: 0, count: R.count), c = [Int](repeating: 0, count: R.count)
    var sel = StructuredSelection(rows: R.map { _ in [] }, cols: R.map { _ in [] }, removed: 0, threshold: -.infinity)
    for cand in all {
        let l = cand.layer
        let inc = cand.isRow ? C[l] - c[l] : R[l] - r[l]
        if sel.removed + inc > target { break }
        sel.removed += inc
        sel.threshold = cand.cost
        if cand.isRow { r[l] += 1; sel.rows[l].append(cand.index) } else { c[l] += 1; sel.cols[l].append(cand.index) }
    }
    for l in sel.rows.indices { sel.rows[l].sort(); sel.cols[l].sort() }
    return sel
}
