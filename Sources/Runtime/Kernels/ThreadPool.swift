import CBLAS
import Foundation
import Synchronization

/// Persistent worker threads for `Parallel`: workers spin briefly on a generation counter (a decode
/// step issues hundreds of small parallel regions, too short for a sleep/wake per region), then
/// sleep on a condition variable so an idle process does not burn the cores.
final class ThreadPool: @unchecked Sendable {
    // @unchecked: `job` and `parts` are written only by the one caller holding `busy`, before the
    // seq-cst `generation` bump that publishes them to the workers, and cleared only after every
    // worker has reported completion through `pending`; mutex and cond are used through pthreads only.
    let size: Int                          // participants, the calling thread included
    private let generation = Atomic<Int>(0)
    private let nextPart = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private var job: ((Int) -> Void)?
    private var parts = 0
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private static let spinLimit = 20_000

    init(size: Int) {
        self.size = size
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
        for _ in 1..<max(size, 1) {
            let t = Thread { [unowned self] in self.workerLoop() }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// Runs body(0..<parts) across the pool and returns when all parts are done.
    /// A nested call (from inside a running region) runs its parts inline.
    func run(parts: Int, _ body: (Int) -> Void) {
        guard busy.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else {
            for i in 0..<parts { body(i) }
            return
        }
        defer { busy.store(false, ordering: .sequentiallyConsistent) }
        withoutActuallyEscaping(body) { b in
            job = b
            self.parts = parts
            nextPart.store(0, ordering: .sequentiallyConsistent)
            pending.store(size - 1, ordering: .sequentiallyConsistent)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(&mutex)
                pthread_cond_broadcast(&cond)
                pthread_mutex_unlock(&mutex)
            }
            work(b, parts)
            while pending.load(ordering: .sequentiallyConsistent) > 0 { spinPause() }
            job = nil
        }
    }

    @inline(__always)
    private func work(_ b: (Int) -> Void, _ n: Int) {
        while true {
            let i = nextPart.add(1, ordering: .sequentiallyConsistent).oldValue
            if i >= n { return }
            b(i)
        }
    }

    @inline(never)
    private func runCurrentJob() {
        if let b = job { work(b, parts) }
    }

    private func workerLoop() {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .sequentiallyConsistent) == seen {
                spins += 1
                if spins < ThreadPool.spinLimit { spinPause(); continue }
                pthread_mutex_lock(&mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen {
                    pthread_cond_wait(&cond, &mutex)
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(&mutex)
            }
            seen = generation.load(ordering: .sequentiallyConsistent)
            runCurrentJob()   // drops its reference to the job before signalling completion
            pending.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}

@inline(__always)
private func spinPause() { surgeon_cpu_pause() }
