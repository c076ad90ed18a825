//! bzip2, through the `bzip2` crate (libbz2-rs, a Rust port of the reference library).

use bzip2::{Action, Compress, Compression, Decompress, Status};

use super::codec::{Output, Progress, Step, StepEncoder};
use super::error::CompressionError;
use super::format::is_bzip2_magic;

const STEP: usize = 1 << 18;
/// Bytes of a stream header checked before a stream is decoded: `BZh`, the level digit and
/// the 6-byte block (or end-of-stream) magic.
const HEADER: usize = 10;
/// The reference tool's work factor for repetitive input (its default).
const WORK_FACTOR: u32 = 30;

fn error(error: bzip2::Error) -> CompressionError {
    CompressionError::Corrupt(format!("bzip2: {error}"))
}

/// A streaming bzip2 compressor.
pub(crate) struct Bzip2Encoder {
    compress: Compress,
    level: u32,
}

impl Bzip2Encoder {
    pub(crate) fn new(level: i32) -> Result<Self, CompressionError> {
        let level = u32::try_from(level)
            .ok()
            .filter(|l| (1..=9).contains(l))
            .ok_or_else(|| CompressionError::InvalidOptions(format!("bzip2 level {level}")))?;
        Ok(Self {
            compress: Compress::new(Compression::new(level), WORK_FACTOR),
            level,
        })
    }

    /// The size of its blocks, which are sorted whole: 100 kB per level.
    pub(crate) fn block_size(&self) -> usize {
        self.level as usize * 100_000
    }
}

impl StepEncoder for Bzip2Encoder {
    fn process(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        finish: bool,
    ) -> Result<(usize, usize, bool), CompressionError> {
        let (in_before, out_before) = (self.compress.total_in(), self.compress.total_out());
        let action = if finish { Action::Finish } else { Action::Run };
        let status = self
            .compress
            .compress(input, output, action)
            .map_err(error)?;
        let taken = (self.compress.total_in() - in_before) as usize;
        let written = (self.compress.total_out() - out_before) as usize;
        Ok((taken, written, status == Status::StreamEnd))
    }
}

/// A streaming bzip2 decompressor for concatenated streams (as `bzip2 -c a b` writes).
pub(crate) struct Bzip2Decoder {
    decompress: Option<Decompress>,
    /// Bytes of a next stream's header seen so far, when it straddles input pieces.
    magic: Vec<u8>,
    streams: u64,
    consumed: u64,
}

impl Bzip2Decoder {
    pub(crate) fn new() -> Self {
        Self {
            decompress: None,
            magic: Vec::new(),
            streams: 0,
            consumed: 0,
        }
    }

    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Output<'_>) -> Progress {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            if self.decompress.is_none() {
                // Between streams: the next one must start with a bzip2 header. Its first
                // 10 bytes are checked, gathered across pieces if need be.
                if rest.is_empty() {
                    return Ok(self.done(pos, false));
                }
                let header_start = self.consumed + pos as u64 - self.magic.len() as u64;
                let take = (HEADER - self.magic.len()).min(rest.len());
                self.magic
                    .extend_from_slice(rest.get(..take).unwrap_or_default());
                pos += take;
                if self.magic.len() < HEADER {
                    let seen = self
                        .magic
                        .get(..3.min(self.magic.len()))
                        .unwrap_or_default();
                    if !b"BZh".starts_with(seen) {
                        return Err(CompressionError::TrailingData {
                            offset: header_start,
                        });
                    }
                    return Ok(self.done(pos, false));
                }
                if !is_bzip2_magic(&self.magic) {
                    return Err(CompressionError::TrailingData {
                        offset: header_start,
                    });
                }
                let header = std::mem::take(&mut self.magic);
                let mut decompress = Decompress::new(false);
                let room = out.room(STEP)?;
                decompress.decompress(&header, room).map_err(error)?;
                // A header alone decodes to nothing; the decoder keeps its bits.
                if decompress.total_in() != header.len() as u64 || decompress.total_out() != 0 {
                    return Err(CompressionError::Corrupt("bzip2 stream header".to_string()));
                }
                out.commit(0)?;
                out.spend(HEADER);
                self.decompress = Some(decompress);
                continue;
            }
            if out.budget_spent() {
                return Ok(self.done(pos, true));
            }
            let Some(decompress) = self.decompress.as_mut() else {
                continue;
            };
            let room = out.room(out.budget_left().min(STEP))?;
            let room_len = room.len();
            let (in_before, out_before) = (decompress.total_in(), decompress.total_out());
            let status = decompress.decompress(rest, room).map_err(error)?;
            let taken = (decompress.total_in() - in_before) as usize;
            let produced = (decompress.total_out() - out_before) as usize;
            pos += taken;
            out.commit(produced)?;
            out.spend(taken);
            if status == Status::StreamEnd {
                self.decompress = None;
                self.streams += 1;
                continue;
            }
            if pos == input.len() && produced < room_len {
                return Ok(self.done(pos, false));
            }
            if taken == 0 && produced == 0 {
                return Err(CompressionError::Corrupt(
                    "bzip2 made no progress".to_string(),
                ));
            }
        }
    }

    pub(crate) fn finish(&mut self, out: &mut Output<'_>) -> Result<(), CompressionError> {
        // Flush output a stream whose input was all given may still hold.
        while let Some(decompress) = self.decompress.as_mut() {
            let room = out.room(STEP)?;
            let room_len = room.len();
            let out_before = decompress.total_out();
            let status = decompress.decompress(&[], room).map_err(error)?;
            let produced = (decompress.total_out() - out_before) as usize;
            out.commit(produced)?;
            if status == Status::StreamEnd {
                self.decompress = None;
                self.streams += 1;
            } else if produced < room_len {
                return Err(CompressionError::Truncated);
            }
        }
        if !self.magic.is_empty() || self.streams == 0 {
            return Err(CompressionError::Truncated);
        }
        Ok(())
    }

    fn done(&mut self, consumed: usize, pending: bool) -> Step {
        self.consumed += consumed as u64;
        Step { consumed, pending }
    }
}
