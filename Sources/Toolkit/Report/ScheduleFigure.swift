import Foundation
import Surgery

/// Figure: the adaptive schedule's attempts. Per output with recorded attempts, the held-out
/// perplexity (exp of the held-out loss) along the kept shots as a line from the dense point, and
/// each undone attempt as a dashed line from where it started to a cross where it ended; its bound
/// as a tick above the start. Outputs without attempts (linear schedules) are named in the legend.
enum ScheduleFigure {
    /// One output's points: the kept chain (dense first) and the undone attempts.
    struct Series {
        var kept: [(x: Double, y: Double, title: String)] = []
        var undone: [(x0: Double, y0: Double, x1: Double, y1: Double, title: String)] = []
    }

    /// exp(loss) when finite and positive (a NaN or infinite loss draws nothing).
    static func perplexity(_ loss: Double) -> Double? {
        let p = exp(loss)
        return p.isFinite && p > 0 ? p : nil
    }

    static func series(_ o: ReportedOutput) -> Series {
        var s = Series()
        guard let attempts = o.compression.attempts, !attempts.isEmpty else { return s }
        if let dense = o.compression.heldOut?.dense, let y = perplexity(dense) {
            s.kept.append((0, y, String(format: "%@: dense, held-out perplexity %.4f", o.name, y)))
        }
        for a in attempts {
            guard let y0 = perplexity(a.lossBefore), let y1 = perplexity(a.lossAfter), a.from.isFinite, a.to.isFinite else { continue }
            let what = String(format: "%@ attempt %d: %.2f%% → %.2f%%, held-out loss %+.4f (bound %.4f), %@", o.name, a.attempt,
                              100 * a.from, 100 * a.to, a.rise, a.bound, a.verdict.rawValue)
            if a.verdict == .rejected {
                s.undone.append((a.from, y0, a.to, y1, what))
            } else {
                s.kept.append((a.to, y1, what))
            }
        }
        return s
    }

    static func draw(_ outputs: [ReportedOutput]) -> SVGDrawing {
        let all = outputs.map(series)
        let xs = all.flatMap { $0.kept.map(\.x) + $0.undone.map(\.x1) }
        let ys = all.flatMap { $0.kept.map(\.y) + $0.undone.flatMap { [$0.y0, $0.y1] } }
        var (d, axes) = SparsityAxes.figure(title: "Attempts of the adaptive schedule", heading: "Held-out perplexity per attempt",
                                            outputs: outputs.count, extraHeight: 28, xs: xs, ys: ys,
                                            xLabel: "target sparsity of the block linears", yLabel: "held-out perplexity",
                                            empty: "no output records adaptive attempts (compress --schedule adaptive)")
        let x = axes.x, y = axes.y, left = SparsityAxes.left, legendTop = SparsityAxes.legendTop
        for (i, o) in outputs.enumerated() {
            let c = Palette.series(i), s = all[i]
            if s.kept.count > 1 { d.polyline(s.kept.map { (x($0.x), y($0.y)) }, stroke: c, cls: "kept", title: "\(o.name): kept shots") }
            for k in s.kept { d.circle(x: x(k.x), y: y(k.y), r: 3, fill: c, title: k.title) }
            for u in s.undone {
                d.beginGroup(cls: "undone", title: u.title)
                d.line(x1: x(u.x0), y1: y(u.y0), x2: x(u.x1), y2: y(u.y1), stroke: c, width: 1, dash: true)
                let cx = x(u.x1), cy = y(u.y1), r = 4.0
                d.line(x1: cx - r, y1: cy - r, x2: cx + r, y2: cy + r, stroke: "#C00000", width: 2)
                d.line(x1: cx - r, y1: cy + r, x2: cx + r, y2: cy - r, stroke: "#C00000", width: 2)
                d.endGroup()
            }
            let ly = legendTop + 18 * Double(i)
            d.line(x1: left, y1: ly - 4, x2: left + 24, y2: ly - 4, stroke: c, width: 2)
            var label = "\(o.label) — \(o.name)"
            if s.kept.isEmpty && s.undone.isEmpty { label += " (no adaptive attempts)" } else { label += " (\(s.undone.count) undone)" }
            d.text(label, x: left + 32, y: ly)
        }
        d.text("dots: kept shots; red crosses: attempts undone (their held-out loss rose past the bound)",
               x: left, y: legendTop + 18 * Double(outputs.count) + 6, size: 11, fill: "#555")
        return d
    }
}
