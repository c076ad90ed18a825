//! Compression in the four standard frame formats: zstd, LZ4 (frame format), xz and bzip2.
//!
//! Every format here is the one the `zstd`, `lz4`, `xz` and `bzip2` command-line tools read and
//! write. Decompression is built for hostile input: it stops at a caller-given size limit
//! (returning [`CompressionError::SizeExceeded`] without allocating past the limit plus one
//! working buffer), and reports truncated, corrupt and trailing data as errors, never as
//! short output.
//!
//! - [`compress`] / [`decompress`]: whole inputs in memory; `_into` variants reuse a buffer.
//! - [`Encoder`] / [`Decoder`]: push-style streaming, with a per-call output budget so that a
//!   caller can bound the work of each call.
//! - [`compress_many`] / [`decompress_many`]: batches on rayon's pool.
//! - [`detect`]: the format of a buffer, from its magic bytes.
//! - [`Dictionary`] / [`train_dictionary`] / [`ZstdOptions`]: zstd dictionaries, worker
//!   threads and long-distance matching.
//! - [`adaptive`]: compress only what is worth compressing.

pub mod adaptive;
mod batch;
mod bzip2;
mod codec;
mod decoder;
mod dictionary;
mod encoder;
mod error;
mod format;
mod lz4;
mod oneshot;
mod sink;
mod xz;
mod zstd;

pub use batch::{
    compress_many, compress_many_to, compress_many_with, decompress_many, decompress_many_to,
};
pub use codec::Step;
pub use decoder::Decoder;
pub use dictionary::{
    train as train_dictionary, Dictionary, ZstdOptions, DEFAULT_DICTIONARY_SIZE, MIN_SAMPLES,
};
pub use encoder::Encoder;
pub use error::CompressionError;
pub use format::{detect, Detected, Format, Level};
pub use oneshot::{
    compress, compress_into, compress_to, compress_with, decompress, decompress_into, decompress_to,
};
pub use sink::{grown_capacity, Sink, VecSink};

/// The default limit on decompressed output: 1 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;
