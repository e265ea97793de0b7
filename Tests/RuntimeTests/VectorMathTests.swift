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

    /// The forward's C kernels (vector_kernels.h) at every SIMD level this CPU has: causal softmax
    /// rows and the SiLU gate against double precision, with tails and extreme inputs.
    func testForwardSoftmaxAndSiluGateKernels() {
        var rng = SeededRandom(seed: 8)
        defer { SparseKernels.level = SparseKernels.detectedLevel }
        for level in 0...SparseKernels.detectedLevel {
            SparseKernels.level = level
            for n in [1, 5, 8, 15, 16, 17, 33, 200] {
                var x = (0..<n).map { _ in Float(rng.normal() * 6) }
                if n > 3 { x[1] = -1e30; x[2] = 80 }   // an underflowing entry and a large one
                let total = n + 3
                var r = x + [Float](repeating: .nan, count: 3)
                r.withUnsafeMutableBufferPointer { softmaxCausalRow($0.baseAddress!, valid: n, total: total) }
                let m = Double(x.max() ?? 0)
                let z = x.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
                for i in 0..<n {
                    XCTAssertEqual(Double(r[i]), Foundation.exp(Double(x[i]) - m) / z, accuracy: 1e-6, "level \(level) n \(n) softmax[\(i)]")
                }
                XCTAssertEqual(Array(r[n...]), [0, 0, 0], "level \(level): masked entries")

                var g = (0..<n).map { _ in Float(rng.normal() * 4) }
                if n > 3 { g[0] = -120; g[3] = 95 }
                let u = (0..<n).map { _ in Float(rng.normal()) }
                let want = zip(g, u).map { Double($0) / (1 + Foundation.exp(-Double($0))) * Double($1) }
                g.withUnsafeMutableBufferPointer { gp in u.withUnsafeBufferPointer { siluGateForward(gp.baseAddress!, $0.baseAddress!, n) } }
                for i in 0..<n {
                    XCTAssertEqual(Double(g[i]), want[i], accuracy: 1e-6 * max(1, abs(want[i])), "level \(level) n \(n) silu[\(i)]")
                }
            }
        }
    }
}
