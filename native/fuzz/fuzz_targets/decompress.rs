//! One-shot decompression with format auto-detection: any input is an error or output within
//! the limit, never a panic, a hang or an allocation beyond the limit.
#![no_main]

use chunker_core::compression::decompress;
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = decompress(data, None, LIMIT) {
        assert!(out.len() as u64 <= LIMIT);
    }
});
