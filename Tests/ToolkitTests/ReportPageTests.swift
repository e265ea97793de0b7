import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Runtime
@testable import Surgery
@testable import Toolkit
import TestSupport

/// The elements of an XML document, in order, with their attributes and the text directly inside
/// them (a parse error fails the test that asked).
final class XMLElements: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
        var text = ""
        /// Index of the enclosing element (nil for the root).
        var parent: Int?
    }

    private(set) var elements: [Element] = []
    private var open: [Int] = []
    private(set) var error: Error?

    init(_ xml: String) {
        super.init()
        let p = XMLParser(data: Data(xml.utf8))
        p.delegate = self
        if !p.parse() { error = p.parserError ?? NSError(domain: "XMLParser", code: -1) }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append(Element(name: name, attributes: attributes, parent: open.last))
        open.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { open.removeLast() }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let i = open.last { elements[i].text += string }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { error = parseError }

    func all(_ name: String, cls: String? = nil) -> [Element] {
        elements.filter { $0.name == name && (cls == nil || $0.attributes["class"] == cls) }
    }

    /// The `<title>` text of element i, when it has one as a child.
    func title(of i: Int) -> String? { elements.first { $0.name == "title" && $0.parent == i }?.text }
    func indices(_ name: String, cls: String) -> [Int] {
        elements.indices.filter { elements[$0].name == name && elements[$0].attributes["class"] == cls }
    }
}

final class ReportPageTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// Compresses `fixture` with magnitude (no calibration needed), evaluating after each shot when `eval`.
    func compress(_ fixture: String, structure: Structure, sparsity: Double, shots: Int, eval: Bool, to out: String) throws -> CompressionSummary {
        var o = CompressionOptions(recipe: CompressionRecipe(method: .magnitude, structure: structure, targetSparsity: sparsity, shots: shots,
                                                             dampG: 0.01, dampA: 0.01), output: out)
        if eval {
            o.evalFile = Fixtures.wikiTest
            o.evalChunks = 2
            o.evalSeqlen = 128
        }
        return try CompressionJob(opened: try ModelLoader.open(Fixtures.fixture(fixture), requireTokenizer: eval), options: o).run()
    }

    /// Every coordinate and length attribute of every element parses as a finite number.
    func assertFiniteCoordinates(_ x: XMLElements, _ file: String) {
        let keys = ["x", "y", "width", "height", "x1", "y1", "x2", "y2", "cx", "cy", "r"]
        var checked = 0
        for e in x.elements {
            for k in keys { if let v = e.attributes[k] { XCTAssertTrue(Double(v)?.isFinite == true, "\(file): \(e.name) \(k)=\(v)"); checked += 1 } }
            for p in (e.attributes["points"] ?? "").split(separator: " ") {
                let xy = p.split(separator: ",").compactMap { Double($0) }
                XCTAssertTrue(xy.count == 2 && xy.allSatisfy(\.isFinite), "\(file): point \(p)"); checked += 1
            }
            if let vb = e.attributes["viewBox"] { XCTAssertTrue(vb.split(separator: " ").allSatisfy { Double($0)?.isFinite == true }, vb) }
        }
        XCTAssertGreaterThan(checked, 10, file)
    }

    /// A report of three fixture outputs (two Llama outputs with evaluated shots, one OPT output
    /// without; one directory name full of XML specials) and a bench file: every SVG and the page
    /// are well-formed XML, one polyline per evaluated output through its shots in perplexity
    /// order, one cell per layer and projection in the descriptor's columns, one head cell per
    /// block and kv group with the model's kept sizes, one bar per source, output and bench row.
    func testReportOfFixtureOutputs() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rc = try compress("stories260K", structure: .rowsColumns, sparsity: 0.3, shots: 2, eval: true, to: dir + "/rc")
        _ = try compress("stories260K", structure: .unstructured, sparsity: 0.5, shots: 2, eval: true, to: dir + "/un")
        let oddName = dir + "/opt <&> \"q\" 'x'"
        _ = try compress("tiny-opt", structure: .rowsColumns, sparsity: 0.2, shots: 1, eval: false, to: oddName)
        let benchFile = dir + "/bench.json"
        let bench = BenchReport(rows: [
            .init(model: Fixtures.fixture("stories260K"), test: "pp16", threads: 2, tpsMean: 100, tpsSd: 5, bytes: 1000, params: 10,
                  sparsity: 0, speedup: 1, linearBytes: 800, linearDenseBytes: 800),
            .init(model: dir + "/rc", test: "pp16", threads: 2, tpsMean: 150, tpsSd: 0, bytes: 700, params: 10,
                  sparsity: 0.3, speedup: 1.5, linearBytes: 500, linearDenseBytes: 800),
            .init(model: dir + "/rc", test: "tg8", threads: 2, tpsMean: 20, tpsSd: 1, bytes: 700, params: 10,
                  sparsity: 0.3, speedup: 1, linearBytes: 500, linearDenseBytes: 800)])
        try Data(try bench.json().utf8).write(to: URL(fileURLWithPath: benchFile))

        let dense = try XCTUnwrap(rc.pplBefore)
        let page = try ReportPage.load(outputs: [dir + "/rc", dir + "/un", oddName], bench: benchFile, densePerplexity: dense)
        XCTAssertEqual(page.outputs.map(\.name), ["rc", "un", "opt <&> \"q\" 'x'"])
        let figures = page.figures()
        var parsed: [String: XMLElements] = [:]
        for f in figures {
            for (form, xml) in [("inline", f.svg), ("file", f.standalone)] {
                let x = XMLElements(xml)
                XCTAssertNil(x.error, "\(f.file) (\(form)) is not well-formed: \(String(describing: x.error))")
                XCTAssertEqual(x.elements.first?.name, "svg", f.file)
                assertFiniteCoordinates(x, f.file)
                parsed[f.file] = x
            }
        }

        // 1. perplexity: one line per output with evaluated shots, from the dense point through each shot
        let ppl = try XCTUnwrap(parsed["perplexity.svg"])
        let lines = ppl.all("polyline", cls: "series")
        XCTAssertEqual(lines.count, 2)
        for (line, output) in zip(lines, page.outputs.prefix(2)) {
            let ys = (line.attributes["points"] ?? "").split(separator: " ").compactMap { $0.split(separator: ",").last.flatMap { Double($0) } }
            let values = [dense] + output.compression.shots.compactMap(\.perplexity)
            XCTAssertEqual(ys.count, 1 + 2, output.name)
            // a higher perplexity is drawn higher (smaller y); equal values at equal heights
            for i in values.indices { for j in values.indices where values[i] < values[j] { XCTAssertGreaterThan(ys[i], ys[j], output.name) } }
        }
        XCTAssertTrue(ppl.all("text").contains { $0.text.contains("opt <&> \"q\" 'x'") && $0.text.contains("no evaluated shot") })

        // 2. layer map: one cell per layer and projection, columns named by the architecture descriptor
        for (o, columns) in zip(page.outputs, [["q", "k", "v", "o", "gate", "up", "down"], ["q", "k", "v", "o", "gate", "up", "down"],
                                               ["q", "k", "v", "out", "fc1", "fc2"]]) {
            let x = try XCTUnwrap(parsed["layers-\(ReportPage.slug(o.name)).svg"], o.name)
            let cells = x.indices("g", cls: "cell")
            let blocks = try loadModel(ModelFiles.open(o.path)).config.numLayers
            XCTAssertEqual(cells.count, blocks * columns.count, o.name)
            XCTAssertEqual(cells.count, o.compression.layers.count, o.name)
            XCTAssertEqual(cells.compactMap { x.title(of: $0)?.split(separator: " ").first.map(String.init) }, o.compression.layers.map(\.name))
            let headers = x.all("text").filter { $0.attributes["font-weight"] == "bold" }.map(\.text)
            XCTAssertEqual(Array(headers.dropFirst()), columns, o.name)   // after the figure title
            // rows-columns cells are two halves (rows, columns removed), the others one rectangle
            let halves = o.compression.recipe.structure == .rowsColumns ? 2 : 1
            for c in cells { XCTAssertEqual(x.elements.filter { $0.parent == c && $0.name == "rect" }.count, halves + 1) }
        }

        // 3. heads: one cell per block and kv group, titled with the kept sizes of the model's compact plans
        let rcModel = try loadModel(ModelFiles.open(dir + "/rc"))
        let h = HeadDims(model: rcModel)
        XCTAssertTrue(h.anyCompact, "magnitude rows-columns at 30% compacts some attention of stories260K")
        let heads = try XCTUnwrap(parsed["heads-rc.svg"])
        let headCells = heads.indices("g", cls: "head")
        XCTAssertEqual(headCells.count, rcModel.config.numLayers * rcModel.config.numKVHeads)
        for (n, c) in headCells.enumerated() {
            let b = n / h.kvHeads, g = n % h.kvHeads
            XCTAssertTrue(x(heads.title(of: c)).hasPrefix("block \(b), kv group \(g) "), x(heads.title(of: c)))
            XCTAssertTrue(x(heads.title(of: c)).contains("q·k \(h.qk[b][g]) of \(h.headDim) dims kept, value \(h.v[b][g]) of"))
        }
        XCTAssertEqual(h.qk, rcModel.attentionLayouts.enumerated().map { i, l in l?.qkIndex.map(\.count) ?? Array(repeating: h.headDim, count: h.kvHeads) })

        // 4. bytes (two sources, three outputs) and speed (one bar per bench row)
        let bars = try XCTUnwrap(parsed["bytes-speed.svg"])
        XCTAssertEqual(bars.all("rect", cls: "bar-bytes").count, 2 + 3)
        XCTAssertEqual(bars.all("rect", cls: "bar-speed").count, 3)

        // the page: well-formed XML too, every figure inline, the recipe table one row per output
        let html = page.html()
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("http://") && html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http://"))
        let doc = XMLElements(html)
        XCTAssertNil(doc.error, "\(String(describing: doc.error))")
        XCTAssertEqual(doc.all("svg").count, figures.count)
        XCTAssertEqual(doc.all("tr").count, 1 + 3)
        XCTAssertTrue(doc.all("td").contains { $0.text == "opt <&> \"q\" 'x'" })

        // --svg: the same figures as files
        let written = try page.write(html: dir + "/report.html", svgDirectory: dir + "/svg")
        XCTAssertEqual(written.count, 1 + figures.count)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: dir + "/svg")), Set(figures.map(\.file)))
        XCTAssertEqual(try String(contentsOfFile: dir + "/report.html", encoding: .utf8), html)
    }

    private func x(_ s: String?) -> String { s ?? "" }

    /// The adaptive schedule's figure: one line through the dense point and the kept attempts (higher
    /// loss drawn higher), one red cross per undone attempt, nothing for a non-finite loss; absent
    /// from the page when no output has attempts.
    func testScheduleFigureDrawsKeptAndUndoneAttempts() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try compress("stories260K", structure: .rowsColumns, sparsity: 0.2, shots: 1, eval: false, to: dir + "/rc")
        let plain = try ReportedOutput.load(dir + "/rc")
        XCTAssertFalse(try ReportPage(outputs: [plain]).figures().contains { $0.file == "schedule.svg" })
        var c = plain.compression
        c.heldOut = HeldOutLosses(dense: 2.0, current: 2.3)
        func a(_ n: Int, _ from: Double, _ to: Double, _ l0: Double, _ l1: Double, _ v: ScheduleAttempt.Verdict) -> ScheduleAttempt {
            ScheduleAttempt(attempt: n, from: from, to: to, lossBefore: l0, lossAfter: l1, bound: 0.1, verdict: v, freshCurvature: true, seconds: 1)
        }
        c.attempts = [a(1, 0, 0.1, 2.0, 2.9, .rejected), a(2, 0, 0.05, 2.0, 2.1, .accepted), a(3, 0.05, 0.15, 2.1, .nan, .rejected),
                      a(4, 0.05, 0.1, 2.1, 2.3, .acceptedOverBound), a(5, 0.1, 0.2, 2.3, 3.0, .rejected)]
        let adaptive = try ReportedOutput(name: "ad", path: dir + "/ad", compression: c, heads: nil)
        let page = try ReportPage(outputs: [plain, adaptive])
        let fig = try XCTUnwrap(page.figures().first { $0.file == "schedule.svg" })
        let x = XMLElements(fig.standalone)
        XCTAssertNil(x.error)
        assertFiniteCoordinates(x, "schedule.svg")
        XCTAssertEqual(x.indices("g", cls: "undone").count, 2, "the NaN attempt is not drawn")
        let kept = x.all("polyline", cls: "kept")
        XCTAssertEqual(kept.count, 1)
        let ys = (kept.first?.attributes["points"] ?? "").split(separator: " ").compactMap { $0.split(separator: ",").last.flatMap { Double($0) } }
        XCTAssertEqual(ys.count, 3, "dense, attempt 2, attempt 4")
        XCTAssertTrue(ys[0] > ys[1] && ys[1] > ys[2], "rising loss drawn higher: \(ys)")
        XCTAssertTrue(x.all("text").contains { $0.text.contains("(no adaptive attempts)") })
        XCTAssertTrue(x.all("text").contains { $0.text.contains("(2 undone)") })
        XCTAssertNil(XMLElements(page.html()).error)
    }

    /// One-shot outputs of one method and structure at several sparsities are one line (a sweep) from
    /// the dense point through them in order of sparsity; an output with several evaluated shots
    /// keeps its own line; the legend names every output once.
    func testOneShotOutputsOfAMethodAreOneLine() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try compress("stories260K", structure: .rowsColumns, sparsity: 0.2, shots: 1, eval: false, to: dir + "/rc")
        let base = try ReportedOutput.load(dir + "/rc")
        func output(_ name: String, method: PruningMethod, _ shots: [(Double, Double)]) throws -> ReportedOutput {
            var c = base.compression
            c.recipe.method = method
            c.shots = shots.enumerated().map { i, s in
                ShotReport(shot: i + 1, targetSparsity: s.0, actualSparsity: s.0, seconds: 1, threshold: nil, perplexity: s.1)
            }
            return try ReportedOutput(name: name, path: dir + "/" + name, compression: c, heads: nil)
        }
        // given out of order: 50% before 30% and 40%
        let outputs = [try output("w50", method: .wanda, [(0.5, 40)]), try output("multi", method: .surgeon, [(0.1, 22), (0.2, 25)]),
                       try output("w30", method: .wanda, [(0.3, 25)]), try output("w40", method: .wanda, [(0.4, 30)])]
        let series = PerplexityFigure.series(outputs, dense: 20)
        XCTAssertEqual(series.map(\.names), [["w50", "w30", "w40"], ["multi"]])
        XCTAssertEqual(series[0].points.map(\.x), [0, 0.3, 0.4, 0.5])
        XCTAssertEqual(series[0].points.map(\.y), [20, 25, 30, 40])
        XCTAssertEqual(series[0].pointNames, ["dense", "w30", "w40", "w50"])
        XCTAssertEqual(series[1].points.map(\.y), [20, 22, 25])
        let x = XMLElements(PerplexityFigure.draw(outputs, densePerplexity: 20).file())
        XCTAssertNil(x.error)
        XCTAssertEqual(x.all("polyline", cls: "series").count, 2)
        XCTAssertTrue(x.all("text").contains { $0.text.contains("w50, w30, w40 (one-shot runs)") })
    }

    /// Inputs that are not outputs of compress are refused with errors naming the file and what is wrong.
    func testBadInputIsAClearError() throws {
        let dir = Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try ReportedOutput.load(dir)) { XCTAssertEqual($0 as? ReportError, .notAnOutput(dir)) }
        XCTAssertTrue("\(ReportError.notAnOutput(dir))".contains("has no compression.json"))
        XCTAssertThrowsError(try ReportPage(outputs: [])) { XCTAssertEqual($0 as? ReportError, .noOutputs) }

        let file = dir + "/compression.json"
        func refusal(_ json: String) -> ReportError? {
            try? Data(json.utf8).write(to: URL(fileURLWithPath: file))
            do { _ = try ReportedOutput.load(dir, loadModel: false); return nil } catch { return error as? ReportError }
        }
        XCTAssertEqual(refusal("{\"format\": "), .corrupt(file, "not JSON"))
        XCTAssertEqual(refusal("{\"format\": \"surgeon-compression/1\"}"), .corrupt(file, "missing key source"))
        // a real compression.json, then damaged field by field
        _ = try compress("tiny-llama", structure: .unstructured, sparsity: 0.3, shots: 1, eval: false, to: dir + "/out")
        let good = try String(contentsOfFile: dir + "/out/compression.json", encoding: .utf8)
        XCTAssertNotNil(try? ReportedOutput.load(dir + "/out"))
        XCTAssertNil(refusal(good))
        XCTAssertEqual(refusal(good.replacingOccurrences(of: "\"llama\"", with: "\"gpt-j\"")), .unknownArchitecture(file, "gpt-j"))
        XCTAssertEqual(refusal(good.replacingOccurrences(of: "model.layers.1.self_attn.q_proj", with: "model.layers.99999.self_attn.q_proj")),
                       .outOfRange(file, "block index of model.layers.99999.self_attn.q_proj", 99999))
        guard case .corrupt(let p, let detail)? = refusal(good.replacingOccurrences(of: #""actual_sparsity" : [-+.0-9eE]+"#, with: "\"actual_sparsity\" : \"x\"", options: .regularExpression)) else {
            return XCTFail("a string sparsity is refused")
        }
        XCTAssertEqual(p, file)
        XCTAssertTrue(detail.contains("actual_sparsity"), detail)
        // a layer shape of three numbers would size nothing sensible
        let threeD = good.replacingOccurrences(of: #""shape" : \[\s*(\d+),\s*(\d+)\s*\]"#, with: "\"shape\" : [$1, $2, 1]", options: .regularExpression)
        XCTAssertNotEqual(threeD, good)
        guard case .outOfRange(_, let what, 3)? = refusal(threeD) else { return XCTFail("a 3-D shape is refused") }
        XCTAssertTrue(what.hasPrefix("number of shape dimensions"))

        // bench files
        let bench = dir + "/bench.json"
        try Data("[{\"model\": 1}]".utf8).write(to: URL(fileURLWithPath: bench))
        XCTAssertThrowsError(try readBenchReport(bench)) {
            guard case .corrupt(bench, _)? = $0 as? ReportError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try readBenchReport(dir + "/missing.json"))   // a file error (the CLI words it with --bench)
        // one directory given twice
        let out = try ReportedOutput.load(dir + "/out", loadModel: false)
        XCTAssertThrowsError(try ReportPage(outputs: [out, out])) { XCTAssertEqual($0 as? ReportError, .duplicateOutput(dir + "/out")) }
    }

    /// Scales: round linear ticks inside the range, powers of ten (with 2×, 3×, 5× over few decades)
    /// on a log scale, end points mapped to the pixel ends; numbers and text as XML takes them.
    func testScalesAndEscaping() {
        let s = Scale(lo: 0, hi: 0.3, from: 100, to: 400)
        XCTAssertEqual(s(0), 100)
        XCTAssertEqual(s(0.3), 400, accuracy: 1e-9)
        XCTAssertEqual(s.ticks(), [0, 0.1, 0.2, 0.3])
        let l = Scale(lo: 15, hi: 300, from: 300, to: 0, log: true)
        XCTAssertEqual(l(15), 300, accuracy: 1e-9)
        XCTAssertEqual(l(300), 0, accuracy: 1e-9)
        XCTAssertEqual(l.ticks(), [20, 30, 50, 100, 200, 300])
        XCTAssertEqual(Scale(lo: 1, hi: 1e5, from: 0, to: 1, log: true).ticks(), [1, 10, 100, 1000, 10000, 100000])
        XCTAssertEqual(Scale(lo: 5, hi: 5, from: 0, to: 10).ticks().isEmpty, false)   // one value: a range around it
        XCTAssertEqual(Scale.label(0.05), "0.05")
        XCTAssertEqual(Scale.label(200), "200")
        XCTAssertEqual(Scale.label(1e7), "1e7")
        XCTAssertEqual(Scale.label(10000), "10000")
        XCTAssertEqual(Scale.label(2e-4), "2e-4")
        XCTAssertEqual(svgNumber(1.001), "1")
        XCTAssertEqual(svgNumber(12.345), "12.35")
        XCTAssertEqual(svgNumber(.nan), "NaN")
        XCTAssertEqual(xmlEscaped("a<b>&\"c\"'d'\u{1}"), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos; ")
        XCTAssertEqual(Palette.sequential(0), "#f7fbff")
        XCTAssertEqual(Palette.sequential(1), "#08306b")
        XCTAssertEqual(Palette.sequential(.nan), "#bbbbbb")
    }
}
