//! The plumbing the format codecs share: the bounded output of a decoding call, and the
//! driver of encoders that work through one `process` call (liblzma, libbzip2).
//!
//! A leaf: the codecs use it, and the [`Decoder`](super::Decoder) and
//! [`Encoder`](super::Encoder) facades use the codecs, so nothing here depends on either.

use super::error::CompressionError;
use super::sink::Sink;

/// The output side of one decode call: writes go to the sink, never past `limit + 1` bytes in
/// all (one byte past the limit is how exceeding it is seen), with a soft budget for the call.
pub(crate) struct Output<'a> {
    sink: &'a mut dyn Sink,
    total: u64,
    limit: u64,
    budget_left: usize,
    reserve_cap: usize,
}

impl<'a> Output<'a> {
    pub(crate) fn new(
        sink: &'a mut dyn Sink,
        total: u64,
        limit: u64,
        budget: usize,
        reserve_cap: usize,
    ) -> Self {
        Self {
            sink,
            total,
            limit,
            budget_left: budget,
            reserve_cap,
        }
    }

    /// Bytes this output may still take before the limit is passed (plus the one that shows
    /// it was).
    pub(crate) fn allowed(&self) -> usize {
        let allowed = self.limit.saturating_add(1).saturating_sub(self.total);
        usize::try_from(allowed).unwrap_or(usize::MAX)
    }

    /// A writable region of up to `want` bytes (fewer near the size limit, at least one while
    /// the limit allows any).
    pub(crate) fn room(&mut self, want: usize) -> Result<&mut [u8], CompressionError> {
        let allowed = self.allowed();
        let want = want.clamp(1, allowed.max(1)).min(allowed);
        let cap = self.sink.written().saturating_add(allowed);
        self.sink.spare(want, cap)
    }

    /// Records `n` bytes written into the last [`room`](Self::room).
    pub(crate) fn commit(&mut self, n: usize) -> Result<(), CompressionError> {
        self.sink.commit(n);
        self.total += n as u64;
        self.budget_left = self.budget_left.saturating_sub(n);
        if self.total > self.limit {
            return Err(CompressionError::SizeExceeded { limit: self.limit });
        }
        Ok(())
    }

    /// Asks the sink for room for `bytes` more bytes of output, when a frame declares its
    /// size: one allocation instead of repeated growth. A declared size is only a claim, so
    /// the room asked for is capped by the size limit and by the decoder's reservation cap
    /// (none for streams).
    pub(crate) fn reserve(&mut self, bytes: u64) -> Result<(), CompressionError> {
        let want = usize::try_from(bytes)
            .unwrap_or(usize::MAX)
            .min(self.allowed())
            .min(self.reserve_cap);
        if want > 0 {
            self.sink
                .reserve(self.sink.written().saturating_add(want))?;
        }
        Ok(())
    }

    /// Charges `bytes` of input read to this call's budget: input that produces no output
    /// (empty blocks, skippable frames) must not make a call unbounded.
    pub(crate) fn spend(&mut self, bytes: usize) {
        self.budget_left = self.budget_left.saturating_sub(bytes);
    }

    /// Copies `bytes` out, stopping with [`CompressionError::SizeExceeded`] at the limit.
    pub(crate) fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), CompressionError> {
        while !bytes.is_empty() {
            let room = self.room(bytes.len())?;
            let n = room.len().min(bytes.len());
            let (now, later) = bytes.split_at(n);
            if let Some(dst) = room.get_mut(..n) {
                dst.copy_from_slice(now);
            }
            self.commit(n)?;
            bytes = later;
        }
        Ok(())
    }

    /// Bytes produced in all, across calls.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The budget left for this call.
    pub(crate) fn budget_left(&self) -> usize {
        self.budget_left
    }

    /// True once this call has produced its budget.
    pub(crate) fn budget_spent(&self) -> bool {
        self.budget_left == 0
    }
}

/// What one [`Decoder::decode`](super::Decoder::decode) call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the given input consumed. A call that spent its budget may leave input
    /// unconsumed; the caller passes the rest again.
    pub consumed: usize,
    /// True when the call stopped with output still held inside the decoder: calling again,
    /// even with no new input, produces more. When false and all input was consumed, the
    /// decoder needs more input (or [`Decoder::finish`](super::Decoder::finish)).
    pub pending: bool,
}

/// The result of a format decoder's call: input consumed and whether output is pending.
pub(crate) type Progress = Result<Step, CompressionError>;

/// An encoder driven through one `process(input, output, finish)` call, as liblzma and
/// libbzip2 are: [`drive_update`] and [`drive_finish`] do the looping and the sink.
pub(crate) trait StepEncoder {
    /// Runs the codec on `input` into `output` (ending the stream when `finish`); returns
    /// the input bytes taken, the output bytes written, and whether the stream has ended.
    fn process(
        &mut self,
        input: &[u8],
        output: &mut [u8],
        finish: bool,
    ) -> Result<(usize, usize, bool), CompressionError>;
}

/// Output granule for step encoders.
const STEP_OUTPUT: usize = 1 << 18;

/// Compresses all of `input` with a step encoder.
pub(crate) fn drive_update(
    encoder: &mut impl StepEncoder,
    input: &[u8],
    sink: &mut dyn Sink,
) -> Result<(), CompressionError> {
    let mut rest = input;
    while !rest.is_empty() {
        let room = sink.spare(STEP_OUTPUT, usize::MAX)?;
        let (taken, written, _) = encoder.process(rest, room, false)?;
        sink.commit(written);
        rest = rest.get(taken..).unwrap_or_default();
    }
    Ok(())
}

/// Ends a step encoder's stream, writing what it still holds.
pub(crate) fn drive_finish(
    encoder: &mut impl StepEncoder,
    sink: &mut dyn Sink,
) -> Result<(), CompressionError> {
    loop {
        let room = sink.spare(STEP_OUTPUT, usize::MAX)?;
        let (_, written, ended) = encoder.process(&[], room, true)?;
        sink.commit(written);
        if ended {
            return Ok(());
        }
    }
}
