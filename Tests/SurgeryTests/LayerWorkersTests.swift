import XCTest
@testable import Runtime
@testable import Surgery
import TestSupport

/// The shots' worker loop: every layer's result stored, progress lines counting finished layers,
/// the first error rethrown after the others finished.
final class LayerWorkersTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testResultsProgressAndErrors() throws {
        var squares = [Int](repeating: -1, count: 9)
        var lines: [String] = []
        try parallelLayers(9, progress: { lines.append($0) }, what: "costing", interval: 0) { i in
            let v = i * i
            return { squares[i] = v }
        }
        XCTAssertEqual(squares, (0..<9).map { $0 * $0 })
        // one line per finished layer but the last, counting up
        XCTAssertEqual(lines.map { $0.components(separatedBy: ",")[0] }, (1..<9).map { "costing: \($0) of 9 layers" })

        struct Boom: Error {}
        var stored = 0
        XCTAssertThrowsError(try parallelLayers(6) { i in
            if i == 3 { throw Boom() }
            return { stored += 1 }
        }) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(stored, 5)
    }

    /// A worked copy written back replaces the model's layer (the weights read back equal it).
    func testLayerAccessRoundTrip() throws {
        let model = try Fixtures.model("tiny-llama")
        let access = LayerAccess(model)
        let name = model.blockLinearNames[0]
        var layer = try access.prunable(name)
        for i in layer.w.indices { layer.w[i] = Double(i % 7) - 3 }
        try access.replace(layer)
        let back = try access.prunable(name)
        XCTAssertEqual(back.w, layer.w)
        XCTAssertThrowsError(try access.prunable("no.such.layer"))
    }
}
