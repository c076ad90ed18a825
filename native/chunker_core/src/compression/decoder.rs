//! Push-style decompression with a size limit and a per-call output budget.

use super::bzip2::Bzip2Decoder;
use super::error::CompressionError;
use super::format::Format;
use super::lz4::Lz4Decoder;
use super::sink::Sink;
use super::xz::XzDecoder;
use super::zstd::ZstdDecoder;

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
    fn new(
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

    /// The budget left for this call.
    pub(crate) fn budget_left(&self) -> usize {
        self.budget_left
    }

    /// True once this call has produced its budget.
    pub(crate) fn budget_spent(&self) -> bool {
        self.budget_left == 0
    }
}

/// What one [`Decoder::decode`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Bytes of the given input consumed. A call that spent its budget may leave input
    /// unconsumed; the caller passes the rest again.
    pub consumed: usize,
    /// True when the call stopped with output still held inside the decoder: calling again,
    /// even with no new input, produces more. When false and all input was consumed, the
    /// decoder needs more input (or [`Decoder::finish`]).
    pub pending: bool,
}

/// The result of a format decoder's call: input consumed and whether output is pending.
pub(crate) type Progress = Result<Step, CompressionError>;

enum Kind {
    Zstd(ZstdDecoder),
    Lz4(Lz4Decoder),
    Xz(XzDecoder),
    Bzip2(Bzip2Decoder),
}

/// A streaming decompressor for one format, with a limit on the total output.
///
/// ```
/// use chunker_core::compression::{compress, Decoder, Format, VecSink};
/// let packed = compress(&vec![7u8; 100_000], Format::Zstd, None).unwrap();
/// let mut out = Vec::new();
/// let mut sink = VecSink::new(&mut out);
/// let mut decoder = Decoder::new(Format::Zstd, 1 << 20).unwrap();
/// let mut input = &packed[..];
/// loop {
///     // At most 16 KiB of output per call.
///     let step = decoder.decode(input, &mut sink, 16_384).unwrap();
///     input = &input[step.consumed..];
///     if !step.pending && input.is_empty() { break; }
/// }
/// decoder.finish(&mut sink).unwrap();
/// sink.finish();
/// assert_eq!(out, vec![7u8; 100_000]);
/// ```
pub struct Decoder {
    kind: Kind,
    format: Format,
    total_out: u64,
    limit: u64,
    reserve_cap: usize,
    failed: Option<CompressionError>,
    finished: bool,
}

impl Decoder {
    /// A decoder for `format` that fails with [`CompressionError::SizeExceeded`] as soon as
    /// its output would pass `limit` bytes. Concatenated frames (streams) are decoded one
    /// after the other, as the command-line tools do.
    pub fn new(format: Format, limit: u64) -> Result<Self, CompressionError> {
        let kind = match format {
            Format::Zstd => Kind::Zstd(ZstdDecoder::new()?),
            Format::Lz4 => Kind::Lz4(Lz4Decoder::new()),
            Format::Xz => Kind::Xz(XzDecoder::new()?),
            Format::Bzip2 => Kind::Bzip2(Bzip2Decoder::new()),
        };
        Ok(Self {
            kind,
            format,
            total_out: 0,
            limit,
            reserve_cap: 0,
            failed: None,
            finished: false,
        })
    }

    /// Lets the decoder reserve output up front when a frame declares its size (zstd, LZ4),
    /// up to `cap` bytes per frame. Worth it when all output is collected in one buffer; a
    /// stream that hands its output out piece by piece should not (the default). The size
    /// a frame declares can be a lie, so keep `cap` proportional to the input, e.g.
    /// [`Decoder::reservation_for`].
    pub fn reserve_up_to(&mut self, cap: usize) {
        self.reserve_cap = cap;
    }

    /// A reservation cap for `input_len` bytes of input: 64 times the input, at least 8 MiB.
    pub fn reservation_for(input_len: usize) -> usize {
        input_len.saturating_mul(64).max(8 << 20)
    }

    /// An upper bound on the output of one indivisible decoding step of `data` in `format`,
    /// whatever the budget: a budget below it can still see a call produce this much. xz
    /// decodes into the output as far as it reaches; zstd decodes a block (at most 128 KiB)
    /// at a time; an LZ4 block is decoded whole (its frame header says how large blocks are,
    /// up to 4 MiB); a bzip2 block is decoded whole, and its run-length stage can expand
    /// 900 KB of block into about 45 MB.
    pub fn largest_step(format: Format, data: &[u8]) -> usize {
        match format {
            Format::Zstd => 128 * 1024,
            Format::Xz => 0,
            Format::Lz4 => super::lz4::first_block_max(data).unwrap_or(4 * 1024 * 1024),
            Format::Bzip2 => 46 * 1024 * 1024,
        }
    }

    /// The format being decoded.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes produced so far.
    pub fn total_out(&self) -> u64 {
        self.total_out
    }

    /// Decodes from `input` into `sink`, stopping once about `budget` bytes were produced.
    /// After an error every later call returns the same error.
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut dyn Sink,
        budget: usize,
    ) -> Result<Step, CompressionError> {
        self.run(sink, budget, |kind, out| match kind {
            Kind::Zstd(d) => d.decode(input, out),
            Kind::Lz4(d) => d.decode(input, out),
            Kind::Xz(d) => d.decode(input, out),
            Kind::Bzip2(d) => d.decode(input, out),
        })
    }

    /// Declares the end of the input, writing whatever the format still holds. Fails with
    /// [`CompressionError::Truncated`] if the input ended inside a frame or held no frame.
    pub fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), CompressionError> {
        self.run(sink, usize::MAX, |kind, out| {
            match kind {
                Kind::Zstd(d) => d.finish(out),
                Kind::Lz4(d) => d.finish(out),
                Kind::Xz(d) => d.finish(out),
                Kind::Bzip2(d) => d.finish(out),
            }
            .map(|()| Step {
                consumed: 0,
                pending: false,
            })
        })?;
        self.finished = true;
        Ok(())
    }

    fn run<F>(&mut self, sink: &mut dyn Sink, budget: usize, f: F) -> Result<Step, CompressionError>
    where
        F: FnOnce(&mut Kind, &mut Output<'_>) -> Progress,
    {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.finished {
            return Err(CompressionError::Finished);
        }
        let mut out = Output::new(
            sink,
            self.total_out,
            self.limit,
            budget.max(1),
            self.reserve_cap,
        );
        let result = f(&mut self.kind, &mut out);
        self.total_out = out.total;
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }
}
