//! Chunking a [`std::io::Read`] source as an iterator of owned chunks.

use std::collections::VecDeque;
use std::io::{self, Read};

use crate::chunk::Chunk;
use crate::config::ChunkerConfig;
use crate::hash::HashAlgorithm;
use crate::incremental::IncrementalChunker;

/// How many bytes [`ChunkStream`] asks its reader for at a time, unless told otherwise.
pub const DEFAULT_READ_SIZE: usize = 1 << 20;

/// A chunk together with its bytes, as yielded by [`ChunkStream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkData {
    /// Position, length and digest.
    pub chunk: Chunk,
    /// The chunk's bytes.
    pub data: Vec<u8>,
}

/// Iterates over the chunks of everything `reader` produces, in bounded memory (about the read
/// size plus three times `max_size`). Boundaries and digests equal
/// [`chunk_slice`](crate::chunk_slice) on the whole input.
///
/// ```
/// use chunker_core::{ChunkStream, ChunkerConfig, HashAlgorithm};
/// let data = vec![7u8; 300_000];
/// let stream = ChunkStream::new(&data[..], ChunkerConfig::default(), Some(HashAlgorithm::Blake3));
/// let lengths: Vec<usize> = stream.map(|c| c.unwrap().chunk.length).collect();
/// assert_eq!(lengths, [262_144, 37_856]);
/// ```
pub struct ChunkStream<R> {
    reader: R,
    chunker: IncrementalChunker,
    read_buf: Vec<u8>,
    ready: VecDeque<ChunkData>,
}

impl<R: Read> ChunkStream<R> {
    /// Chunks `reader` with `config`, hashing with `hash`.
    pub fn new(reader: R, config: ChunkerConfig, hash: Option<HashAlgorithm>) -> Self {
        Self::with_read_size(reader, config, hash, DEFAULT_READ_SIZE)
    }

    /// Like [`ChunkStream::new`], reading `read_size` bytes at a time (at least 1).
    pub fn with_read_size(
        reader: R,
        config: ChunkerConfig,
        hash: Option<HashAlgorithm>,
        read_size: usize,
    ) -> Self {
        Self {
            reader,
            chunker: IncrementalChunker::new(config, hash),
            read_buf: vec![0; read_size.max(1)],
            ready: VecDeque::new(),
        }
    }

    /// Returns the reader.
    pub fn into_inner(self) -> R {
        self.reader
    }

    fn fill(&mut self) -> io::Result<()> {
        let n = loop {
            match self.reader.read(&mut self.read_buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let piece = self.read_buf.get(..n).unwrap_or_default();
        let batch = if n == 0 {
            self.chunker.finish()
        } else {
            self.chunker.feed(piece)
        };
        if let Ok(batch) = batch {
            self.ready
                .extend(batch.iter().map(|(chunk, bytes)| ChunkData {
                    chunk: *chunk,
                    data: bytes.to_vec(),
                }));
        }
        Ok(())
    }
}

impl<R: Read> Iterator for ChunkStream<R> {
    type Item = io::Result<ChunkData>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(chunk) = self.ready.pop_front() {
                return Some(Ok(chunk));
            }
            if self.chunker.is_finished() {
                return None;
            }
            if let Err(e) = self.fill() {
                return Some(Err(e));
            }
        }
    }
}
