import Foundation
import XCTest
import Runtime
@testable import Surgery
import TestSupport

final class LayerOwnershipTests: XCTestCase {
    override func setUp() { Parallel.setThreads(1) }

    /// Longest processing time first: on every small instance (all assignments enumerated) the
    /// largest load is within 4/3 of the best, each unit's layers stay together, and the result is
    /// the same on every call (every rank computes it alone).
    func testBalancedIsWithinFourThirdsOfTheBest() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<40 {
            let n = Int.random(in: 1...7, using: &rng), ranks = Int.random(in: 1...3, using: &rng)
            let units = (0..<n).map { i in (names: ["u\(i).a", "u\(i).b"], cost: Double(Int.random(in: 1...20, using: &rng))) }
            let o = try LayerOwnership.balanced(units: units, ranks: ranks)
            XCTAssertEqual(o, try LayerOwnership.balanced(units: units, ranks: ranks))
            var cost: [String: Double] = [:]
            for u in units {
                XCTAssertEqual(o.rank(of: u.names[0]), o.rank(of: u.names[1]))
                cost[u.names[0]] = u.cost
            }
            let makespan = o.loads(cost).max() ?? 0
            var best = Double.infinity
            for code in 0..<Int(pow(Double(ranks), Double(n))) {
                var load = [Double](repeating: 0, count: ranks), c = code
                for u in units { load[c % ranks] += u.cost; c /= ranks }
                best = min(best, load.max() ?? 0)
            }
            XCTAssertLessThanOrEqual(makespan, best * 4 / 3 + 1e-9, "\(units.map(\.cost)) over \(ranks)")
        }
    }

    func testRanksOutsideTheJobAreRefused() {
        XCTAssertThrowsError(try LayerOwnership(owner: ["a": 2], ranks: 2))
        XCTAssertThrowsError(try LayerOwnership.balanced(units: [], ranks: 0))
    }

    /// With an ownership, each input group's A and each layer's G are reduced to the owner (one
    /// collective each, in model order), and a rank returns exactly its own layers' factors, whose
    /// bytes it reports as held; a split input group is refused before any collective.
    func testFactorsAreReducedToTheirOwners() throws {
        let model = try Fixtures.model("tiny-llama")
        let V = model.config.vocabSize
        let windows: [[Int32]] = (0..<4).map { s in (0..<16).map { Int32((3 * s + 7 * $0 + 1) % V) } }
        let cal = try Calibration(windows: windows, offsets: Array(0..<4))
        let d = model.config.architecture.descriptor, names = model.blockLinearNames
        // input groups to ranks 0, 1, 0, 1, ...
        var leaders: [String] = []
        for n in names where d.inputGroup(of: n) == n { leaders.append(n) }
        var owner: [String: Int] = [:]
        for n in names { owner[n] = (leaders.firstIndex(of: d.inputGroup(of: n) ?? n) ?? 0) % 2 }
        let ownership = try LayerOwnership(owner: owner, ranks: 2)
        for rank in 0..<2 {
            let comm = RecordingRank(rank: rank, size: 2)
            let f = try Curvature.estimate(model: model, calibration: cal, method: .kfac, communicator: comm, ownership: ownership)
            var expected: [Int] = []
            for n in names {
                if d.inputGroup(of: n) == n { expected.append(owner[n] ?? -1) }
                expected.append(owner[n] ?? -1)
            }
            XCTAssertEqual(comm.reduceRoots, expected)
            let mine = Set(names.filter { owner[$0] == rank })
            XCTAssertEqual(Set(f.A.keys), mine)
            XCTAssertEqual(Set(f.G.keys), mine)
            // the float64 sums held: 4·s(s+1) bytes per factor of side s
            func sumBytes(_ t: Tensor?) -> Int { (t?.shape.first).map { 4 * $0 * ($0 + 1) } ?? 0 }
            var bytes = 0
            for n in mine {
                if d.inputGroup(of: n) == n { bytes += sumBytes(f.A[n]) }
                bytes += sumBytes(f.G[n])
            }
            XCTAssertEqual(f.metadata["held_bytes"], String(bytes))
        }
        var split = owner
        let q = try XCTUnwrap(names.first { d.inputGroup(of: $0) == $0 })
        let k = try XCTUnwrap(names.first { d.inputGroup(of: $0) == q && $0 != q })
        split[k] = 1 - (owner[q] ?? 0)
        let comm = RecordingRank(rank: 0, size: 2)
        XCTAssertThrowsError(try Curvature.estimate(model: model, calibration: cal, method: .kfac, communicator: comm,
                                                    ownership: try LayerOwnership(owner: split, ranks: 2)))
        XCTAssertEqual(comm.reduceRoots, [])
        let c = try Compressor(model: model, method: .surgeon, structure: .rowsColumns, targetSparsity: 0.1, shots: 1,
                               dampG: 0.01, dampA: 0.01, calibration: cal)
        XCTAssertThrowsError(try c.distribute(over: comm, ownership: try LayerOwnership(owner: split, ranks: 2)))
        XCTAssertNoThrow(try c.distribute(over: comm, ownership: ownership))
        XCTAssertTrue(c.isDistributed)
    }
}
