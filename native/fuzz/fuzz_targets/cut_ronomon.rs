//! ronomon against the `fastcdc` crate's own ronomon: one-shot and in pieces, any level and seed it
//! has, boundaries identical.
#![no_main]

#[path = "common/variant.rs"]
mod variant;

libfuzzer_sys::fuzz_target!(|input: &[u8]| variant::check(chunker_core::Algorithm::Ronomon, input));
