//! Instrumentation for Rust users of this crate, each part behind a cargo feature that is
//! off by default; with a feature off its macro expands to nothing (no dependency, no code):
//!
//! - `tracing`: a `debug`-level span (of the [`tracing`](https://docs.rs/tracing) crate)
//!   around each call that works through input: `chunker.chunk_slice`, `chunker.chunk_many`,
//!   `chunker.feed`, `chunker.finish` (of an [`crate::IncrementalChunker`]),
//!   `chunker.hash_many`, `chunker.compress`, `chunker.decompress`, `chunker.encode`,
//!   `chunker.decode` (a step of an [`crate::compression::Encoder`] or `Decoder`) and
//!   `chunker.nar.parse`, with the input's size (`bytes`, `items`) and format or algorithm as
//!   fields;
//! - `metrics`: counters (of the [`metrics`](https://docs.rs/metrics) facade; install any
//!   recorder, such as a Prometheus exporter): `chunker.chunk.bytes`, `chunker.chunk.chunks`,
//!   `chunker.hash.bytes` (of [`crate::HashAlgorithm::hash_many`]; label `algorithm`),
//!   `chunker.compress.bytes_in` / `bytes_out` and `chunker.decompress.bytes_in` / `bytes_out`
//!   (label `format`), `chunker.nar.dump.bytes` and `chunker.nar.parse.bytes`.
//!
//! Each counter is updated once per call, never per byte or per chunk.

/// Enters a `debug` span until the end of the enclosing block.
macro_rules! span {
    ($name:literal $(, $field:ident = $value:expr)* $(,)?) => {
        #[cfg(feature = "tracing")]
        let _span = ::tracing::debug_span!($name $(, $field = $value)*).entered();
    };
}

/// Adds to a counter.
macro_rules! count {
    ($name:literal, $value:expr $(, $label:literal => $label_value:expr)* $(,)?) => {
        #[cfg(feature = "metrics")]
        ::metrics::counter!($name $(, $label => $label_value)*).increment($value as u64);
    };
}

pub(crate) use {count, span};
