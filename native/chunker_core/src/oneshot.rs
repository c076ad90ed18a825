//! Chunking a whole input that is already in memory.

use crate::chunk::Chunk;
use crate::config::ChunkerConfig;
use crate::cut::CutEngine;
use crate::cut_run::{cut_run, cut_run_with, laned_chain};
use crate::hash::HashAlgorithm;
use crate::observe::{count, span};

/// Splits `data` into chunks whose boundaries are those of `fastcdc::v2020::FastCDC` with the
/// same sizes, and hashes each chunk with `hash`. Offsets count from `data[0]`.
///
/// Large inputs use rayon's pool: from [`PARALLEL_MIN_BYTES`](crate::PARALLEL_MIN_BYTES),
/// chunks are hashed on it while the cut-point scan goes on; from twice a segment's length
/// (256 KiB, or 8 average chunks if more), the scan itself is split into segments scanned
/// (and hashed) in parallel, with exactly the sequential result.
///
/// ```
/// use chunker_core::{chunk_slice, ChunkerConfig, HashAlgorithm};
/// let data = vec![0u8; 600_000];
/// let chunks = chunk_slice(&data, &ChunkerConfig::default(), Some(HashAlgorithm::Blake3));
/// // All-zero data never matches the cut mask, so every chunk is max_size but the last.
/// let lengths: Vec<usize> = chunks.iter().map(|c| c.length).collect();
/// assert_eq!(lengths, [262_144, 262_144, 75_712]);
/// ```
pub fn chunk_slice(data: &[u8], config: &ChunkerConfig, hash: Option<HashAlgorithm>) -> Vec<Chunk> {
    span!("chunker.chunk_slice", bytes = data.len());
    let run = cut_run(config, data, hash, true);
    with_tail(data, run.chunks, run.open, hash)
}

/// [`chunk_slice`] on the calling thread alone, never using rayon's pool: for callers that
/// must not wait on other work (a thread outside the pool that hands it work blocks until
/// that work is done, however busy the pool is), such as a BEAM normal scheduler.
pub fn chunk_slice_sequential(
    data: &[u8],
    config: &ChunkerConfig,
    hash: Option<HashAlgorithm>,
) -> Vec<Chunk> {
    span!("chunker.chunk_slice", bytes = data.len(), sequential = true);
    let run = cut_run(config, data, hash, false);
    with_tail(data, run.chunks, run.open, hash)
}

/// [`chunk_slice_sequential`] with every scan done by `engine`, on the calling thread, and the
/// input scanned as two lanes split at `mid` whatever its size (the thresholds that decide
/// when lanes pay are skipped). For tests and fuzz targets that force a path: the chunks are
/// the same for every engine and every `mid`.
#[doc(hidden)]
pub fn chunk_slice_forced(
    data: &[u8],
    config: &ChunkerConfig,
    hash: Option<HashAlgorithm>,
    engine: CutEngine,
    mid: usize,
) -> Vec<Chunk> {
    let run = laned_chain(config, data, hash, engine, mid)
        .unwrap_or_else(|| cut_run_with(config, data, hash, false, engine));
    with_tail(data, run.chunks, run.open, hash)
}

fn with_tail(
    data: &[u8],
    mut chunks: Vec<Chunk>,
    open: usize,
    hash: Option<HashAlgorithm>,
) -> Vec<Chunk> {
    // The chunk still open at the end of the input is its last one.
    if let Some(tail) = data.get(open..).filter(|tail| !tail.is_empty()) {
        chunks.push(Chunk {
            offset: open as u64,
            length: tail.len(),
            hash: hash.map(|algo| algo.hash(tail)),
        });
    }
    count!("chunker.chunk.bytes", data.len());
    count!("chunker.chunk.chunks", chunks.len());
    chunks
}

/// The boundaries alone (no hashing), as [`Chunk`]s with `hash: None`.
pub fn cut_points(data: &[u8], config: &ChunkerConfig) -> Vec<Chunk> {
    chunk_slice(data, config, None)
}

/// [`chunk_slice`] of each of `items`, the items spread over rayon's pool (see
/// [`crate::parallel`]); results in input order, offsets counting from each item's start.
///
/// ```
/// use chunker_core::{chunk_many, chunk_slice, ChunkerConfig, HashAlgorithm};
/// let config = ChunkerConfig::default();
/// let items: [&[u8]; 2] = [b"first", &[7u8; 100_000]];
/// let chunked = chunk_many(&items, &config, Some(HashAlgorithm::Blake3));
/// assert_eq!(chunked[1], chunk_slice(items[1], &config, Some(HashAlgorithm::Blake3)));
/// ```
pub fn chunk_many(
    items: &[&[u8]],
    config: &ChunkerConfig,
    hash: Option<HashAlgorithm>,
) -> Vec<Vec<Chunk>> {
    span!("chunker.chunk_many", items = items.len());
    crate::parallel::map_by_weight(
        items,
        |item| item.len() + 256,
        |item| chunk_slice(item, config, hash),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chunker_testdata::random_bytes;

    #[test]
    #[cfg_attr(miri, ignore = "megabytes of scanning: too slow under Miri")]
    fn every_entry_point_gives_the_same_chunks() {
        let config = ChunkerConfig::new(1024, 4096, 16_384).unwrap();
        let data = random_bytes(3_000_000, 11);
        let hash = Some(HashAlgorithm::Blake3);
        let want = chunk_slice(&data, &config, hash);
        assert_eq!(chunk_slice_sequential(&data, &config, hash), want);

        let items: Vec<&[u8]> = vec![&data, &data[..10], &[], &data[5..700_000]];
        let many = chunk_many(&items, &config, hash);
        for (item, chunks) in items.iter().zip(&many) {
            assert_eq!(chunks, &chunk_slice_sequential(item, &config, hash));
        }

        // Pieces large enough to use the pool when allowed, and the same without it.
        for pool in [true, false] {
            let mut chunker = crate::IncrementalChunker::new(config.clone(), hash);
            chunker.use_pool(pool);
            let mut got = Vec::new();
            for piece in data.chunks(700_001) {
                got.extend(chunker.feed(piece).unwrap().chunks().iter().copied());
            }
            got.extend(chunker.finish().unwrap().chunks().iter().copied());
            assert_eq!(got, want, "pool {pool}");
        }
    }
}
