#if canImport(Glibc)
import Glibc
#endif

/// A growable float scratch buffer, zeroed, with a stable address between growths.
/// Hot loops take its pointer once; it never shrinks, so steady-state decoding allocates nothing.
/// Memory comes from calloc: a large buffer's pages are the system's zero pages until written, so
/// a KV cache sized for the whole context is resident only as far as the sequence has reached.
public final class Buffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(_ capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = Buffer.zeroed(self.capacity)
    }

    deinit { free(pointer) }

    /// n zero floats (calloc); stops the process with a message when the memory is not there.
    private static func zeroed(_ n: Int) -> UnsafeMutablePointer<Float> {
        guard let raw = calloc(n, MemoryLayout<Float>.stride) else {
            fatalError("out of memory: a buffer of \(n) floats could not be allocated")
        }
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    /// Ensures room for n floats (contents are discarded when it grows) and returns the pointer.
    @discardableResult
    public func reserve(_ n: Int) -> UnsafeMutablePointer<Float> {
        if n > capacity {
            free(pointer)
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
