import CMPI
import Foundation

/// The ranks of an Open MPI job, through libmpi loaded at run time (CMPI/mpi_shim.h): the normal
/// binary has no MPI dependency, and `mpirun -np N surgeon ...` finds Debian's libmpi.so.40.
public final class MPICommunicator: Communicator {
    private var api = surgeon_mpi_api()
    public let rank: Int
    public let size: Int
    private var finalized = false

    /// The job's rank count when Open MPI's launcher (mpirun / orterun / prterun) started this
    /// process (it sets OMPI_COMM_WORLD_SIZE for every rank), else nil. Read before MPI starts.
    public static func launchedSize(_ environment: [String: String]) -> Int? {
        environment["OMPI_COMM_WORLD_SIZE"].flatMap { Int($0) }
    }

    public init() throws {
        var err = [CChar](repeating: 0, count: 512)
        guard surgeon_mpi_load(&api, &err, Int32(err.count)) == 0 else {
            let message = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CommunicatorError("started by mpirun, but " + message
                                    + "; install Open MPI (Debian: openmpi-bin libopenmpi-dev)")
        }
        var r: Int32 = 0, s: Int32 = 0
        let rc = surgeon_mpi_init(&api, &r, &s)
        guard rc == 0, s >= 1, r >= 0, r < s else { throw CommunicatorError("MPI_Init_thread failed (error \(rc))") }
        rank = Int(r)
        size = Int(s)
    }

    private func check(_ rc: Int32, _ what: String) throws {
        guard rc == 0 else { throw CommunicatorError("\(what) failed on rank \(rank) of \(size) (MPI error \(rc))") }
    }

    public func reduceSum(_ x: UnsafeMutablePointer<Double>, count: Int, root: Int) throws {
        try check(surgeon_mpi_reduce_sum_double(&api, x, count, Int32(root), Int32(rank)), "MPI_Reduce")
    }

    public func broadcast(_ x: UnsafeMutablePointer<Float>, count: Int, root: Int) throws {
        try check(surgeon_mpi_bcast_float(&api, x, count, Int32(root)), "MPI_Bcast")
    }

    public func allReduceSum(_ x: inout [Double]) throws {
        let n = x.count
        try x.withUnsafeMutableBufferPointer { b in
            guard let p = b.baseAddress else { return }
            try check(surgeon_mpi_allreduce_sum_double(&api, p, n), "MPI_Allreduce")
        }
    }

    public func abort(code: Int32) -> Never {
        surgeon_mpi_abort(&api, code)
        exit(code)   // MPI_Abort does not return; if it did, still stop
    }

    func finalize() {
        guard !finalized else { return }
        finalized = true
        _ = surgeon_mpi_finalize(&api)
    }
}
