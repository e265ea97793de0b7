import Foundation
import Runtime

/// `surgeon report`: the figures of one or more compressed outputs as one self-contained HTML page
/// (inline SVG, no script, no network) and, on request, as standalone .svg files.
public struct ReportPage: Sendable {
    public var outputs: [ReportedOutput]
    public var bench: BenchReport?
    /// The dense model's perplexity: the point at sparsity 0 of every line (compression.json does
    /// not record it; `compress --report` passes the one it measured).
    public var densePerplexity: Double?

    /// Outputs with unique names (a repeated directory name gets its parent's name in front).
    public init(outputs: [ReportedOutput], bench: BenchReport? = nil, densePerplexity: Double? = nil) throws {
        guard !outputs.isEmpty else { throw ReportError.noOutputs }
        var seen = Set<String>()
        var named = outputs
        for i in named.indices {
            let abs = (named[i].path as NSString).standardizingPath
            if outputs[..<i].contains(where: { ($0.path as NSString).standardizingPath == abs }) {
                throw ReportError.duplicateOutput(named[i].path)
            }
            if seen.contains(named[i].name) {
                let parent = ((abs as NSString).deletingLastPathComponent as NSString).lastPathComponent
                named[i].name = parent + "/" + named[i].name
                var k = 2
                while seen.contains(named[i].name) { named[i].name = "\(parent)/\(outputs[i].name)-\(k)"; k += 1 }
            }
            seen.insert(named[i].name)
        }
        self.outputs = named
        self.bench = bench
        self.densePerplexity = densePerplexity.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
    }

    /// Reads each output directory (compression.json, and the model for the heads figure) and the bench file.
    public static func load(outputs dirs: [String], bench: String? = nil, densePerplexity: Double? = nil) throws -> ReportPage {
        let outputs = try dirs.map { try ReportedOutput.load($0) }
        return try ReportPage(outputs: outputs, bench: try bench.map(readBenchReport), densePerplexity: densePerplexity)
    }

    /// A figure: its file name for `--svg`, its caption, its drawing.
    public struct Figure: Sendable {
        public var file: String
        public var caption: String
        public var svg: String          // the <svg> element (inline form)
        public var standalone: String   // with the XML declaration (file form)
    }

    /// A file-name-safe form of an output name.
    static func slug(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
    }

    /// Every figure in page order: perplexity, the adaptive attempts (when any output has them), per
    /// output its layer map and heads, bytes and speed.
    public func figures() -> [Figure] {
        func fig(_ file: String, _ caption: String, _ d: SVGDrawing) -> Figure {
            Figure(file: file, caption: caption, svg: d.document(), standalone: d.file())
        }
        var out = [fig("perplexity.svg", "Perplexity against sparsity of the block linears"
                       + (densePerplexity.map { String(format: " (dense %.4f at 0)", $0) } ?? " (dense perplexity not given)"),
                       PerplexityFigure.draw(outputs, densePerplexity: densePerplexity))]
        if outputs.contains(where: { !($0.compression.attempts ?? []).isEmpty }) {
            out.append(fig("schedule.svg", "Held-out perplexity of every attempt of the adaptive schedule; red crosses: attempts undone",
                           ScheduleFigure.draw(outputs)))
        }
        for o in outputs {
            out.append(fig("layers-\(Self.slug(o.name)).svg", "Per-layer sparsity of \(o.name) (\(o.label)); hover a cell for its numbers",
                           LayerMapFigure.draw(o)))
        }
        for o in outputs {
            guard let h = o.heads, h.anyCompact else { continue }
            out.append(fig("heads-\(Self.slug(o.name)).svg", "Kept q·k and value dimensions per kv group of \(o.name)", HeadsFigure.draw(o, heads: h)))
        }
        out.append(fig("bytes-speed.svg", bench == nil ? "Bytes of the block linears (no bench file given)" : "Bytes of the block linears and speed",
                       BarsFigure.draw(outputs, bench: bench)))
        return out
    }

    /// The HTML page: headings, each figure inline with its caption, the heads note, the recipe table.
    public func html() -> String {
        let figs = figures()
        var s = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8"/>
        <title>surgeon report</title>
        <style>
        body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1300px; }
        figure { margin: 16px 0 28px 0; display: inline-block; vertical-align: top; }
        figcaption { font-size: 13px; color: #444; margin-top: 4px; max-width: 720px; }
        table.recipe { border-collapse: collapse; font-size: 13px; }
        table.recipe th, table.recipe td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
        table.recipe th { background: #f3f3f3; }
        p.note { color: #555; font-size: 13px; }
        </style>
        </head>
        <body>
        <h1>What the surgery did</h1>

        """
        s += "<p class=\"note\">" + xmlEscaped(outputs.map { "\($0.name): \($0.label), \(String(format: "%.2f%%", 100 * $0.compression.actualSparsity)) sparse" }
            .joined(separator: "; ")) + "</p>\n"
        func section(_ title: String, _ figures: [Figure]) {
            s += "<h2>\(xmlEscaped(title))</h2>\n"
            for f in figures { s += "<figure>\n\(f.svg)<figcaption>\(xmlEscaped(f.caption))</figcaption>\n</figure>\n" }
        }
        section("1. Perplexity against sparsity", figs.filter { $0.file == "perplexity.svg" || $0.file == "schedule.svg" })
        section("2. Where it cut", figs.filter { $0.file.hasPrefix("layers-") })
        section("3. Attention heads", figs.filter { $0.file.hasPrefix("heads-") })
        let plain = outputs.filter { !($0.heads?.anyCompact ?? false) }.map(\.name)
        if !plain.isEmpty {
            s += "<p class=\"note\">" + xmlEscaped("No compact attention (every head keeps all its dimensions): " + plain.joined(separator: ", ")) + "</p>\n"
        }
        section("4. Bytes and speed", figs.filter { $0.file == "bytes-speed.svg" })
        s += "<h2>5. Recipes</h2>\n" + RecipeTable.html(outputs)
        s += "</body>\n</html>\n"
        return s
    }

    /// Writes the page to `path` (atomically) and, when `svgDirectory` is given, each figure there
    /// as a standalone .svg (the directory is created when missing). Returns the files written.
    /// A failure is a `FileOperationError` (write) naming the file.
    @discardableResult
    public func write(html path: String, svgDirectory: String? = nil) throws -> [String] {
        func put(_ text: String, _ file: String) throws {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
            } catch {
                throw FileOperationError(.write, path: file, error: error)
            }
        }
        try put(html(), path)
        var written = [path]
        if let dir = svgDirectory {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw FileOperationError(.write, path: dir, error: error)
            }
            for f in figures() {
                let p = (dir as NSString).appendingPathComponent(f.file)
                try put(f.standalone, p)
                written.append(p)
            }
        }
        return written
    }
}
