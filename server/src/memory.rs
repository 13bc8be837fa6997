//! Giving memory back to the operating system.
//!
//! glibc's allocator keeps freed memory in the process: after the server held ten thousand
//! documents for a device catching up and evicted them, its resident size stayed at the peak
//! (430 MB after storing 100,000 stories, with none of them in memory; see BENCHMARKS.md).
//! [`release_free`] asks the allocator to return what it does not use.

/// Return free heap memory to the operating system. Takes some milliseconds on a large heap:
/// call it off the async workers (`spawn_blocking`), after evictions.
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and releases the allocator's own free lists; it takes no
    // pointers from us and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
