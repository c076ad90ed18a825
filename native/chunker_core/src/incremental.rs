//! Chunking data that arrives in pieces of any size.
//!
//! [`IncrementalChunker`] scans each byte once, carrying the scan state of the open chunk from
//! one piece to the next (see `cut.rs`), so its output equals
//! [`chunk_slice`](crate::chunk_slice) on the concatenation of the pieces, whatever their
//! sizes, at the same speed.
//!
//! Chunks that lie wholly inside the piece just fed are reported by position in that piece, so
//! a caller that owns the piece (a BEAM binary, an mmap) can hand them out without copying.
//! Only the bytes of the chunk still open at the end of a piece are copied, into an internal
//! buffer ([`Batch::carried`]); the chunk is reported as that buffer's part plus the next
//! piece's ([`Source::Spanning`]), so a caller that needs it contiguous copies it once more.

use crate::observe::{count, span};
use std::fmt;

use crate::chunk::{Chunk, ChunkBytes};
use crate::config::ChunkerConfig;
use crate::cut::{scan, Scan};
use crate::cut_run::cut_run;
use crate::hash::HashAlgorithm;
use crate::pipeline::PARALLEL_MIN_BYTES;

/// Where a chunk's bytes are during the [`Batch`] that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// At this index of the piece passed to [`IncrementalChunker::feed`].
    Piece(usize),
    /// At this index of [`Batch::carried`].
    Carried(usize),
    /// The first `carried_len` bytes at index `carried` of [`Batch::carried`], then the rest at
    /// index `piece` of the piece: a chunk that began in an earlier piece and ends in this one.
    Spanning {
        /// Index of the chunk's first byte in [`Batch::carried`].
        carried: usize,
        /// How many of the chunk's bytes are carried.
        carried_len: usize,
        /// Index in the piece where the rest begins.
        piece: usize,
    },
}

/// The incremental chunker was used after [`IncrementalChunker::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishedError;

impl fmt::Display for FinishedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the chunk stream is already finished")
    }
}

impl std::error::Error for FinishedError {}

/// A streaming FastCDC chunker: [`feed`](Self::feed) pieces, then [`finish`](Self::finish).
///
/// ```
/// use chunker_core::{chunk_slice, ChunkerConfig, HashAlgorithm, IncrementalChunker};
/// let data: Vec<u8> = (0..1_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
/// let config = ChunkerConfig::new(4096, 16_384, 65_536).unwrap();
/// let mut chunker = IncrementalChunker::new(config.clone(), Some(HashAlgorithm::Blake3));
/// let mut streamed = Vec::new();
/// for piece in data.chunks(10_007) {
///     streamed.extend_from_slice(chunker.feed(piece).unwrap().chunks());
/// }
/// streamed.extend_from_slice(chunker.finish().unwrap().chunks());
/// assert_eq!(streamed, chunk_slice(&data, &config, Some(HashAlgorithm::Blake3)));
/// ```
#[derive(Debug, Clone)]
pub struct IncrementalChunker {
    config: ChunkerConfig,
    hash: Option<HashAlgorithm>,
    /// The bytes of the open chunk (begun, not yet cut); always fewer than `max_size`.
    open: Vec<u8>,
    /// How far the cut-point scan has got through `open`.
    scan: Scan,
    /// Input offset of `open[0]`.
    open_offset: u64,
    /// During a call: the previous `open` plus the piece bytes that completed chunks begun in
    /// it. Kept until the next call because the returned [`Batch`] borrows it.
    carried: Vec<u8>,
    /// How many bytes of `carried` the last call's [`Batch`] reports chunks in.
    carried_used: usize,
    chunks: Vec<Chunk>,
    sources: Vec<Source>,
    finished: bool,
    /// Whether calls may use rayon's pool.
    pool: bool,
}

impl IncrementalChunker {
    /// A chunker for one input, hashing each chunk with `hash` (`None`: no digests).
    pub fn new(config: ChunkerConfig, hash: Option<HashAlgorithm>) -> Self {
        Self {
            scan: Scan::new(&config),
            config,
            hash,
            open: Vec::new(),
            open_offset: 0,
            carried: Vec::new(),
            carried_used: 0,
            chunks: Vec::new(),
            sources: Vec::new(),
            finished: false,
            pool: true,
        }
    }

    /// Whether later calls may use rayon's pool for large pieces (the default), or must do
    /// all their work on the calling thread. A caller that must never wait on other work,
    /// such as a BEAM normal scheduler, turns it off for those calls: a thread outside the
    /// pool that hands it work blocks until the work is done, however busy the pool is.
    pub fn use_pool(&mut self, allowed: bool) {
        self.pool = allowed;
    }

    /// The configuration this chunker was built with.
    pub fn config(&self) -> &ChunkerConfig {
        &self.config
    }

    /// Bytes received but not yet part of an emitted chunk (always `< max_size`).
    pub fn buffered(&self) -> usize {
        self.open.len()
    }

    /// Total bytes received so far.
    pub fn position(&self) -> u64 {
        self.open_offset + self.open.len() as u64
    }

    /// True once [`finish`](Self::finish) (or [`release`](Self::release)) has run.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Adds the next piece of input and returns the chunks it completed (possibly none).
    pub fn feed<'a>(&'a mut self, piece: &'a [u8]) -> Result<Batch<'a>, FinishedError> {
        if self.finished {
            return Err(FinishedError);
        }
        span!("chunker.feed", bytes = piece.len());
        count!("chunker.chunk.bytes", piece.len());
        self.begin_call();
        // Cheap: a seeded gear table is shared, not copied.
        let config = self.config.clone();
        let base = self.open_offset;
        let piece_base = base + self.carried.len() as u64;

        // The open chunk began in an earlier piece: its bytes are `carried[start..]` followed
        // by `piece[used..]`.
        let mut start = 0;
        let mut used = 0;
        while start < self.carried.len() {
            // An even carried part keeps every candidate pair on one side of the seam.
            if (self.carried.len() - start) % 2 == 1 {
                if let Some(&byte) = piece.get(used) {
                    self.carried.push(byte);
                    used += 1;
                }
            }
            let carried_part = self.carried.get(start..).unwrap_or_default();
            let seam = carried_part.len();
            if let Some(length) = scan(&config, &mut self.scan, carried_part, 0) {
                self.push(base + start as u64, length, Source::Carried(start));
                start += length;
                continue;
            }
            let rest = piece.get(used..).unwrap_or_default();
            let decided = if seam % 2 == 0 {
                scan(&config, &mut self.scan, rest, seam)
            } else {
                None // the piece is used up; wait for the pair's second byte
            };
            let Some(length) = decided else {
                if start == 0 {
                    // Nothing was cut: the open chunk just grows. Hand the buffer back
                    // instead of copying it, so a small piece costs O(piece), not
                    // O(bytes held).
                    std::mem::swap(&mut self.open, &mut self.carried);
                    self.open.extend_from_slice(rest);
                } else {
                    self.open.extend_from_slice(carried_part);
                    self.open.extend_from_slice(rest);
                }
                self.open_offset = base + start as u64;
                return Ok(self.cut_piece_and_hash(start, piece, None, piece_base));
            };
            let source = Source::Spanning {
                carried: start,
                carried_len: seam,
                piece: used,
            };
            self.push(base + start as u64, length, source);
            used += length - seam;
            start = self.carried.len();
        }
        let carried_used = start;
        Ok(self.cut_piece_and_hash(carried_used, piece, Some(used), piece_base))
    }

    /// The chunks the last call completed, again, given the `piece` it was fed (an empty
    /// piece after [`finish`](Self::finish) or [`cut_here`](Self::cut_here)). For a caller
    /// that fed a piece on another thread and could not keep the [`Batch`] it returned; with
    /// any other piece the chunks are the same but their bytes are wrong (never a panic).
    pub fn last_batch<'a>(&'a self, piece: &'a [u8]) -> Batch<'a> {
        Batch {
            chunks: &self.chunks,
            sources: &self.sources,
            carried: self.carried.get(..self.carried_used).unwrap_or_default(),
            piece,
        }
    }

    /// Ends the input and returns the chunks of the remaining bytes. Later calls to
    /// [`feed`](Self::feed) or `finish` return [`FinishedError`].
    pub fn finish(&mut self) -> Result<Batch<'_>, FinishedError> {
        if self.finished {
            return Err(FinishedError);
        }
        self.finished = true;
        span!("chunker.finish", bytes = self.buffered());
        Ok(self.flush())
    }

    /// Ends a segment: the bytes held are chunked as if the input ended here, and the next
    /// byte fed starts a new chunk. Chunking input segment by segment this way gives each
    /// segment the chunks it would have on its own.
    pub fn cut_here(&mut self) -> Result<Batch<'_>, FinishedError> {
        if self.finished {
            return Err(FinishedError);
        }
        Ok(self.flush())
    }

    fn flush(&mut self) -> Batch<'_> {
        self.begin_call();
        let config = self.config.clone();
        let base = self.open_offset;
        let mut start = 0;
        while start < self.carried.len() {
            let rest = self.carried.get(start..).unwrap_or_default();
            let length = scan(&config, &mut self.scan, rest, 0).unwrap_or(rest.len());
            self.push(base + start as u64, length, Source::Carried(start));
            start += length;
        }
        self.open_offset = base + start as u64;
        self.cut_piece_and_hash(start, &[], None, base)
    }

    /// Frees the buffers; the chunker behaves as finished afterwards.
    pub fn release(&mut self) {
        self.finished = true;
        self.open = Vec::new();
        self.carried = Vec::new();
        self.carried_used = 0;
        self.chunks = Vec::new();
        self.sources = Vec::new();
    }

    fn begin_call(&mut self) {
        self.carried_used = 0;
        self.chunks.clear();
        self.sources.clear();
        std::mem::swap(&mut self.carried, &mut self.open);
        self.open.clear();
    }

    fn push(&mut self, offset: u64, length: usize, source: Source) {
        self.chunks.push(Chunk {
            offset,
            length,
            hash: None,
        });
        self.sources.push(source);
        self.scan = Scan::new(&self.config);
    }

    /// Cuts the chunks that begin at or after `piece[from]` (when the open chunk begins in the
    /// piece; the piece starts at input offset `piece_base`), keeping the tail as the open
    /// chunk, and hashes every chunk of the call. Large calls use rayon's pool: the piece is
    /// scanned in parallel segments (`cut_run.rs`) while the chunks of carried bytes are hashed.
    fn cut_piece_and_hash<'a>(
        &'a mut self,
        carried_used: usize,
        piece: &'a [u8],
        from: Option<usize>,
        piece_base: u64,
    ) -> Batch<'a> {
        let Self {
            config,
            hash,
            open,
            scan: state,
            open_offset,
            carried,
            carried_used: batch_carried,
            chunks,
            sources,
            pool,
            ..
        } = self;
        *batch_carried = carried_used;
        let carried: &'a [u8] = carried.get(..carried_used).unwrap_or_default();
        let parallel = *pool && carried.len() + piece.len() >= PARALLEL_MIN_BYTES;
        let (config, hash): (&ChunkerConfig, _) = (config, *hash);
        let hash_carried = |chunks: &mut Vec<Chunk>| {
            if let Some(algo) = hash {
                for (chunk, source) in chunks.iter_mut().zip(sources.iter()) {
                    chunk.hash =
                        Some(algo.hash_bytes(&bytes_at(carried, piece, *source, chunk.length)));
                }
            }
        };
        let cut_piece = || {
            from.map(|at| {
                (
                    at,
                    cut_run(config, piece.get(at..).unwrap_or_default(), hash, parallel),
                )
            })
        };
        let run = if parallel && !chunks.is_empty() && from.is_some() {
            rayon::join(|| hash_carried(chunks), cut_piece).1
        } else {
            hash_carried(chunks);
            cut_piece()
        };
        if let Some((at, run)) = run {
            for chunk in run.chunks {
                let start = at + chunk.offset as usize;
                chunks.push(Chunk {
                    offset: piece_base + start as u64,
                    ..chunk
                });
                sources.push(Source::Piece(start));
            }
            open.extend_from_slice(piece.get(at + run.open..).unwrap_or_default());
            *open_offset = piece_base + (at + run.open) as u64;
            *state = run.state;
        }
        count!("chunker.chunk.chunks", chunks.len());
        Batch {
            chunks,
            sources,
            carried,
            piece,
        }
    }
}

/// The chunks completed by one call, with access to their bytes until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    chunks: &'a [Chunk],
    sources: &'a [Source],
    carried: &'a [u8],
    piece: &'a [u8],
}

impl<'a> Batch<'a> {
    /// The completed chunks, in input order.
    pub fn chunks(&self) -> &'a [Chunk] {
        self.chunks
    }

    /// Where each chunk's bytes are (same order as [`chunks`](Self::chunks)).
    pub fn sources(&self) -> &'a [Source] {
        self.sources
    }

    /// The buffer that [`Source::Carried`] indexes point into.
    pub fn carried(&self) -> &'a [u8] {
        self.carried
    }

    /// Number of completed chunks.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// True when the call completed no chunk.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The bytes of `chunk`, which this batch reports at `source`.
    pub fn bytes(&self, chunk: &Chunk, source: Source) -> ChunkBytes<'a> {
        bytes_at(self.carried, self.piece, source, chunk.length)
    }

    /// Each chunk with its bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&'a Chunk, ChunkBytes<'a>)> + 'a {
        let (carried, piece) = (self.carried, self.piece);
        self.chunks
            .iter()
            .zip(self.sources)
            .map(move |(chunk, source)| (chunk, bytes_at(carried, piece, *source, chunk.length)))
    }
}

fn bytes_at<'a>(
    carried: &'a [u8],
    piece: &'a [u8],
    source: Source,
    length: usize,
) -> ChunkBytes<'a> {
    let range = |buffer: &'a [u8], start: usize, len: usize| {
        buffer
            .get(start..start.saturating_add(len))
            .unwrap_or_default()
    };
    match source {
        Source::Piece(start) => ChunkBytes::contiguous(range(piece, start, length)),
        Source::Carried(start) => ChunkBytes::contiguous(range(carried, start, length)),
        Source::Spanning {
            carried: start,
            carried_len,
            piece: piece_start,
        } => ChunkBytes::split(
            range(carried, start, carried_len),
            range(piece, piece_start, length.saturating_sub(carried_len)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk_slice;

    fn sample(len: usize) -> Vec<u8> {
        chunker_testdata::random_bytes(len, 1)
    }

    fn streamed(data: &[u8], config: &ChunkerConfig, piece: usize) -> Vec<(Chunk, Vec<u8>)> {
        let mut chunker = IncrementalChunker::new(config.clone(), Some(HashAlgorithm::Sha256));
        let mut out = Vec::new();
        for p in data.chunks(piece.max(1)) {
            let batch = chunker.feed(p).unwrap();
            out.extend(batch.iter().map(|(c, b)| (*c, b.to_vec())));
            assert!(chunker.buffered() < config.max_size());
        }
        let batch = chunker.finish().unwrap();
        out.extend(batch.iter().map(|(c, b)| (*c, b.to_vec())));
        out
    }

    #[test]
    fn equals_one_shot_for_many_piece_sizes() {
        // Under Miri (~1000x slower) a smaller input, so it finishes in minutes.
        let len = if cfg!(miri) { 6_000 } else { 700_000 };
        let data = sample(len);
        let config = ChunkerConfig::new(1024, 4096, 16_384).unwrap();
        let want = chunk_slice(&data, &config, Some(HashAlgorithm::Sha256));
        let pieces: &[usize] = if cfg!(miri) {
            &[3, 1000, 4095]
        } else {
            &[1, 2, 3, 1000, 4095, 16_383, 16_384, 16_385, 65_536, 700_000]
        };
        for &piece in pieces {
            let got = streamed(&data, &config, piece);
            let chunks: Vec<Chunk> = got.iter().map(|(c, _)| *c).collect();
            assert_eq!(chunks, want, "piece size {piece}");
            for (chunk, bytes) in &got {
                let start = chunk.offset as usize;
                assert_eq!(&bytes[..], &data[start..start + chunk.length]);
            }
        }
    }

    #[test]
    fn chunks_inside_a_piece_point_into_it() {
        // Under Miri a small input, with sizes small enough to cut it several times.
        let (config, len) = if cfg!(miri) {
            (ChunkerConfig::new(64, 256, 1024).unwrap(), 4_000)
        } else {
            (ChunkerConfig::default(), 1 << 20)
        };
        let data = sample(len);
        let mut chunker = IncrementalChunker::new(config, None);
        let batch = chunker.feed(&data).unwrap();
        assert!(batch.len() > 1);
        assert!(batch.carried().is_empty());
        assert!(batch
            .sources()
            .iter()
            .all(|s| matches!(s, Source::Piece(_))));
    }

    #[test]
    fn last_batch_is_what_the_last_call_returned() {
        let config = ChunkerConfig::new(64, 256, 1024).unwrap();
        let data = sample(if cfg!(miri) { 3_000 } else { 50_000 });
        let mut chunker = IncrementalChunker::new(config, Some(HashAlgorithm::Blake3));
        // Uneven pieces, so that batches hold carried, spanning and piece chunks.
        for piece in data.chunks(777) {
            let fed: Vec<(Chunk, Vec<u8>)> = chunker
                .feed(piece)
                .unwrap()
                .iter()
                .map(|(c, b)| (*c, b.to_vec()))
                .collect();
            let again: Vec<(Chunk, Vec<u8>)> = chunker
                .last_batch(piece)
                .iter()
                .map(|(c, b)| (*c, b.to_vec()))
                .collect();
            assert_eq!(again, fed);
        }
        let finished = chunker.finish().unwrap().len();
        assert_eq!(chunker.last_batch(&[]).len(), finished);
    }

    #[test]
    fn empty_input_and_use_after_finish() {
        let mut chunker = IncrementalChunker::new(ChunkerConfig::default(), None);
        assert!(chunker.feed(&[]).unwrap().is_empty());
        assert!(chunker.finish().unwrap().is_empty());
        assert_eq!(chunker.feed(b"x").unwrap_err(), FinishedError);
        assert!(chunker.finish().is_err());
    }
}
