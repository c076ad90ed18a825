//! The chunk descriptor every chunking path produces.

use crate::hash::Digest;

/// One content-defined chunk: where it lies in the input and, if asked for, its digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chunk {
    /// Byte offset of the chunk's first byte, counted from the start of the input.
    pub offset: u64,
    /// Length in bytes; never zero.
    pub length: usize,
    /// Digest of the chunk's bytes, or `None` when hashing was not requested.
    pub hash: Option<Digest>,
}

impl Chunk {
    /// The offset one past the chunk's last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.length as u64
    }
}
