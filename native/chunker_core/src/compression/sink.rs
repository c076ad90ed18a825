//! Where compressed or decompressed bytes are written.
//!
//! Codecs write into slices a [`Sink`] lends them, so the output can go straight into the
//! buffer the caller wants in the end: a `Vec<u8>` here, a BEAM binary in the NIF.

use super::error::CompressionError;

/// A growable output buffer.
pub trait Sink {
    /// Bytes written so far.
    fn written(&self) -> usize;

    /// A writable region of exactly `want` bytes after the written ones, growing the buffer
    /// (geometrically, but never past `cap` bytes in all when `written + want <= cap`).
    fn spare(&mut self, want: usize, cap: usize) -> Result<&mut [u8], CompressionError>;

    /// Marks the first `n` bytes of the last [`spare`](Self::spare) region as written.
    fn commit(&mut self, n: usize);

    /// A hint that about `total` bytes will be written in all: room may be made for them now,
    /// without touching the memory. Does nothing by default.
    fn reserve(&mut self, total: usize) -> Result<(), CompressionError> {
        let _ = total;
        Ok(())
    }
}

/// The capacity to grow to: at least `needed`, doubling the current capacity when that is
/// larger, but not past `cap` unless `needed` itself is.
pub fn grown_capacity(current: usize, needed: usize, cap: usize) -> usize {
    current.saturating_mul(2).min(cap).max(needed)
}

/// A [`Sink`] over a `Vec<u8>`, which it clears first; [`finish`](Self::finish) (or drop)
/// trims the vector to the written bytes. New memory is zero-filled once before codecs write
/// into it.
pub struct VecSink<'v> {
    vec: &'v mut Vec<u8>,
    written: usize,
}

impl<'v> VecSink<'v> {
    /// Writes into `vec`, replacing its contents; its allocation is reused.
    pub fn new(vec: &'v mut Vec<u8>) -> Self {
        vec.clear();
        Self { vec, written: 0 }
    }

    /// Trims the vector to the bytes written.
    pub fn finish(self) {}
}

impl Drop for VecSink<'_> {
    fn drop(&mut self) {
        self.vec.truncate(self.written);
    }
}

impl Sink for VecSink<'_> {
    fn written(&self) -> usize {
        self.written
    }

    fn spare(&mut self, want: usize, cap: usize) -> Result<&mut [u8], CompressionError> {
        let needed = self
            .written
            .checked_add(want)
            .ok_or(CompressionError::OutOfMemory)?;
        if needed > self.vec.len() {
            if needed > self.vec.capacity() {
                let target = grown_capacity(self.vec.capacity(), needed, cap);
                self.vec
                    .try_reserve_exact(target - self.vec.len())
                    .map_err(|_| CompressionError::OutOfMemory)?;
            }
            self.vec.resize(needed, 0);
        }
        self.vec
            .get_mut(self.written..needed)
            .ok_or(CompressionError::OutOfMemory)
    }

    fn commit(&mut self, n: usize) {
        self.written = (self.written + n).min(self.vec.len());
    }

    fn reserve(&mut self, total: usize) -> Result<(), CompressionError> {
        let more = total.saturating_sub(self.vec.len());
        self.vec
            .try_reserve_exact(more)
            .map_err(|_| CompressionError::OutOfMemory)
    }
}
