//! Why a compression or decompression failed.

use std::fmt;

use super::format::{Detected, Format};

/// A compression or decompression failure. [`reason`](Self::reason) is a short stable name
/// for matching on (the Elixir side uses it as the error's reason atom).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompressionError {
    /// An option is out of range (e.g. a level); the message names it.
    InvalidOptions(String),
    /// The data does not start with the magic bytes of any supported format.
    UnknownFormat,
    /// The data was said to be in one format and is not: its first frame is another format's,
    /// or none.
    FormatMismatch {
        /// The format the data was said to be in.
        expected: Format,
        /// What its first frame is.
        found: Detected,
        /// Input offset of that frame (after any skippable frames).
        offset: u64,
    },
    /// The data is in a format (or a variant of one) that is recognized but not supported.
    UnsupportedFormat(String),
    /// The decompressed output would be larger than the limit.
    SizeExceeded {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The input ended in the middle of a frame.
    Truncated,
    /// Bytes follow the last complete frame that are not another frame.
    TrailingData {
        /// Input offset of the first such byte.
        offset: u64,
    },
    /// The data is not valid for its format (bad header, bad block, checksum mismatch).
    Corrupt(String),
    /// The frame asks for more decoder memory than the decoder allows (xz dictionaries).
    MemoryLimit(String),
    /// An allocation failed.
    OutOfMemory,
    /// The encoder or decoder was used after it finished.
    Finished,
    /// Bytes given as a zstd dictionary are not one, or its tables do not load.
    InvalidDictionary(String),
    /// A zstd frame needs the dictionary with this id, and no dictionaries were given.
    DictionaryRequired {
        /// The id the frame records.
        id: u32,
    },
    /// A zstd frame needs the dictionary with this id, which is not among those given.
    UnknownDictionary {
        /// The id the frame records.
        id: u32,
    },
    /// Too few samples, or samples too small, for zstd's dictionary trainer.
    NotEnoughSamples(String),
    /// zstd's dictionary trainer failed on the samples.
    TrainingFailed(String),
}

impl CompressionError {
    /// The reason as a short name: `invalid_options`, `unknown_format`, `format_mismatch`,
    /// `unsupported_format`,
    /// `size_exceeded`, `truncated`, `trailing_data`, `corrupt`, `memory_limit`,
    /// `out_of_memory`, `finished`, `invalid_dictionary`, `dictionary_required`,
    /// `unknown_dictionary`, `not_enough_samples`, `training_failed`.
    pub fn reason(&self) -> &'static str {
        match self {
            CompressionError::InvalidOptions(_) => "invalid_options",
            CompressionError::UnknownFormat => "unknown_format",
            CompressionError::FormatMismatch { .. } => "format_mismatch",
            CompressionError::UnsupportedFormat(_) => "unsupported_format",
            CompressionError::SizeExceeded { .. } => "size_exceeded",
            CompressionError::Truncated => "truncated",
            CompressionError::TrailingData { .. } => "trailing_data",
            CompressionError::Corrupt(_) => "corrupt",
            CompressionError::MemoryLimit(_) => "memory_limit",
            CompressionError::OutOfMemory => "out_of_memory",
            CompressionError::Finished => "finished",
            CompressionError::InvalidDictionary(_) => "invalid_dictionary",
            CompressionError::DictionaryRequired { .. } => "dictionary_required",
            CompressionError::UnknownDictionary { .. } => "unknown_dictionary",
            CompressionError::NotEnoughSamples(_) => "not_enough_samples",
            CompressionError::TrainingFailed(_) => "training_failed",
        }
    }
}

impl fmt::Display for CompressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompressionError::InvalidOptions(message) => f.write_str(message),
            CompressionError::UnknownFormat => {
                f.write_str("unknown format: no zstd, lz4, xz or bzip2 magic bytes")
            }
            CompressionError::FormatMismatch {
                expected,
                found,
                offset,
            } => match found {
                Detected::Format(format) => {
                    write!(
                        f,
                        "not {expected} data: it is {format} (at offset {offset})"
                    )
                }
                Detected::Gzip => write!(f, "not {expected} data: it is gzip (at offset {offset})"),
                Detected::Unknown => write!(
                    f,
                    "not {expected} data: no {expected} frame starts at offset {offset}"
                ),
            },
            CompressionError::UnsupportedFormat(what) => write!(f, "unsupported format: {what}"),
            CompressionError::SizeExceeded { limit } => {
                write!(f, "decompressed data exceeds the limit of {limit} bytes")
            }
            CompressionError::Truncated => {
                f.write_str("truncated input: the data ends in the middle of a frame")
            }
            CompressionError::TrailingData { offset } => {
                write!(f, "trailing data at offset {offset} after the last frame")
            }
            CompressionError::Corrupt(detail) => write!(f, "corrupt data: {detail}"),
            CompressionError::MemoryLimit(detail) => write!(f, "memory limit: {detail}"),
            CompressionError::OutOfMemory => f.write_str("out of memory"),
            CompressionError::Finished => f.write_str("already finished"),
            CompressionError::InvalidDictionary(detail) => {
                write!(f, "invalid dictionary: {detail}")
            }
            CompressionError::DictionaryRequired { id } => write!(
                f,
                "the zstd frame was compressed with dictionary {id}: pass it in :dictionaries"
            ),
            CompressionError::UnknownDictionary { id } => write!(
                f,
                "the zstd frame was compressed with dictionary {id}, which is not among the \
                 dictionaries given"
            ),
            CompressionError::NotEnoughSamples(detail)
            | CompressionError::TrainingFailed(detail) => f.write_str(detail),
        }
    }
}

impl std::error::Error for CompressionError {}
