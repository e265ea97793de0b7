import Foundation

/// Figure 3: the attention heads each output keeps. Rows are blocks, columns kv groups (a group is
/// one key/value head and the query heads that share it); the left half of a cell is the fraction
/// of q·k dimensions removed, the right half the fraction of value dimensions, the numbers are the
/// kept dimensions. One `<g class="head">` per block and group.
enum HeadsFigure {
    static let cellW = 64.0, cellH = 15.0

    static func draw(_ o: ReportedOutput, heads h: HeadDims) -> SVGDrawing {
        let left = 70.0, top = 74.0, groups = h.kvHeads, blocks = h.qk.count
        let gridW = cellW * Double(groups), gridH = cellH * Double(blocks)
        let width = max(left + gridW + 150, 480), height = max(top + gridH + 30, top + 230)
        var d = SVGDrawing(width: width, height: height, title: "Kept attention dimensions of \(o.name)")
        d.text("Attention heads: \(o.name)", x: 10, y: 20, size: 14, weight: "bold")
        let perGroup = h.heads / max(h.kvHeads, 1)
        d.text("\(h.heads) query heads in \(h.kvHeads) kv groups, \(h.headDim) dims each; cell: kept q·k | value dims",
               x: 10, y: 38, size: 11, fill: "#444")
        for g in 0..<groups {
            d.text("group \(g)", x: left + cellW * (Double(g) + 0.5), y: top - 8, anchor: "middle", size: 11, weight: "bold")
        }
        for b in 0..<blocks {
            let y = top + cellH * Double(b)
            if blocks <= 40 || b % 5 == 0 { d.text("block \(b)", x: left - 6, y: y + cellH / 2 + 4, anchor: "end", size: 10) }
            for g in 0..<min(groups, h.qk[b].count, h.v[b].count) {
                let x = left + cellW * Double(g), qk = h.qk[b][g], v = h.v[b][g]
                let qkGone = 1 - Double(qk) / Double(max(h.headDim, 1)), vGone = 1 - Double(v) / Double(max(h.headDim, 1))
                let first = g * perGroup, last = first + perGroup - 1
                let who = perGroup > 1 ? "query heads \(first)–\(last)" : "head \(g)"
                d.beginGroup(cls: "head", title: "block \(b), kv group \(g) (\(who)): q·k \(qk) of \(h.headDim) dims kept, value \(v) of \(h.headDim)")
                d.rect(x: x, y: y, width: cellW / 2, height: cellH, fill: Palette.sequential(qkGone))
                d.rect(x: x + cellW / 2, y: y, width: cellW / 2, height: cellH, fill: Palette.sequential(vGone))
                d.rect(x: x, y: y, width: cellW, height: cellH, fill: "none", stroke: "#ffffff")
                d.text("\(qk)", x: x + cellW / 4, y: y + cellH - 4, anchor: "middle", size: 9, fill: qkGone > 0.55 ? "#ffffff" : "#111111", halo: qkGone > 0.55 ? "#08306b" : "#ffffff")
                d.text("\(v)", x: x + 3 * cellW / 4, y: y + cellH - 4, anchor: "middle", size: 9, fill: vGone > 0.55 ? "#ffffff" : "#111111", halo: vGone > 0.55 ? "#08306b" : "#ffffff")
                d.endGroup()
            }
        }
        LayerMapFigure.colourKey(&d, x: left + gridW + 24, y: top, caption: ["left: q·k, right:", "value; colour:", "dims removed"])
        return d
    }
}
