import Foundation

/// Figure 1: perplexity against sparsity, one polyline per output through its evaluated shots
/// (from the dense point at 0 when the dense perplexity is known); log y when the values span more
/// than a factor of 10. Outputs without evaluated shots are named in the legend, without a line.
enum PerplexityFigure {
    /// The points of one output: each shot with a finite positive perplexity, preceded by (0, dense)
    /// when the dense perplexity is known and the output has any such shot.
    static func points(_ o: ReportedOutput, dense: Double?) -> [(shot: Int, x: Double, y: Double)] {
        var p: [(shot: Int, x: Double, y: Double)] = []
        for s in o.compression.shots {
            guard let y = s.perplexity, y.isFinite, y > 0, s.actualSparsity.isFinite else { continue }
            p.append((s.shot, min(max(s.actualSparsity, 0), 1), y))
        }
        if !p.isEmpty, let dense, dense.isFinite, dense > 0 { p.insert((0, 0, dense), at: 0) }
        return p
    }

    static func draw(_ outputs: [ReportedOutput], densePerplexity: Double?) -> SVGDrawing {
        let series = outputs.map { points($0, dense: densePerplexity) }
        let drawn = series.filter { $0.count > 0 }
        let xs = drawn.flatMap { $0.map(\.x) }, ys = drawn.flatMap { $0.map(\.y) }
        var (d, axes) = SparsityAxes.figure(title: "Perplexity against sparsity", heading: "Perplexity vs sparsity", outputs: outputs.count,
                                            extraHeight: 10, xs: xs, ys: ys, xLabel: "sparsity of the block linears", yLabel: "perplexity",
                                            empty: "no output records an evaluated shot (compress with --eval-file)")
        let x = axes.x, y = axes.y, left = SparsityAxes.left, legendTop = SparsityAxes.legendTop
        for (i, o) in outputs.enumerated() {
            let c = Palette.series(i), p = series[i]
            if p.count > 0 {
                d.polyline(p.map { (x($0.x), y($0.y)) }, stroke: c, cls: "series", title: "\(o.label) (\(o.name))")
                for q in p {
                    let what = q.shot == 0 ? "dense" : "\(o.name) shot \(q.shot)"
                    d.circle(x: x(q.x), y: y(q.y), r: 3, fill: c,
                             title: String(format: "%@: sparsity %.4f, perplexity %.4f", what, q.x, q.y))
                }
            }
            let ly = legendTop + 18 * Double(i)
            d.line(x1: left, y1: ly - 4, x2: left + 24, y2: ly - 4, stroke: c, width: 2)
            var label = "\(o.label) — \(o.name)"
            if p.isEmpty { label += " (no evaluated shot)" } else if p.count == 1 && densePerplexity == nil { label += " (one point)" }
            d.text(label, x: left + 32, y: ly)
        }
        return d
    }
}
