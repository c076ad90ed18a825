//! Injected faults, for tests of what happens above the core when it panics. Compiled only
//! with the `panic_injection` feature, which release builds leave off.

use std::sync::atomic::{AtomicBool, Ordering};

static ARMED: AtomicBool = AtomicBool::new(false);

/// Makes the next chunking call (one-shot, incremental or batch) panic, once.
pub fn arm() {
    ARMED.store(true, Ordering::SeqCst);
}

/// Panics if armed, disarming.
pub(crate) fn check() {
    if ARMED.swap(false, Ordering::SeqCst) {
        panic!("panic injected by chunker_core::fault::arm");
    }
}
