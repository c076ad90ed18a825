//! Chunking a NAR so that each large file's contents are chunked on their own.
//!
//! Plain content-defined chunking of a NAR lets a chunk span the end of one file, the
//! headers between, and the start of the next; change one file and the chunks around its
//! neighbours change too. [`NarAwareChunker`] parses the NAR as it passes and cuts at the
//! start and the end of the contents of every file of at least `min_file_size` bytes, so
//! such a file's chunks depend only on its own bytes, wherever it sits in the archive.
//! Everything between those files (headers, small files) is chunked as usual.

use std::collections::VecDeque;
use std::fmt;

use crate::config::ChunkerConfig;
use crate::hash::HashAlgorithm;
use crate::incremental::{Batch, FinishedError, IncrementalChunker};
use crate::nar::{Event, NarError, Parser};

/// Why NAR-aware chunking failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NarChunkError {
    /// The input is not a valid NAR.
    Nar(NarError),
    /// Used after [`NarAwareChunker::finish`].
    Finished,
}

impl fmt::Display for NarChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NarChunkError::Nar(error) => error.fmt(f),
            NarChunkError::Finished => FinishedError.fmt(f),
        }
    }
}

impl std::error::Error for NarChunkError {}

impl From<NarError> for NarChunkError {
    fn from(error: NarError) -> Self {
        NarChunkError::Nar(error)
    }
}

impl From<FinishedError> for NarChunkError {
    fn from(_: FinishedError) -> Self {
        NarChunkError::Finished
    }
}

/// An incremental chunker for NARs with cuts at the edges of large files' contents.
///
/// Each call hands its chunks to a callback, one [`Batch`] per segment of the piece, so that
/// a caller can use each batch's borrowed bytes before the next segment is chunked.
pub struct NarAwareChunker {
    chunker: IncrementalChunker,
    parser: Parser,
    min_file_size: u64,
    /// Input offsets still to cut at, in order.
    cuts: VecDeque<u64>,
    /// Input offset of the next byte fed.
    position: u64,
}

impl NarAwareChunker {
    /// Chunks with `config` and `hash`, cutting around the contents of files of at least
    /// `min_file_size` bytes.
    pub fn new(config: ChunkerConfig, hash: Option<HashAlgorithm>, min_file_size: u64) -> Self {
        Self {
            chunker: IncrementalChunker::new(config, hash),
            parser: Parser::without_paths(),
            min_file_size: min_file_size.max(1),
            cuts: VecDeque::new(),
            position: 0,
        }
    }

    /// Bytes fed so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Bytes held, not yet part of an emitted chunk.
    pub fn buffered(&self) -> usize {
        self.chunker.buffered()
    }

    /// See [`IncrementalChunker::use_pool`].
    pub fn use_pool(&mut self, allowed: bool) {
        self.chunker.use_pool(allowed);
    }

    /// Feeds the next piece of the NAR, passing each batch of completed chunks to `emit`.
    /// The piece is parsed first: invalid NAR data is an error before any of it is chunked.
    pub fn feed<F>(&mut self, piece: &[u8], mut emit: F) -> Result<(), NarChunkError>
    where
        F: FnMut(Batch<'_>, usize),
    {
        let mut events = Vec::new();
        self.parser.feed(piece, &mut events)?;
        for event in events {
            if let Event::File { size, offset, .. } = event {
                // A size past the end of any input: the NAR ends truncated, which `finish`
                // reports; no cut is needed there.
                if let (true, Some(end)) = (size >= self.min_file_size, offset.checked_add(size)) {
                    self.cuts.push_back(offset);
                    self.cuts.push_back(end);
                }
            }
        }
        let mut at = 0;
        while let Some(&cut) = self.cuts.front() {
            let Some(len) = cut
                .checked_sub(self.position)
                .and_then(|len| usize::try_from(len).ok())
                .filter(|&len| at + len <= piece.len())
            else {
                break;
            };
            self.cuts.pop_front();
            if len > 0 {
                let segment = piece.get(at..at + len).unwrap_or_default();
                emit(self.chunker.feed(segment)?, at);
                at += len;
                self.position += len as u64;
            }
            emit(self.chunker.cut_here()?, at);
        }
        let rest = piece.get(at..).unwrap_or_default();
        if !rest.is_empty() {
            emit(self.chunker.feed(rest)?, at);
            self.position += rest.len() as u64;
        }
        Ok(())
    }

    /// Ends the NAR: an error if it is incomplete; otherwise the last chunks go to `emit`.
    pub fn finish<F>(&mut self, mut emit: F) -> Result<(), NarChunkError>
    where
        F: FnMut(Batch<'_>, usize),
    {
        self.parser.finish()?;
        emit(self.chunker.finish()?, 0);
        Ok(())
    }

    /// Frees the buffers; the chunker behaves as finished afterwards.
    pub fn release(&mut self) {
        self.chunker.release();
        self.cuts = VecDeque::new();
    }
}
