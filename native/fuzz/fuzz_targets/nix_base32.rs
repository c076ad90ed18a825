//! nix-base32: decoding any text is bytes or an error; what decodes re-encodes to the same
//! text, and any bytes round-trip.
#![no_main]

use chunker_core::nix::base32::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = decode(text) {
            assert_eq!(encode(&bytes), text);
        }
    }
    assert_eq!(decode(&encode(data)).ok().as_deref(), Some(data));
});
