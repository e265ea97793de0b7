import Foundation

/// Text escaped for XML content and attribute values (`&`, `<`, `>`, `"`, `'`; control
/// characters other than tab and newline, which XML 1.0 forbids, become spaces).
func xmlEscaped(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for u in s.unicodeScalars {
        switch u {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n": out.unicodeScalars.append(u)
        default:
            if u.value < 0x20 || (0xFFFE...0xFFFF).contains(u.value) { out += " " } else { out.unicodeScalars.append(u) }
        }
    }
    return out
}

/// A coordinate or length as SVG writes it: two decimals, no exponent. Callers pass finite values
/// only (data that is not finite is dropped before it is scaled); a non-finite value is written as
/// `NaN` so that the structure tests catch it rather than hide it.
func svgNumber(_ v: Double) -> String {
    guard v.isFinite else { return "NaN" }
    let r = (v * 100).rounded() / 100
    return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
}

/// One SVG drawing built element by element; `document()` wraps it for a standalone file or for
/// inline use in HTML (the same markup: both are well-formed XML).
struct SVGDrawing {
    let width: Double
    let height: Double
    /// What the figure shows, as its `<title>` (screen readers, hover on the background).
    let title: String
    private(set) var body: [String] = []

    init(width: Double, height: Double, title: String) {
        self.width = width
        self.height = height
        self.title = title
    }

    mutating func raw(_ element: String) { body.append(element) }

    /// `<title>` child text of a hover number, or nothing.
    private func hover(_ title: String?) -> String { title.map { "<title>\(xmlEscaped($0))</title>" } ?? "" }

    mutating func rect(x: Double, y: Double, width w: Double, height h: Double, fill: String, stroke: String? = nil,
                       cls: String? = nil, title: String? = nil) {
        var a = "x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" width=\"\(svgNumber(max(w, 0)))\" height=\"\(svgNumber(max(h, 0)))\" fill=\"\(fill)\""
        if let stroke { a += " stroke=\"\(stroke)\" stroke-width=\"0.5\"" }
        if let cls { a += " class=\"\(cls)\"" }
        body.append(title == nil ? "<rect \(a)/>" : "<rect \(a)>\(hover(title))</rect>")
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String = "#999", width w: Double = 1, dash: Bool = false) {
        body.append("<line x1=\"\(svgNumber(x1))\" y1=\"\(svgNumber(y1))\" x2=\"\(svgNumber(x2))\" y2=\"\(svgNumber(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(svgNumber(w))\"\(dash ? " stroke-dasharray=\"3 3\"" : "")/>")
    }

    /// anchor: start, middle or end; rotate: degrees about (x, y).
    /// halo: an outline of that colour behind the glyphs (numbers over cells of any colour).
    mutating func text(_ s: String, x: Double, y: Double, anchor: String = "start", size: Double = 11, weight: String? = nil,
                       fill: String = "#222", rotate: Double? = nil, halo: String? = nil) {
        var a = "x=\"\(svgNumber(x))\" y=\"\(svgNumber(y))\" font-size=\"\(svgNumber(size))\" text-anchor=\"\(anchor)\" fill=\"\(fill)\""
        if let weight { a += " font-weight=\"\(weight)\"" }
        if let halo { a += " stroke=\"\(halo)\" class=\"halo\"" }
        if let rotate { a += " transform=\"rotate(\(svgNumber(rotate)) \(svgNumber(x)) \(svgNumber(y)))\"" }
        body.append("<text \(a)>\(xmlEscaped(s))</text>")
    }

    mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, cls: String? = nil, title: String? = nil) {
        let p = points.map { "\(svgNumber($0.x)),\(svgNumber($0.y))" }.joined(separator: " ")
        let c = cls.map { " class=\"\($0)\"" } ?? ""
        body.append("<polyline points=\"\(p)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"2\"\(c)>\(hover(title))</polyline>")
    }

    mutating func circle(x: Double, y: Double, r: Double, fill: String, title: String? = nil) {
        body.append("<circle cx=\"\(svgNumber(x))\" cy=\"\(svgNumber(y))\" r=\"\(svgNumber(r))\" fill=\"\(fill)\">\(hover(title))</circle>")
    }

    /// Opens a group (`<g class="...">`, optionally with a hover title); close it with `endGroup`.
    mutating func beginGroup(cls: String, title: String? = nil) { body.append("<g class=\"\(cls)\">\(hover(title))") }
    mutating func endGroup() { body.append("</g>") }

    /// The `<svg>` element with its namespace, size and view box, a white background and the body.
    func document() -> String {
        let w = svgNumber(width), h = svgNumber(height)
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" "
            + "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" role=\"img\">\n"
            + "<title>\(xmlEscaped(title))</title>\n"
            + "<style>text.halo { stroke-width: 2.2px; paint-order: stroke; stroke-linejoin: round; }</style>\n<rect x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\" fill=\"#ffffff\"/>\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }

    /// A standalone .svg file: the XML declaration and the drawing.
    func file() -> String { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + document() }
}

/// Colours of the figures.
enum Palette {
    /// Line and bar colours, one per output (cycled): colour-blind-safe (Okabe–Ito).
    static let series = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
    static func series(_ i: Int) -> String { series[i % series.count] }
    /// The dense model's colour in bar charts.
    static let dense = "#888888"

    /// A sequential colour for a fraction in [0, 1] (0 white-ish, 1 dark blue): linear in RGB between
    /// five stops of ColorBrewer's Blues. Values outside [0, 1] are clamped; NaN is grey.
    static func sequential(_ t: Double) -> String {
        guard t.isFinite else { return "#bbbbbb" }
        let stops: [(Double, Double, Double)] = [(247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107)]
        let x = min(max(t, 0), 1) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2), f = x - Double(i)
        let a = stops[i], b = stops[i + 1]
        func c(_ u: Double, _ v: Double) -> Int { Int((u + (v - u) * f).rounded()) }
        return String(format: "#%02x%02x%02x", c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
    }
}
