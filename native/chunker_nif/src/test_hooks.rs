//! What the tests need to see inside the NIF, compiled only with the `test_hooks` feature
//! (which the Mix compiler turns on in `MIX_ENV=test` alone, so no user's VM carries it):
//!
//! - `allocated_bytes/0`: the bytes the native code holds on the heap, from a counting global
//!   allocator (two atomic operations on every allocation), so that tests can check exactly
//!   that abandoned resources give their memory back, which the process RSS cannot show (the
//!   C allocator keeps freed memory for reuse);
//! - `inject_panic/0`: the next chunking call panics inside the core.
//!
//! (The native resources alive are counted in every build: `Chunker.stats/0`.)

#[cfg(feature = "test_hooks")]
mod hooks {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

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

    /// `allocated_bytes()` -> bytes the native code currently holds on the heap.
    #[rustler::nif]
    fn allocated_bytes() -> usize {
        ALLOCATED.load(Ordering::Relaxed)
    }

    /// `inject_panic()`: the next chunking call panics inside the core.
    #[rustler::nif]
    fn inject_panic() -> rustler::Atom {
        chunker_core::fault::arm();
        crate::atoms::ok()
    }
}
