//! v2016 against the `fastcdc` crate's own v2016: one-shot and in pieces, any level and seed it
//! has, boundaries identical.
#![no_main]

#[path = "common/variant.rs"]
mod variant;

libfuzzer_sys::fuzz_target!(|input: &[u8]| variant::check(chunker_core::Algorithm::V2016, input));
