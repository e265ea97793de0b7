import CBLAS

/// How the process heap hands memory back. glibc raises its mmap threshold to the size of each
/// freed mapped block (up to 32 MiB), so after a surgery shot frees its curvature factors (0.1–10
/// MiB each, about 1 GiB on SmolLM2) the next shot's come from the heap, interleaved with blocks
/// that live on (new weight storages), and freed heap pages stay resident unless handed back.
public enum HeapPolicy {
    /// Hands the heap's free pages back to the kernel (glibc's malloc_trim; nothing elsewhere).
    /// Costs one walk of the heap: call it between phases (after loading a model, before a
    /// surgery shot's curvature estimate), not per token or per window.
    public static func releaseFreePages() {
        surgeon_release_free_heap()
    }
}
