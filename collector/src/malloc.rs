//! glibc malloc settings for a process that allocates and frees batch-sized buffers (a few
//! MiB each) many times a second.
//!
//! With glibc's defaults, freeing such a buffer at the top of a thread's arena gives its pages
//! back to the kernel (`madvise`), and the next batch faults them in again and zeroes them:
//! `perf` put that page-fault and `madvise` work at ≈ 5 % of the backbone benchmark's CPU, and
//! the collector 6 % slower per span than before the memory-budget work (BENCHMARKS.md, "Cost
//! of the component model"). Keeping up to 32 MiB at an arena's top (and serving allocations
//! below 32 MiB from the arenas rather than fresh mappings) removes it; the memory budget
//! still bounds what the pipeline holds. A user who sets glibc's own variables keeps them.

/// Applies the settings unless `MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_` or
/// `GLIBC_TUNABLES` is set. Call before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn tune() {
    const KEEP: libc::c_int = 32 << 20;
    let user_set = [
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_MMAP_THRESHOLD_",
        "GLIBC_TUNABLES",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    if user_set {
        return;
    }
    // SAFETY: mallopt only changes glibc's allocator parameters; it is called from main
    // before the runtime or any other thread exists, and both values are within glibc's
    // documented ranges (the mmap threshold's maximum is 32 MiB on 64-bit targets).
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP);
    }
}

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn tune() {}
