//! Many independent items at once, on rayon's pool.

use super::dictionary::ZstdOptions;
use super::error::CompressionError;
use super::format::{Format, Level};
use super::oneshot::{compress_with, decompress_to};
use super::sink::{Sink, VecSink};

/// Below this many input bytes in all, a batch runs on the calling thread: handing work to
/// the pool costs more than a second core returns (see `PARALLEL_MIN_BYTES` for chunking).
const PARALLEL_MIN_BYTES: usize = 128 * 1024;

fn run_many<S, F>(items: &[&[u8]], sinks: &mut [S], f: F) -> Vec<Result<(), CompressionError>>
where
    S: Sink + Send,
    F: Fn(&[u8], &mut S) -> Result<(), CompressionError> + Sync + Send,
{
    let total: usize = items.iter().map(|item| item.len()).sum();
    if total >= PARALLEL_MIN_BYTES {
        crate::parallel::map_with(items, sinks, |item, sink| f(item, sink))
    } else {
        items
            .iter()
            .zip(sinks.iter_mut())
            .map(|(item, sink)| f(item, sink))
            .collect()
    }
}

/// Compresses each item into the sink at the same index, in parallel; one result per item.
pub fn compress_many_to<S: Sink + Send>(
    items: &[&[u8]],
    sinks: &mut [S],
    format: Format,
    level: Option<Level>,
) -> Vec<Result<(), CompressionError>> {
    compress_many_with(items, sinks, format, level, &ZstdOptions::default())
}

/// Like [`compress_many_to`], with zstd's options (a dictionary is prepared once and shared
/// by every item).
pub fn compress_many_with<S: Sink + Send>(
    items: &[&[u8]],
    sinks: &mut [S],
    format: Format,
    level: Option<Level>,
    options: &ZstdOptions,
) -> Vec<Result<(), CompressionError>> {
    run_many(items, sinks, |item, sink| {
        compress_with(item, format, level, options, sink)
    })
}

/// Decompresses each item into the sink at the same index, in parallel; one result per item,
/// so one bad item does not fail the others. `limit` applies to each item.
pub fn decompress_many_to<S: Sink + Send>(
    items: &[&[u8]],
    sinks: &mut [S],
    format: Option<Format>,
    limit: u64,
) -> Vec<Result<(), CompressionError>> {
    run_many(items, sinks, |item, sink| {
        decompress_to(item, format, limit, sink)
    })
}

fn collect(
    outputs: Vec<Vec<u8>>,
    results: Vec<Result<(), CompressionError>>,
) -> Vec<Result<Vec<u8>, CompressionError>> {
    outputs
        .into_iter()
        .zip(results)
        .map(|(output, result)| result.map(|()| output))
        .collect()
}

/// Compresses each item, in parallel, in input order.
///
/// ```
/// use chunker_core::compression::{compress_many, decompress_many, Format};
/// let items: Vec<&[u8]> = vec![b"one", b"two two", b"three three three"];
/// let packed = compress_many(&items, Format::Zstd, None);
/// let packed: Vec<Vec<u8>> = packed.into_iter().map(Result::unwrap).collect();
/// let refs: Vec<&[u8]> = packed.iter().map(Vec::as_slice).collect();
/// let back = decompress_many(&refs, None, 1 << 20);
/// assert_eq!(back[2].as_deref().unwrap(), b"three three three");
/// ```
pub fn compress_many(
    items: &[&[u8]],
    format: Format,
    level: Option<Level>,
) -> Vec<Result<Vec<u8>, CompressionError>> {
    let mut outputs = vec![Vec::new(); items.len()];
    let results = {
        let mut sinks: Vec<VecSink<'_>> = outputs.iter_mut().map(VecSink::new).collect();
        compress_many_to(items, &mut sinks, format, level)
    };
    collect(outputs, results)
}

/// Decompresses each item, in parallel, in input order; `limit` applies to each item.
pub fn decompress_many(
    items: &[&[u8]],
    format: Option<Format>,
    limit: u64,
) -> Vec<Result<Vec<u8>, CompressionError>> {
    let mut outputs = vec![Vec::new(); items.len()];
    let results = {
        let mut sinks: Vec<VecSink<'_>> = outputs.iter_mut().map(VecSink::new).collect();
        decompress_many_to(items, &mut sinks, format, limit)
    };
    collect(outputs, results)
}
