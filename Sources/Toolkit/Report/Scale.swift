import Foundation

/// A map from data values to pixels, linear or logarithmic, with the ticks an axis shows.
struct Scale {
    let lo: Double
    let hi: Double
    let from: Double   // pixel of lo
    let to: Double     // pixel of hi
    let log: Bool

    /// A scale over [lo, hi] (widened when empty; for log, both > 0).
    init(lo: Double, hi: Double, from: Double, to: Double, log: Bool = false) {
        var lo = lo, hi = hi
        if log { lo = max(lo, 1e-12); hi = max(hi, lo) }
        if hi <= lo {   // one value: a range around it
            if log { lo /= 2; hi = lo * 4 } else { let pad = max(abs(lo) * 0.1, 1); lo -= pad; hi += pad }
        }
        self.lo = lo
        self.hi = hi
        self.from = from
        self.to = to
        self.log = log
    }

    func callAsFunction(_ v: Double) -> Double {
        let t = log ? (Foundation.log10(max(v, 1e-12)) - Foundation.log10(lo)) / (Foundation.log10(hi) - Foundation.log10(lo))
                    : (v - lo) / (hi - lo)
        return from + t * (to - from)
    }

    /// About `count` round values inside [lo, hi]: multiples of 1, 2 or 5 × 10^k (linear); powers
    /// of ten, with 2×, 3× and 5× between them over fewer than three decades (log).
    func ticks(count: Int = 5) -> [Double] {
        if log {
            let a = Int(Foundation.log10(lo).rounded(.down)), b = Int(Foundation.log10(hi).rounded(.up))
            let mults: [Double] = b - a < 3 ? [1, 2, 3, 5] : [1]
            var out: [Double] = []
            for e in a...b { for m in mults { let v = m * pow(10, Double(e)); if v >= lo * 0.999, v <= hi * 1.001 { out.append(v) } } }
            return out
        }
        let raw = (hi - lo) / Double(max(count, 1))
        let mag = pow(10, Foundation.log10(raw).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var out: [Double] = []
        var k = (lo / step).rounded(.up)
        while k * step <= hi + step * 1e-9, out.count < 50 {
            // k × step printed to 12 digits: 0.3, not 0.30000000000000004
            out.append(Double(String(format: "%.12g", k * step)) ?? k * step)
            k += 1
        }
        return out
    }

    /// A tick label: up to 3 significant digits, no trailing zeros.
    static func label(_ v: Double) -> String {
        if v != 0, abs(v) >= 1e5 || abs(v) < 1e-3 {   // 1e7, 2e-4
            return String(format: "%.0e", v).replacingOccurrences(of: "e+0", with: "e").replacingOccurrences(of: "e+", with: "e")
                .replacingOccurrences(of: "e-0", with: "e-")
        }
        if v == v.rounded() { return String(format: "%.0f", v) }   // 1000, not 1e+03
        var s = String(format: "%.3g", v)
        if s.contains("."), !s.contains("e") { while s.hasSuffix("0") { s.removeLast() }; if s.hasSuffix(".") { s.removeLast() } }
        return s
    }
}

/// Axes of a plot area: frame, ticks, grid lines and labels.
extension SVGDrawing {
    mutating func axes(x: Scale, y: Scale, xLabel: String, yLabel: String, xFormat: (Double) -> String = Scale.label) {
        let top = min(y.from, y.to), bottom = max(y.from, y.to), left = min(x.from, x.to), right = max(x.from, x.to)
        for t in y.ticks() {
            let py = y(t)
            line(x1: left, y1: py, x2: right, y2: py, stroke: "#e4e4e4")
            text(Scale.label(t), x: left - 6, y: py + 4, anchor: "end", size: 10)
        }
        for t in x.ticks() {
            let px = x(t)
            line(x1: px, y1: top, x2: px, y2: bottom, stroke: "#e4e4e4")
            text(xFormat(t), x: px, y: bottom + 15, anchor: "middle", size: 10)
        }
        rect(x: left, y: top, width: right - left, height: bottom - top, fill: "none", stroke: "#666")
        text(xLabel, x: (left + right) / 2, y: bottom + 32, anchor: "middle", size: 11)
        text(yLabel, x: left - 42, y: (top + bottom) / 2, anchor: "middle", size: 11, rotate: -90)
    }
}

/// The axes of a figure over sparsity: x from 0 to the next tenth above the largest value (0.3002
/// stays 0.3: actual sparsities overshoot their target a little), at most 1; y linear with 8%
/// margins, or log when the values span more than a factor of 10.
struct SparsityAxes {
    let x: Scale, y: Scale, log: Bool
    /// The frame both sparsity figures share: plot left/top/size and where the legend starts.
    static let left = 70.0, top = 36.0, plotW = 560.0, plotH = 300.0
    static let legendTop = top + plotH + 50

    /// A figure over sparsity with one legend line per output (plus `extraHeight` below): the
    /// drawing with its heading, the axes (log y labelled so) and, when `xs` is empty, `empty` in the plot.
    static func figure(title: String, heading: String, outputs: Int, extraHeight: Double, xs: [Double], ys: [Double],
                       xLabel: String, yLabel: String, empty: String) -> (drawing: SVGDrawing, axes: SparsityAxes) {
        var d = SVGDrawing(width: left + plotW + 30, height: legendTop + 18 * Double(outputs) + extraHeight, title: title)
        d.text(heading, x: left, y: 20, size: 14, weight: "bold")
        let a = SparsityAxes(xs: xs, ys: ys, left: left, top: top, width: plotW, height: plotH)
        d.axes(x: a.x, y: a.y, xLabel: xLabel, yLabel: a.log ? yLabel + " (log scale)" : yLabel, xFormat: { Scale.label($0 * 100) + "%" })
        if xs.isEmpty { d.text(empty, x: left + plotW / 2, y: top + plotH / 2, anchor: "middle", size: 12, fill: "#666") }
        return (d, a)
    }

    init(xs: [Double], ys: [Double], left: Double, top: Double, width: Double, height: Double) {
        let maxX = min(max(((xs.max() ?? 0.1) * 10 - 0.01).rounded(.up), 1) / 10, 1)
        x = Scale(lo: 0, hi: maxX, from: left, to: left + width)
        let yMin = ys.min() ?? 1, yMax = ys.max() ?? 10
        log = yMax / yMin > 10
        let pad = max(0.08 * (yMax - yMin), 0.01 * yMax)
        y = log ? Scale(lo: yMin / 1.15, hi: yMax * 1.15, from: top + height, to: top, log: true)
                : Scale(lo: max(0, yMin - pad), hi: yMax + pad, from: top + height, to: top)
    }
}
