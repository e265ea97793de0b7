import Foundation

/// Per-thread float scratch for kernels that run inside `Parallel` regions (slot 0: gathered inputs,
/// 1: compacted output tiles, 2: decompressed weight tiles, 3: attention scores). Each thread owns a few slots that only grow, so steady-state
/// decoding allocates nothing; a slot's contents are undefined on entry.
public enum ThreadScratch {
    public static let slots = 4

    final class Arena {
        var buffers: [UnsafeMutablePointer<Float>?] = Array(repeating: nil, count: ThreadScratch.slots)
        var capacities = [Int](repeating: 0, count: ThreadScratch.slots)
        deinit { for b in buffers { b?.deallocate() } }
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        let rc = pthread_key_create(&k) { p in
            if let p { Unmanaged<Arena>.fromOpaque(p).release() }
        }
        precondition(rc == 0, "pthread_key_create failed (\(rc))")
        return k
    }()

    /// Room for `n` floats in this thread's slot `slot` (0..<slots).
    @inline(__always)
    public static func floats(_ n: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        let arena: Arena
        if let p = pthread_getspecific(key) {
            arena = Unmanaged<Arena>.fromOpaque(p).takeUnretainedValue()
        } else {
            arena = Arena()
            pthread_setspecific(key, Unmanaged.passRetained(arena).toOpaque())
        }
        if arena.capacities[slot] < n {
            arena.buffers[slot]?.deallocate()
            let cap = max(n, 64)
            arena.buffers[slot] = .allocate(capacity: cap)
            arena.capacities[slot] = cap
        }
        return arena.buffers[slot].unsafelyUnwrapped
    }
}
