import CBLAS

/// How the process heap hands memory back: long jobs that allocate and free large blocks shot
/// after shot (the surgery's curvature factors, about 1 GiB per shot on SmolLM2) must not grow
/// their resident set from shot to shot.
public enum HeapPolicy {
    /// Blocks of at least this many bytes are mapped on their own and unmapped when freed.
    public static let mmapThreshold = 1 << 20

    /// Fixes the allocator's mmap threshold at `mmapThreshold` (glibc; elsewhere nothing happens
    /// and false is returned). Idempotent.
    @discardableResult
    public static func returnLargeBlocks() -> Bool {
        surgeon_fix_mmap_threshold(Int32(mmapThreshold)) == 1
    }
}
