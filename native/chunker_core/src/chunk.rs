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

/// A chunk's bytes: one slice, or two when the chunk spans the end of the data carried over
/// from earlier pieces and the start of the piece just fed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkBytes<'a> {
    head: &'a [u8],
    tail: &'a [u8],
}

impl<'a> ChunkBytes<'a> {
    /// Bytes that are one slice.
    pub fn contiguous(bytes: &'a [u8]) -> Self {
        Self {
            head: bytes,
            tail: &[],
        }
    }

    /// Bytes made of `head` followed by `tail`.
    pub fn split(head: &'a [u8], tail: &'a [u8]) -> Self {
        Self { head, tail }
    }

    /// The parts, in order (the second is empty for contiguous bytes).
    pub fn parts(&self) -> [&'a [u8]; 2] {
        [self.head, self.tail]
    }

    /// The bytes as one slice, if they are contiguous.
    pub fn as_slice(&self) -> Option<&'a [u8]> {
        self.tail.is_empty().then_some(self.head)
    }

    /// Total length.
    pub fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes copied into one vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(self.head);
        out.extend_from_slice(self.tail);
        out
    }
}
