//! Key and signature parsing: any text is a key, a signature or an error; checking an
//! arbitrary signature against parsed keys never panics.
#![no_main]

use chunker_core::nix::signing::{check, parse_signature, verify, PublicKey, SecretKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));
    let mut keys = Vec::new();
    if let Ok(secret) = SecretKey::parse(first) {
        keys.push(secret.public_key());
        let signature = secret.sign(second.as_bytes());
        assert!(verify(second.as_bytes(), &signature, &keys));
    }
    if let Ok(public) = PublicKey::parse(first) {
        keys.push(public);
    }
    let _ = parse_signature(second);
    let _ = check(first.as_bytes(), second, &keys);
});
