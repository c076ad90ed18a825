//! A compression sink that writes straight into a BEAM binary, so that output is never copied
//! from a Rust buffer into a term.

use chunker_core::compression::{grown_capacity, CompressionError, Sink};
use rustler::{Binary, Env, OwnedBinary};

/// Growth goes through `enif_realloc_binary` only: it reports failure, where allocating a new
/// binary aborts the VM when memory runs out.
pub struct BinarySink {
    binary: OwnedBinary,
    written: usize,
}

impl BinarySink {
    pub fn new() -> Self {
        Self {
            binary: OwnedBinary::new(0),
            written: 0,
        }
    }

    /// The written bytes as a binary term; the sink is empty afterwards.
    pub fn take<'a>(&mut self, env: Env<'a>) -> Result<Binary<'a>, CompressionError> {
        let mut binary = std::mem::replace(&mut self.binary, OwnedBinary::new(0));
        if binary.len() != self.written && !binary.realloc(self.written) {
            return Err(CompressionError::OutOfMemory);
        }
        self.written = 0;
        Ok(binary.release(env))
    }
}

impl Sink for BinarySink {
    fn written(&self) -> usize {
        self.written
    }

    fn spare(&mut self, want: usize, cap: usize) -> Result<&mut [u8], CompressionError> {
        let needed = self
            .written
            .checked_add(want)
            .ok_or(CompressionError::OutOfMemory)?;
        if needed > self.binary.len() {
            let target = grown_capacity(self.binary.len(), needed, cap);
            if !self.binary.realloc(target) {
                return Err(CompressionError::OutOfMemory);
            }
        }
        self.binary
            .as_mut_slice()
            .get_mut(self.written..needed)
            .ok_or(CompressionError::OutOfMemory)
    }

    fn commit(&mut self, n: usize) {
        self.written = (self.written + n).min(self.binary.len());
    }

    fn reserve(&mut self, total: usize) -> Result<(), CompressionError> {
        if total > self.binary.len() && !self.binary.realloc(total) {
            return Err(CompressionError::OutOfMemory);
        }
        Ok(())
    }
}
