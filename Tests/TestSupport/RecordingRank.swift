import Runtime

/// One rank of an imagined job whose collectives move no data, recording the roots of its
/// reductions: what a distributed pass returns on it is this rank's own share (or, with an
/// ownership, what this rank keeps).
public final class RecordingRank: Communicator {
    public let rank: Int, size: Int
    public private(set) var reduceRoots: [Int] = []
    /// Reductions made so far.
    public var reduced: Int { reduceRoots.count }
    public init(rank: Int, size: Int) { (self.rank, self.size) = (rank, size) }
    public func reduceSum(_ x: UnsafeMutablePointer<Double>, count: Int, root: Int) throws { reduceRoots.append(root) }
    public func broadcast(_ x: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {}
    public func allReduceSum(_ x: inout [Double]) throws {}
    public func abort(code: Int32) -> Never { fatalError("abort \(code)") }
}
