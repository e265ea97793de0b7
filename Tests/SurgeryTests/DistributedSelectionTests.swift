import Foundation
import XCTest
import Runtime
@testable import Surgery

/// The element selection split over ranks (`selectSmallest(_:total:count:sum:)`), ranks simulated by
/// threads that sum their counts through a barrier.
final class DistributedSelectionTests: XCTestCase {
    override func setUp() { Parallel.setThreads(1) }   // the ranks are threads: no shared worker pool
    override func tearDown() { Parallel.setThreads(2) }

    /// An all-reduce among `size` threads: each call returns the sum of every thread's x of that round.
    final class ThreadRanks: @unchecked Sendable {
        let size: Int
        private let condition = NSCondition()
        private var partial: [Double] = [], result: [Double] = []
        private var arrived = 0, round = 0
        init(size: Int) { self.size = size }

        func sum(_ x: inout [Double]) {
            condition.lock()
            defer { condition.unlock() }
            let mine = round
            if arrived == 0 { partial = x } else { for k in x.indices { partial[k] += x[k] } }
            arrived += 1
            if arrived == size {
                result = partial
                arrived = 0
                round += 1
                condition.broadcast()
            } else {
                while round == mine { condition.wait() }
            }
            x = result
        }

        /// Runs body(rank) on `size` threads and waits for all of them.
        func run(_ body: @escaping @Sendable (Int) -> Void) {
            let done = DispatchGroup()
            for r in 0..<size {
                done.enter()
                Thread { body(r); done.leave() }.start()
            }
            done.wait()
        }
    }

    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var byRank: [Int: ElementSelection] = [:]
        func set(_ r: Int, _ s: ElementSelection) { lock.lock(); byRank[r] = s; lock.unlock() }
        subscript(_ r: Int) -> ElementSelection? { lock.lock(); defer { lock.unlock() }; return byRank[r] }
    }

    /// Arrays dealt round-robin to 2 and 3 ranks, costs with many zeros and ties (so the tie budget
    /// crosses arrays held by different ranks): every rank finds the one-process threshold and count,
    /// and masks its own arrays exactly as one process does (others' masks empty).
    func testRanksSelectWhatOneProcessSelects() {
        var rng = SeededRandom(seed: 12)
        let arrays: [[Double]] = (0..<7).map { i in
            (0..<(40 + 13 * i)).map { _ in
                let u = rng.uniform()
                return u < 0.15 ? 0 : u < 0.6 ? Double(Int(u * 8)) : u * 10   // zeros, ties at 1...4, distinct values
            }
        }
        let total = arrays.reduce(0) { $0 + $1.count }
        for k in [0, 20, total / 3, total / 2, total - 5, total] {
            let one = selectSmallest(arrays, count: k)
            for size in [2, 3] {
                let ranks = ThreadRanks(size: size), results = Results()
                ranks.run { r in
                    let held = arrays.indices.map { $0 % size == r ? arrays[$0] : nil }
                    results.set(r, selectSmallest(held, total: total, count: k, sum: ranks.sum))
                }
                for r in 0..<size {
                    guard let sel = results[r] else { XCTFail("rank \(r) returned nothing"); continue }
                    XCTAssertEqual(sel.threshold, one.threshold, "k \(k), \(size) ranks, rank \(r)")
                    XCTAssertEqual(sel.removed, one.removed, "k \(k), \(size) ranks, rank \(r)")
                    for i in arrays.indices {
                        XCTAssertEqual(sel.masks[i], i % size == r ? one.masks[i] : [], "k \(k), \(size) ranks, rank \(r), array \(i)")
                    }
                }
            }
        }
    }
}
