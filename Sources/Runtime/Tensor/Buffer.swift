#if canImport(Glibc)
import Glibc
#endif

/// A growable float scratch buffer, zeroed, with a stable address between growths.
/// Hot loops take its pointer once; it never shrinks, so steady-state decoding allocates nothing.
/// A buffer of 1 MiB or more is an anonymous mapping: its pages are the system's zero pages until
/// written, so a KV cache sized for the whole context is resident only as far as the sequence has
/// reached (smaller ones come from calloc).
public final class Buffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(_ capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = Buffer.zeroed(self.capacity)
    }

    deinit { Buffer.release(pointer, capacity: capacity) }

    static let mappedBytes = 1 << 20

    private static func isMapped(_ n: Int) -> Bool { n * MemoryLayout<Float>.stride >= mappedBytes }

    /// n zero floats: mmap'd (lazily zeroed pages) from `mappedBytes` up, calloc below; stops the
    /// process with a message when the memory is not there.
    private static func zeroed(_ n: Int) -> UnsafeMutablePointer<Float> {
        if isMapped(n) {
            let p = mmap(nil, n * MemoryLayout<Float>.stride, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let p, p != MAP_FAILED else { fatalError("out of memory: a buffer of \(n) floats could not be mapped") }
            return p.bindMemory(to: Float.self, capacity: n)
        }
        guard let raw = calloc(n, MemoryLayout<Float>.stride) else {
            fatalError("out of memory: a buffer of \(n) floats could not be allocated")
        }
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    /// Frees what `zeroed(capacity)` gave.
    private static func release(_ p: UnsafeMutablePointer<Float>, capacity: Int) {
        if isMapped(capacity) { munmap(UnsafeMutableRawPointer(p), capacity * MemoryLayout<Float>.stride) } else { free(p) }
    }

    /// Ensures room for n floats (contents are discarded when it grows) and returns the pointer.
    @discardableResult
    public func reserve(_ n: Int) -> UnsafeMutablePointer<Float> {
        if n > capacity {
            Buffer.release(pointer, capacity: capacity)
            capacity = n
            pointer = Buffer.zeroed(n)
        }
        return pointer
    }

    public func zero(_ n: Int) {
        reserve(n).update(repeating: 0, count: n)
    }

    public func array(_ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: n)) }
}
