import Foundation
import XCTest
@testable import Runtime

/// The eight-lane helpers against Foundation in double precision.
final class VectorMathTests: XCTestCase {
    func testExp8() {
        var worst = 0.0
        var x: Float = -87
        while x < 87.9 {
            let v = Float8((0..<8).map { x + Float($0) * 0.0007 })
            let e = exp8(v)
            for j in 0..<8 {
                let ref = Foundation.exp(Double(v[j]))
                worst = max(worst, abs(Double(e[j]) - ref) / ref)
            }
            x += 0.0131
        }
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(exp8(Float8(repeating: -100)), .zero)
        XCTAssertEqual(exp8(Float8(repeating: 0)), Float8(repeating: 1))
    }

    func testSoftmaxRowsAndDot() {
        var rng = SeededRandom(seed: 4)
        for n in [1, 7, 8, 13, 64, 1001] {
            let x = (0..<n).map { _ in Float(rng.normal() * 5) }
            var p = x
            let lse = p.withUnsafeMutableBufferPointer { softmaxInPlace($0.baseAddress!, V: n) }
            let m = Double(x.max() ?? 0)
            let z = x.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
            XCTAssertEqual(lse, m + Foundation.log(z), accuracy: 1e-5)
            for i in 0..<n { XCTAssertEqual(Double(p[i]), Foundation.exp(Double(x[i]) - m) / z, accuracy: 1e-6) }
            let y = (0..<n).map { _ in Float(rng.normal()) }
            let dot = x.withUnsafeBufferPointer { a in y.withUnsafeBufferPointer { vectorDot(a.baseAddress!, $0.baseAddress!, n) } }
            let ref = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(Double(dot), ref, accuracy: 1e-4 * max(1, abs(ref)))
        }
    }

    func testSiluGate() {
        var rng = SeededRandom(seed: 5)
        let n = 37
        let g = (0..<n).map { _ in Float(rng.normal() * 4) }, u = (0..<n).map { _ in Float(rng.normal()) }
        var h = [Float](repeating: 0, count: n)
        g.withUnsafeBufferPointer { gp in
            u.withUnsafeBufferPointer { up in
                h.withUnsafeMutableBufferPointer { vectorSiluGate(gp.baseAddress!, up.baseAddress!, $0.baseAddress!, n) }
            }
        }
        for i in 0..<n {
            let ref = Double(g[i]) / (1 + Foundation.exp(-Double(g[i]))) * Double(u[i])
            XCTAssertEqual(Double(h[i]), ref, accuracy: 1e-6 * max(1, abs(ref)))
        }
    }
}
