import Foundation

/// The processes of one run and the collective operations the surgery needs between them: one
/// process (`SingleProcess`, every run not started by mpirun) or the ranks of an MPI job
/// (`MPICommunicator`). Only the main thread calls these (MPI_THREAD_FUNNELED); every rank calls
/// the same collectives in the same order.
public protocol Communicator: AnyObject {
    /// This process: 0..<size.
    var rank: Int { get }
    var size: Int { get }
    /// Sum over the ranks of x[0..<count] into root's x (in place there; the other ranks' x unchanged).
    /// x: [count]
    func reduceSum(_ x: UnsafeMutablePointer<Double>, count: Int, root: Int) throws
    /// root's x[0..<count] into every rank's x.  x: [count]
    func broadcast(_ x: UnsafeMutablePointer<Float>, count: Int, root: Int) throws
    /// Sum over the ranks of x, in place on every rank.
    func allReduceSum(_ x: inout [Double]) throws
    /// Stops every rank of the job (exit status `code`); a single process exits.
    func abort(code: Int32) -> Never
}

extension Communicator {
    /// The share of `count` items (e.g. calibration windows) this rank takes: every size-th one.
    public func owns(item: Int) -> Bool { item % size == rank }
    public var isRoot: Bool { rank == 0 }
}

/// A run of one process: collectives are identities.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func reduceSum(_ x: UnsafeMutablePointer<Double>, count: Int, root: Int) throws {}
    public func broadcast(_ x: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {}
    public func allReduceSum(_ x: inout [Double]) throws {}
    public func abort(code: Int32) -> Never { exit(code) }
}

/// A failed collective or an MPI library that cannot be used.
public struct CommunicatorError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The communicator of this process (set once at start-up by the command line, before any work).
public enum World {
    nonisolated(unsafe) public private(set) static var current: Communicator = SingleProcess()

    /// MPI when started by mpirun (`MPICommunicator.launchedSize`), else one process. A job of one
    /// rank runs as a single process.
    public static func start() throws {
        guard MPICommunicator.launchedSize(ProcessInfo.processInfo.environment) != nil else { return }
        let mpi = try MPICommunicator()
        if mpi.size > 1 { current = mpi } else { mpi.finalize() }
    }

    /// Ends MPI (after the last collective; a single process does nothing).
    public static func finish() {
        (current as? MPICommunicator)?.finalize()
        current = SingleProcess()
    }
}
