//! What the tests need to see inside the NIF, compiled only with the `test_hooks` feature
//! (which the Mix compiler turns on in `MIX_ENV=test` alone, so no user's VM carries it):
//!
//! - `allocated_bytes/0`: the bytes the native code holds on the heap, from a counting global
//!   allocator (two atomic operations on every allocation), so that tests can check exactly
//!   that abandoned resources give their memory back, which the process RSS cannot show (the
//!   C allocator keeps freed memory for reuse);
//! - `live_streams/0`: chunk streams created and not yet dropped;
//! - `inject_panic/0`: the next chunking call panics inside the core.
//!
//! Without the feature, [`stream_created`] and [`stream_dropped`] do nothing.

#[cfg(feature = "test_hooks")]
mod hooks {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
    static LIVE_STREAMS: AtomicUsize = AtomicUsize::new(0);

    struct Counting;

    // SAFETY: every method forwards to `System` with the caller's arguments unchanged and only
    // updates a counter afterwards, so `System`'s guarantees carry over.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let ptr = System.alloc(layout);
            if !ptr.is_null() {
                ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
            }
            ptr
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let ptr = System.alloc_zeroed(layout);
            if !ptr.is_null() {
                ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
            }
            ptr
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout);
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let new = System.realloc(ptr, layout, new_size);
            if !new.is_null() {
                ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
                ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
            }
            new
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    pub fn stream_created() {
        LIVE_STREAMS.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream_dropped() {
        LIVE_STREAMS.fetch_sub(1, Ordering::Relaxed);
    }

    /// `allocated_bytes()` -> bytes the native code currently holds on the heap.
    #[rustler::nif]
    fn allocated_bytes() -> usize {
        ALLOCATED.load(Ordering::Relaxed)
    }

    /// `live_streams()` -> chunk stream resources alive in this VM.
    #[rustler::nif]
    fn live_streams() -> usize {
        LIVE_STREAMS.load(Ordering::Relaxed)
    }

    /// `inject_panic()`: the next chunking call panics inside the core.
    #[rustler::nif]
    fn inject_panic() -> rustler::Atom {
        chunker_core::fault::arm();
        crate::atoms::ok()
    }
}

#[cfg(feature = "test_hooks")]
pub use hooks::{stream_created, stream_dropped};

#[cfg(not(feature = "test_hooks"))]
#[inline(always)]
pub fn stream_created() {}

#[cfg(not(feature = "test_hooks"))]
#[inline(always)]
pub fn stream_dropped() {}
