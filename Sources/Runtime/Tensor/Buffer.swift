/// A growable, uninitialized float scratch buffer with a stable address between growths.
/// Hot loops take its pointer once; it never shrinks, so steady-state decoding allocates nothing.
public final class Buffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(_ capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
        pointer.initialize(repeating: 0, count: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Ensures room for n floats (contents are discarded when it grows) and returns the pointer.
    @discardableResult
    public func reserve(_ n: Int) -> UnsafeMutablePointer<Float> {
        if n > capacity {
            pointer.deallocate()
            capacity = n
            pointer = .allocate(capacity: n)
            pointer.initialize(repeating: 0, count: n)
        }
        return pointer
    }

    public func zero(_ n: Int) {
        reserve(n).update(repeating: 0, count: n)
    }

    public func array(_ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: n)) }
}
