//! xz, through `liblzma` (the reference C library).

use liblzma::stream::{Action, Check, Error as LzmaError, Status, Stream, CONCATENATED};

use super::codec::{Output, Progress, Step, StepEncoder};
use super::error::CompressionError;

/// Output granule for compression and the largest output region of a decoding step.
const STEP: usize = 1 << 18;
/// Decoder memory limit. The largest standard preset (`xz -9`) needs 65 MiB to decompress;
/// a header asking for much more is refused rather than obeyed.
const MEMLIMIT: u64 = 256 << 20;

fn lzma_error(error: LzmaError) -> CompressionError {
    match error {
        LzmaError::MemLimit => CompressionError::MemoryLimit(format!(
            "the xz stream needs more than {} MiB of decoder memory",
            MEMLIMIT >> 20
        )),
        LzmaError::Mem => CompressionError::OutOfMemory,
        LzmaError::Format => CompressionError::Corrupt("not an xz stream".to_string()),
        LzmaError::Options => CompressionError::Corrupt("unsupported xz options".to_string()),
        other => CompressionError::Corrupt(format!("xz: {other:?}")),
    }
}

/// A streaming xz compressor (one stream, CRC64 check, as the `xz` tool writes).
pub(crate) struct XzEncoder {
    stream: Stream,
}

impl XzEncoder {
    pub(crate) fn new(level: i32) -> Result<Self, CompressionError> {
        let preset = u32::try_from(level)
            .map_err(|_| CompressionError::InvalidOptions(format!("xz level {level}")))?;
        let stream = Stream::new_easy_encoder(preset, Check::Crc64).map_err(lzma_error)?;
        Ok(Self { stream })
    }
}

impl StepEncoder for XzEncoder {
    fn process(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        finish: bool,
    ) -> Result<(usize, usize, bool), CompressionError> {
        let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
        let action = if finish { Action::Finish } else { Action::Run };
        let status = self
            .stream
            .process(input, output, action)
            .map_err(lzma_error)?;
        let taken = (self.stream.total_in() - in_before) as usize;
        let written = (self.stream.total_out() - out_before) as usize;
        Ok((taken, written, status == Status::StreamEnd))
    }
}

/// A streaming xz decompressor for concatenated streams (with stream padding).
pub(crate) struct XzDecoder {
    stream: Stream,
}

impl XzDecoder {
    pub(crate) fn new() -> Result<Self, CompressionError> {
        let stream = Stream::new_stream_decoder(MEMLIMIT, CONCATENATED).map_err(lzma_error)?;
        Ok(Self { stream })
    }

    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Output<'_>) -> Progress {
        let mut pos = 0;
        loop {
            if out.budget_spent() {
                return Ok(Step {
                    consumed: pos,
                    pending: true,
                });
            }
            let rest = input.get(pos..).unwrap_or_default();
            let room = out.room(out.budget_left().min(STEP))?;
            let room_len = room.len();
            let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
            let result = self.stream.process(rest, room, Action::Run);
            let taken = (self.stream.total_in() - in_before) as usize;
            let produced = (self.stream.total_out() - out_before) as usize;
            pos += taken;
            out.commit(produced)?;
            out.spend(taken);
            match result {
                Ok(_) => {}
                // liblzma does not say where a stream ended, so bytes that are not a stream
                // after the first one cannot be told from a corrupt header of the next.
                Err(LzmaError::Format) if in_before > 0 => {
                    return Err(CompressionError::Corrupt(format!(
                        "xz: no stream where one should start (around input offset {in_before}; trailing data?)"
                    )))
                }
                Err(error) => return Err(lzma_error(error)),
            }
            if pos == input.len() && produced < room_len {
                return Ok(Step {
                    consumed: pos,
                    pending: false,
                });
            }
            if taken == 0 && produced == 0 {
                return Err(CompressionError::Corrupt("xz made no progress".to_string()));
            }
        }
    }

    pub(crate) fn finish(&mut self, out: &mut Output<'_>) -> Result<(), CompressionError> {
        let mut idle = 0;
        loop {
            let room = out.room(STEP)?;
            let out_before = self.stream.total_out();
            let status = self
                .stream
                .process(&[], room, Action::Finish)
                .map_err(lzma_error)?;
            let produced = (self.stream.total_out() - out_before) as usize;
            out.commit(produced)?;
            match status {
                Status::StreamEnd => return Ok(()),
                // No progress possible without more input: the data ended inside a stream.
                Status::MemNeeded => return Err(CompressionError::Truncated),
                _ if produced == 0 => {
                    idle += 1;
                    if idle > 1 {
                        return Err(CompressionError::Truncated);
                    }
                }
                _ => idle = 0,
            }
        }
    }
}
