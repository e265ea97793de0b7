import Foundation

/// Figure 4: what the surgery bought. Bars of the block linears' bytes (dense float32 of each
/// source model, then each output as stored, from compression.json) and, with a bench file, bars of
/// tokens/s per test (one bar per benched model, ± one standard deviation).
enum BarsFigure {
    struct Bar {
        var label: String
        var value: Double
        var colour: String
        var note: String
        var sd: Double = 0
    }

    /// Horizontal bars from `y`, scaled to the largest value; returns the y below the last bar.
    static func bars(_ d: inout SVGDrawing, _ items: [Bar], x: Double, y: Double, width: Double, cls: String) -> Double {
        let top = items.map { $0.value + $0.sd }.filter(\.isFinite).max() ?? 1
        let s = Scale(lo: 0, hi: max(top, 1e-9), from: x, to: x + width)
        var yy = y
        for b in items {
            let label = b.label.count > 36 ? b.label.prefix(34) + "…" : b.label
            d.text(String(label), x: x - 8, y: yy + 12, anchor: "end", size: 11)
            if b.value.isFinite, b.value >= 0 {
                d.rect(x: x, y: yy, width: s(b.value) - x, height: 16, fill: b.colour, cls: cls, title: "\(b.label): \(b.note)")
                if b.sd > 0, b.sd.isFinite {
                    d.line(x1: s(b.value - b.sd), y1: yy + 8, x2: s(b.value + b.sd), y2: yy + 8, stroke: "#222")
                }
                d.text(b.note, x: s(b.value + b.sd) + 6, y: yy + 12, size: 10, fill: "#333")
            }
            yy += 22
        }
        return yy
    }

    static func sizeBars(_ outputs: [ReportedOutput]) -> [Bar] {
        var out: [Bar] = []
        var sources: [String] = []
        for o in outputs where !sources.contains(o.compression.source) { sources.append(o.compression.source) }
        for src in sources {
            guard let o = outputs.first(where: { $0.compression.source == src }) else { continue }
            let mib = Double(o.linearDenseBytes) / 1_048_576
            out.append(Bar(label: "dense " + (src as NSString).lastPathComponent, value: mib, colour: Palette.dense,
                           note: String(format: "%.1f MiB", mib)))
        }
        for (i, o) in outputs.enumerated() {
            let mib = Double(o.linearBytes) / 1_048_576
            out.append(Bar(label: o.name, value: mib, colour: Palette.series(i),
                           note: String(format: "%.1f MiB (%.3f of dense)", mib, Double(o.linearBytes) / Double(max(o.linearDenseBytes, 1)))))
        }
        return out
    }

    static func draw(_ outputs: [ReportedOutput], bench: BenchReport?) -> SVGDrawing {
        let left = 250.0, barW = 360.0
        let sizes = sizeBars(outputs)
        var tests: [String] = []
        for r in bench?.rows ?? [] where !tests.contains(r.test) { tests.append(r.test) }
        let benchRows = tests.reduce(0) { n, t in n + (bench?.rows.filter { $0.test == t }.count ?? 0) }
        let height = 50 + 22 * Double(sizes.count) + (tests.isEmpty ? 20 : 40 + Double(tests.count) * 30 + 22 * Double(benchRows))
        var d = SVGDrawing(width: left + barW + 190, height: height, title: "Bytes and speed")
        d.text("Size of the block linears", x: 10, y: 20, size: 14, weight: "bold")
        var y = bars(&d, sizes, x: left, y: 34, width: barW, cls: "bar-bytes")
        guard let bench, !tests.isEmpty else { return d }
        y += 22
        d.text("Speed (surgeon bench, tokens/s)", x: 10, y: y, size: 14, weight: "bold")
        y += 12
        for t in tests {
            y += 16
            d.text(t, x: 10, y: y, size: 12, weight: "bold")
            y += 6
            let items = bench.rows.filter { $0.test == t }.map { r -> Bar in
                let name = ((r.model as NSString).standardizingPath as NSString).lastPathComponent
                let i = outputs.firstIndex { $0.name == name }
                return Bar(label: name, value: r.tpsMean, colour: i.map(Palette.series) ?? Palette.dense,
                           note: String(format: "%.1f ± %.1f t/s (%.2fx)", r.tpsMean, r.tpsSd, r.speedup), sd: r.tpsSd)
            }
            y = bars(&d, items, x: left, y: y, width: barW, cls: "bar-speed")
        }
        return d
    }
}
