//! Compressing and decompressing whole inputs held in memory.

use super::decoder::Decoder;
use super::dictionary::ZstdOptions;
use super::encoder::{only_zstd, Encoder};
use super::error::CompressionError;
use super::format::{Format, Level};
use super::sink::{Sink, VecSink};
use super::{lz4, zstd};
use crate::observe::{count, span};

/// Compresses `data` into one frame of `format`, at `level` (the format's default when
/// `None`).
///
/// ```
/// use chunker_core::compression::{compress, decompress, Format, Level};
/// let data = b"the same words, the same words, the same words".repeat(100);
/// let packed = compress(&data, Format::Zstd, Some(Level::new(Format::Zstd, 19).unwrap())).unwrap();
/// assert!(packed.len() < data.len() / 10);
/// assert_eq!(decompress(&packed, None, 1 << 20).unwrap(), data);
/// ```
pub fn compress(
    data: &[u8],
    format: Format,
    level: Option<Level>,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    compress_into(data, format, level, &mut out)?;
    Ok(out)
}

/// Like [`compress`], writing into `out` (cleared first; its allocation is reused).
pub fn compress_into(
    data: &[u8],
    format: Format,
    level: Option<Level>,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let mut sink = VecSink::new(out);
    compress_to(data, format, level, &mut sink)
}

/// Like [`compress`], writing into any [`Sink`].
pub fn compress_to(
    data: &[u8],
    format: Format,
    level: Option<Level>,
    sink: &mut dyn Sink,
) -> Result<(), CompressionError> {
    compress_with(data, format, level, &ZstdOptions::default(), sink)
}

/// Like [`compress_to`], with zstd's dictionary, worker threads or long-distance matching
/// (other formats refuse them).
///
/// ```
/// use std::sync::Arc;
/// use chunker_core::compression::{compress_with, train_dictionary, Decoder, Dictionary, Format, VecSink, ZstdOptions};
/// let samples: Vec<Vec<u8>> = (0..100u32)
///     .map(|i| format!("{{\"id\": {i}, \"name\": \"user {i}\", \"active\": true}}").into_bytes())
///     .collect();
/// let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
/// let dictionary = Arc::new(Dictionary::new(&train_dictionary(&refs, 4096).unwrap()).unwrap());
/// let options = ZstdOptions { dictionary: Some(Arc::clone(&dictionary)), ..Default::default() };
/// let record = br#"{"id": 1000, "name": "user 1000", "active": true}"#;
/// let mut frame = Vec::new();
/// compress_with(record, Format::Zstd, None, &options, &mut VecSink::new(&mut frame)).unwrap();
///
/// let mut out = Vec::new();
/// let mut sink = VecSink::new(&mut out);
/// let mut decoder = Decoder::new(Format::Zstd, 1 << 20).with_dictionaries(vec![dictionary]);
/// decoder.decode(&frame, &mut sink, usize::MAX).unwrap();
/// decoder.finish(&mut sink).unwrap();
/// sink.finish();
/// assert_eq!(out, record);
/// ```
pub fn compress_with(
    data: &[u8],
    format: Format,
    level: Option<Level>,
    options: &ZstdOptions,
    sink: &mut dyn Sink,
) -> Result<(), CompressionError> {
    only_zstd(format, options)?;
    span!(
        "chunker.compress",
        bytes = data.len(),
        format = format.name()
    );
    #[cfg(feature = "metrics")]
    let before = sink.written();
    let oneshot = match format {
        Format::Zstd => zstd::compress_oneshot(data, Level::resolve(format, level)?, options, sink),
        Format::Lz4 => {
            Level::resolve(format, level)?;
            lz4::compress_oneshot(data, sink)
        }
        // Counted by the encoder.
        Format::Xz | Format::Bzip2 => return encode_whole(data, format, level, sink),
    };
    oneshot?;
    count!("chunker.compress.bytes_in", data.len(), "format" => format.name());
    count!(
        "chunker.compress.bytes_out",
        sink.written().saturating_sub(before),
        "format" => format.name(),
    );
    Ok(())
}

fn encode_whole(
    data: &[u8],
    format: Format,
    level: Option<Level>,
    sink: &mut dyn Sink,
) -> Result<(), CompressionError> {
    let mut encoder = Encoder::new(format, level)?;
    encoder.update(data, sink)?;
    encoder.finish(sink)
}

/// Decompresses `data` (all of its concatenated frames), detecting the format from its magic
/// bytes unless `format` is given. Output past `limit` bytes is refused with
/// [`CompressionError::SizeExceeded`]; truncated, corrupt and trailing data are errors.
pub fn decompress(
    data: &[u8],
    format: Option<Format>,
    limit: u64,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    decompress_into(data, format, limit, &mut out)?;
    Ok(out)
}

/// Like [`decompress`], writing into `out` (cleared first; its allocation is reused).
pub fn decompress_into(
    data: &[u8],
    format: Option<Format>,
    limit: u64,
    out: &mut Vec<u8>,
) -> Result<(), CompressionError> {
    let mut sink = VecSink::new(out);
    decompress_to(data, format, limit, &mut sink)
}

/// Like [`decompress`], writing into any [`Sink`].
pub fn decompress_to(
    data: &[u8],
    format: Option<Format>,
    limit: u64,
    sink: &mut dyn Sink,
) -> Result<(), CompressionError> {
    span!("chunker.decompress", bytes = data.len());
    let mut decoder = match format {
        Some(format) => Decoder::new(format, limit),
        None => Decoder::detecting(limit),
    };
    decoder.reserve_up_to(Decoder::reservation_for(data.len()));
    let mut rest = data;
    loop {
        let step = decoder.decode(rest, sink, usize::MAX)?;
        rest = rest.get(step.consumed..).unwrap_or_default();
        if rest.is_empty() && !step.pending {
            break;
        }
    }
    decoder.finish(sink)
}
