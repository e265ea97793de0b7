import Foundation
import Runtime

/// Figure 2: where the surgeon cut. Rows are blocks, columns the block's linear slots in the
/// architecture descriptor's order (q/k/v/o/gate/up/down; OPT q/k/v/out/fc1/fc2); the colour is the
/// layer's sparsity, and for rows-columns the upper half is the fraction of rows removed and the lower
/// half the fraction of columns. One `<g class="cell">` per layer, with its numbers as `<title>`.
enum LayerMapFigure {
    /// "q", "gate", "out", "fc1": the slot's Hugging Face name without its module path and `_proj`.
    static func shortName(_ slot: LinearSlot) -> String {
        let last = slot.hf.split(separator: ".").last.map(String.init) ?? slot.hf
        return last.hasSuffix("_proj") ? String(last.dropLast("_proj".count)) : last
    }

    static let cellW = 46.0, cellH = 15.0

    static func draw(_ o: ReportedOutput) -> SVGDrawing {
        let slots = o.descriptor.linears, blocks = o.blocks
        let rowsColumns = o.compression.recipe.structure == .rowsColumns
        let left = 70.0, top = 74.0
        let gridW = cellW * Double(slots.count), gridH = cellH * Double(blocks)
        let width = left + gridW + 150, height = max(top + gridH + 30, top + 230)
        var d = SVGDrawing(width: width, height: height, title: "Per-layer sparsity of \(o.name)")
        d.text("Where it cut: \(o.name)", x: 10, y: 20, size: 14, weight: "bold")
        d.text(String(format: "%@, target %.0f%%, actual %.2f%%", o.label, 100 * o.compression.recipe.targetSparsity,
                      100 * o.compression.actualSparsity), x: 10, y: 38, size: 11, fill: "#444")
        for (s, slot) in slots.enumerated() {
            d.text(shortName(slot), x: left + cellW * (Double(s) + 0.5), y: top - 8, anchor: "middle", size: 11, weight: "bold")
        }
        for b in 0..<blocks where blocks <= 40 || b % 5 == 0 {
            d.text("block \(b)", x: left - 6, y: top + cellH * (Double(b) + 0.5) + 4, anchor: "end", size: 10)
        }
        for l in o.compression.layers {
            guard let (b, s) = o.descriptor.parseLinear(l.name) else { continue }
            let x = left + cellW * Double(s), y = top + cellH * Double(b)
            let rows = l.shape[0], cols = l.shape[1] + (l.bias ? 1 : 0)
            let rowFrac = Double(l.removedRows.count) / Double(max(rows, 1))
            let colFrac = Double(l.removedCols.count) / Double(max(cols, 1))
            var title = "\(l.name) [\(l.shape[0])×\(l.shape[1])]: sparsity " + String(format: "%.2f%%", 100 * l.sparsity)
            if rowsColumns || !l.removedRows.isEmpty || !l.removedCols.isEmpty {
                title += ", \(l.removedRows.count) of \(rows) rows and \(l.removedCols.count) of \(cols) columns removed"
            }
            if let st = l.storage { title += ", stored \(st)" }
            if let by = l.bytes { title += String(format: ", %.2f MiB", Double(by) / 1_048_576) }
            d.beginGroup(cls: "cell", title: title)
            if rowsColumns {
                d.rect(x: x, y: y, width: cellW, height: cellH / 2, fill: Palette.sequential(rowFrac))
                d.rect(x: x, y: y + cellH / 2, width: cellW, height: cellH / 2, fill: Palette.sequential(colFrac))
            } else {
                d.rect(x: x, y: y, width: cellW, height: cellH, fill: Palette.sequential(l.sparsity))
            }
            d.rect(x: x, y: y, width: cellW, height: cellH, fill: "none", stroke: "#ffffff")
            if l.sparsity.isFinite {
                let dark = (rowsColumns ? (rowFrac + colFrac) / 2 : l.sparsity) > 0.55
                d.text(String(format: "%.0f", 100 * l.sparsity), x: x + cellW / 2, y: y + cellH - 4, anchor: "middle", size: 9,
                       fill: dark ? "#ffffff" : "#111111", halo: dark ? "#08306b" : "#ffffff")
            }
            d.endGroup()
        }
        colourKey(&d, x: left + gridW + 24, y: top,
                  caption: rowsColumns ? ["upper half: rows", "removed; lower", "half: columns", "removed; number:", "sparsity %"]
                                       : ["colour and number:", "sparsity %"])
        return d
    }

    /// The colour scale from 0 to 100% and what the colours mean.
    static func colourKey(_ d: inout SVGDrawing, x: Double, y: Double, caption: [String]) {
        let h = 120.0, steps = 20
        for i in 0..<steps {
            let t = Double(i) / Double(steps - 1)
            d.rect(x: x, y: y + h * (1 - Double(i + 1) / Double(steps)), width: 14, height: h / Double(steps) + 0.5, fill: Palette.sequential(t))
        }
        d.rect(x: x, y: y, width: 14, height: h, fill: "none", stroke: "#666")
        for t in [0.0, 0.5, 1.0] { d.text(Scale.label(100 * t) + "%", x: x + 18, y: y + h * (1 - t) + 4, size: 10) }
        for (i, s) in caption.enumerated() { d.text(s, x: x - 6, y: y + h + 20 + 13 * Double(i), size: 10, fill: "#444") }
    }
}
