//! Content-defined chunking with per-chunk digests.
//!
//! `chunker_core` cuts data into chunks at exactly the boundaries of one of the
//! [`fastcdc`](https://crates.io/crates/fastcdc) crate's chunkers (`v2020::FastCDC` at
//! normalization level 1 by default; any level or seed of it, `v2016`, or `ronomon`: see
//! [`Algorithm`] and [`ChunkerConfig::builder`]) for the same sizes, and hashes each chunk with
//! BLAKE3 or SHA-256. It offers these ways in, which all produce the same chunks for the same
//! bytes:
//!
//! - [`chunk_slice`]: a whole input in memory; chunk digests are computed on rayon's pool when
//!   the input is large enough for that to pay.
//! - [`chunk_many`]: many inputs at once, spread over rayon's pool.
//! - [`IncrementalChunker`]: feed pieces of any size as they arrive, then finish.
//! - [`ChunkStream`]: an iterator over any [`std::io::Read`].
//!
//! This is the core of the `chunker` Elixir package, but it knows nothing of the BEAM.
//!
//! With the cargo features `tracing` and `metrics` (both off by default, and compiled out
//! when off) the calls that work through input open `tracing` spans and add to `metrics`
//! counters; the names are listed in the `observe` module's source (`src/observe.rs`).
//!
//! ```
//! use chunker_core::{chunk_slice, ChunkerConfig, HashAlgorithm};
//! let config = ChunkerConfig::new(4096, 16_384, 65_536)?;
//! let data = std::fs::read("Cargo.toml")?;
//! let chunks = chunk_slice(&data, &config, Some(HashAlgorithm::Blake3));
//! assert_eq!(chunks.iter().map(|c| c.length).sum::<usize>(), data.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Nothing that input can reach may panic: no unwrap/expect/indexing outside tests, except
// where an `allow` says why it cannot fail.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod chunk;
pub mod compression;
mod config;
mod cut;
mod cut_run;
#[cfg(feature = "panic_injection")]
pub mod fault;
pub mod file;
mod hash;
mod incremental;
pub mod nar;
mod nar_aware;
pub mod nix;
mod observe;
mod oneshot;
pub mod parallel;
mod pipeline;
mod stream;

pub use chunk::{Chunk, ChunkBytes};
pub use config::{
    Algorithm, ChunkerConfig, ConfigBuilder, ConfigError, ConfigOption, Limits, Normalization,
};
pub use cut::{cut_engine, cut_engine_warning, CutEngine};
pub use hash::{Digest, HashAlgorithm, Hasher};
pub use incremental::{Batch, FinishedError, IncrementalChunker, Source};
pub use nar_aware::{NarAwareChunker, NarChunkError};
pub use oneshot::{
    chunk_many, chunk_slice, chunk_slice_forced, chunk_slice_sequential, cut_points,
};
pub use pipeline::PARALLEL_MIN_BYTES;
pub use stream::{ChunkData, ChunkStream, DEFAULT_READ_SIZE};

// The README's Rust examples run as doctests (test/docs_test.exs checks every rust block of
// the docs is in a file included here).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
