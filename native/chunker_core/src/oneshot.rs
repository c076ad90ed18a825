//! Chunking a whole input that is already in memory.

use crate::chunk::{Chunk, ChunkBytes};
use crate::config::ChunkerConfig;
use crate::hash::HashAlgorithm;
use crate::pipeline::{with_hashing, PARALLEL_MIN_BYTES};

/// Splits `data` into chunks whose boundaries are those of `fastcdc::v2020::FastCDC` with the
/// same sizes, and hashes each chunk with `hash`. Offsets count from `data[0]`.
///
/// For inputs of [`PARALLEL_MIN_BYTES`](crate::PARALLEL_MIN_BYTES) or more, chunks are hashed
/// on rayon's pool while the cut-point scan goes on.
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
    let Some(algo) = hash else {
        return cut_points(data, config);
    };
    let parallel = data.len() >= PARALLEL_MIN_BYTES;
    let (mut chunks, digests) = with_hashing(algo, parallel, |hashing| {
        let mut chunks = Vec::with_capacity(data.len() / config.avg_size() + 1);
        for_each_cut(data, config, |offset, bytes| {
            hashing.submit(ChunkBytes::contiguous(bytes));
            chunks.push(chunk_at(offset, bytes.len()));
        });
        chunks
    });
    for (chunk, digest) in chunks.iter_mut().zip(digests) {
        chunk.hash = Some(digest);
    }
    chunks
}

/// The boundaries alone (no hashing), as [`Chunk`]s with `hash: None`.
pub fn cut_points(data: &[u8], config: &ChunkerConfig) -> Vec<Chunk> {
    let mut chunks = Vec::with_capacity(data.len() / config.avg_size() + 1);
    for_each_cut(data, config, |offset, bytes| {
        chunks.push(chunk_at(offset, bytes.len()))
    });
    chunks
}

fn for_each_cut<'d>(data: &'d [u8], config: &ChunkerConfig, mut emit: impl FnMut(u64, &'d [u8])) {
    let mut rest = data;
    let mut offset = 0u64;
    while !rest.is_empty() {
        let length = config.cut(rest).clamp(1, rest.len());
        let (bytes, tail) = rest.split_at(length);
        emit(offset, bytes);
        offset += length as u64;
        rest = tail;
    }
}

fn chunk_at(offset: u64, length: usize) -> Chunk {
    Chunk {
        offset,
        length,
        hash: None,
    }
}
