import Foundation

/// Figure 1: perplexity against sparsity, one polyline per output through its evaluated shots, or
/// per sweep of one-shot outputs (`series`), from the dense point at 0 when the dense perplexity is
/// known; log y when the values span more than a factor of 10. Outputs without evaluated shots are
/// named in the legend, without a line.
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

    /// What the figure draws: one line per output with several evaluated shots, and one line per
    /// sweep — the outputs of one method and structure that each have a single evaluated shot
    /// (one-shot runs at several sparsities), joined in order of sparsity. Lines keep the order of
    /// their first output; outputs without an evaluated shot are named alone, without a line.
    struct Series {
        var label: String
        var names: [String]
        var points: [(shot: Int, x: Double, y: Double)]
        var pointNames: [String]
    }

    static func series(_ outputs: [ReportedOutput], dense: Double?) -> [Series] {
        var out: [Series] = [], sweepOf: [String: Int] = [:]
        for o in outputs {
            guard points(o, dense: nil).count == 1 else {
                let p = points(o, dense: dense)
                out.append(Series(label: o.label, names: [o.name], points: p, pointNames: p.map { $0.shot == 0 ? "dense" : o.name }))
                continue
            }
            let at: Int
            if let k = sweepOf[o.label] {
                at = k
            } else {
                at = out.count
                sweepOf[o.label] = at
                out.append(Series(label: o.label, names: [], points: [], pointNames: []))
            }
            out[at].names.append(o.name)
            out[at].points += points(o, dense: nil)
            out[at].pointNames.append(o.name)
        }
        for i in out.indices where sweepOf[out[i].label] == i {
            // a sweep: by sparsity, from the dense point
            let order = out[i].points.indices.sorted { (out[i].points[$0].x, $0) < (out[i].points[$1].x, $1) }
            out[i].points = order.map { out[i].points[$0] }
            out[i].pointNames = order.map { out[i].pointNames[$0] }
            if let dense, dense.isFinite, dense > 0 {
                out[i].points.insert((0, 0, dense), at: 0)
                out[i].pointNames.insert("dense", at: 0)
            }
        }
        return out
    }

    static func draw(_ outputs: [ReportedOutput], densePerplexity: Double?) -> SVGDrawing {
        let all = series(outputs, dense: densePerplexity)
        let drawn = all.filter { $0.points.count > 0 }
        let xs = drawn.flatMap { $0.points.map(\.x) }, ys = drawn.flatMap { $0.points.map(\.y) }
        var (d, axes) = SparsityAxes.figure(title: "Perplexity against sparsity", heading: "Perplexity vs sparsity", outputs: all.count,
                                            extraHeight: 10, xs: xs, ys: ys, xLabel: "sparsity of the block linears", yLabel: "perplexity",
                                            empty: "no output records an evaluated shot (compress with --eval-file)")
        let x = axes.x, y = axes.y, left = SparsityAxes.left, legendTop = SparsityAxes.legendTop
        for (i, s) in all.enumerated() {
            let c = Palette.series(i), p = s.points
            let names = s.names.joined(separator: ", ")
            if p.count > 0 {
                d.polyline(p.map { (x($0.x), y($0.y)) }, stroke: c, cls: "series", title: "\(s.label) (\(names))")
                for (q, who) in zip(p, s.pointNames) {
                    let what = q.shot == 0 ? "dense" : s.names.count > 1 ? who : "\(who) shot \(q.shot)"
                    d.circle(x: x(q.x), y: y(q.y), r: 3, fill: c,
                             title: String(format: "%@: sparsity %.4f, perplexity %.4f", what, q.x, q.y))
                }
            }
            let ly = legendTop + 18 * Double(i)
            d.line(x1: left, y1: ly - 4, x2: left + 24, y2: ly - 4, stroke: c, width: 2)
            var label = "\(s.label) — \(names)"
            if p.isEmpty { label += " (no evaluated shot)" } else if p.count == 1 && densePerplexity == nil { label += " (one point)" }
            else if s.names.count > 1 { label += " (one-shot runs)" }
            d.text(label, x: left + 32, y: ly)
        }
        return d
    }
}
