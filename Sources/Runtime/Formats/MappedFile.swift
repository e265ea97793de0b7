#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory-mapped file. Tensors are converted to float32 straight from the mapping.
public final class MappedFile {
    public let path: String
    public let size: Int
    public let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { throw ModelError.fileNotFound(path: path) }
            throw ModelError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ModelError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw ModelError.unreadable(path: path, reason: "is a directory")
        }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw ModelError.unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// Bytes [offset, offset+count) or nil when they lie outside the file.
    public func bytes(at offset: Int, count: Int) -> UnsafeRawBufferPointer? {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else { return nil }
        guard let base else { return count == 0 ? UnsafeRawBufferPointer(start: nil, count: 0) : nil }
        return UnsafeRawBufferPointer(start: base + offset, count: count)
    }

    /// Lets the kernel drop this process's pages of [offset, offset + count) (MADV_DONTNEED on the whole
    /// pages inside the range): a tensor copied out of the mapping then does not count in the resident
    /// size twice. Reading the bytes again faults them back in from the file (the mapping is private
    /// and never written), so this only costs time.
    public func release(at offset: Int, count: Int) {
        guard let base, count > 0, offset >= 0, offset <= size else { return }
        let page = max(1, Int(sysconf(Int32(_SC_PAGESIZE))))
        let start = (offset + page - 1) / page * page
        let end = min(size, offset + count) / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, Int32(MADV_DONTNEED))
    }

    public func loadLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T? {
        guard let b = bytes(at: offset, count: MemoryLayout<T>.size) else { return nil }
        return T(littleEndian: b.loadUnaligned(as: T.self))
    }
}
