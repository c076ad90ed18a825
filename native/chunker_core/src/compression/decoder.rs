//! Push-style decompression with a size limit and a per-call output budget.

use super::bzip2::Bzip2Decoder;
use std::sync::Arc;

use super::codec::{Output, Progress, Step};
use super::dictionary::Dictionary;
use super::error::CompressionError;
use super::format::{detect, is_skippable_magic, read_u32_le, Detected, Format};
use super::lz4::Lz4Decoder;
use super::sink::Sink;
use super::xz::XzDecoder;
use super::zstd::ZstdDecoder;
use crate::observe::span;

enum Kind {
    Zstd(ZstdDecoder),
    Lz4(Lz4Decoder),
    Xz(XzDecoder),
    Bzip2(Bzip2Decoder),
}

/// The bytes of a frame's start that tell its format (bzip2's magic is the longest).
const DETECT_BYTES: usize = 10;

/// Where decoding stands.
enum Stage {
    /// Before the first frame: skippable frames are passed over and the first bytes of the
    /// frame after them gathered, until they tell the format.
    Front {
        /// Gathered bytes not yet classified: a skippable frame's header, or the first frame's
        /// start (at most [`DETECT_BYTES`]).
        head: Vec<u8>,
        /// Bytes of a skippable frame's contents still to pass over.
        skip_left: u64,
    },
    /// Decoding frames; `head` holds the first frame's gathered start, fed to the codec first.
    Codec { kind: Box<Kind>, head: Vec<u8> },
}

/// A streaming decompressor with a limit on the total output, for one format or for whichever
/// of the four its input turns out to be.
///
/// ```
/// use chunker_core::compression::{compress, Decoder, Format, VecSink};
/// let packed = compress(&vec![7u8; 100_000], Format::Zstd, None).unwrap();
/// let mut out = Vec::new();
/// let mut sink = VecSink::new(&mut out);
/// let mut decoder = Decoder::detecting(1 << 20);
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
/// assert_eq!(decoder.format(), Some(Format::Zstd));
/// ```
pub struct Decoder {
    stage: Stage,
    /// The format the caller said the input is in, if any.
    forced: Option<Format>,
    format: Option<Format>,
    /// Input bytes passed over before the first frame (leading skippable frames): the codec's
    /// offsets count from the first frame.
    front_bytes: u64,
    total_out: u64,
    limit: u64,
    reserve_cap: usize,
    /// The zstd dictionaries frames may name (handed to the codec when it is made).
    dictionaries: Vec<Arc<Dictionary>>,
    failed: Option<CompressionError>,
    finished: bool,
}

/// What the gathered bytes at the front of the input are.
enum Head {
    /// More bytes are needed to tell.
    NeedMore,
    /// A skippable frame whose header (8 bytes) is complete, with this many bytes of contents.
    Skippable(u64),
    /// The start of a frame of this kind.
    Frame(Detected),
}

fn classify(head: &[u8], complete: bool) -> Head {
    if is_skippable_magic(head) {
        return match read_u32_le(head, 4) {
            Some(size) => Head::Skippable(u64::from(size)),
            None if complete => Head::Frame(Detected::Unknown),
            None => Head::NeedMore,
        };
    }
    let maybe_skippable = matches!(head, [b0, rest @ ..] if b0 & 0xF0 == 0x50
        && [0x2A, 0x4D, 0x18].starts_with(rest));
    if !complete && (head.len() < DETECT_BYTES || maybe_skippable && head.len() < 4) {
        return Head::NeedMore;
    }
    Head::Frame(detect(head))
}

impl Decoder {
    /// A decoder for `format` that fails with [`CompressionError::SizeExceeded`] as soon as
    /// its output would pass `limit` bytes. Concatenated frames (streams) are decoded one
    /// after the other, as the command-line tools do. Input whose first frame is not in
    /// `format` fails with [`CompressionError::FormatMismatch`].
    pub fn new(format: Format, limit: u64) -> Self {
        let mut decoder = Self::detecting(limit);
        decoder.forced = Some(format);
        decoder
    }

    /// Like [`Decoder::new`], for input in any of the four formats: the format is detected
    /// from the first frame's magic bytes (skippable frames in front are passed over).
    /// Input in no supported format fails with [`CompressionError::UnknownFormat`] (gzip
    /// with [`CompressionError::UnsupportedFormat`]).
    pub fn detecting(limit: u64) -> Self {
        Self {
            stage: Stage::Front {
                head: Vec::new(),
                skip_left: 0,
            },
            forced: None,
            format: None,
            front_bytes: 0,
            total_out: 0,
            limit,
            reserve_cap: 0,
            dictionaries: Vec::new(),
            failed: None,
            finished: false,
        }
    }

    /// Gives the decoder the zstd dictionaries frames may have been compressed with: a frame
    /// that records a dictionary id is decoded with the one of these that has it, and fails
    /// with [`CompressionError::UnknownDictionary`] if none has
    /// ([`CompressionError::DictionaryRequired`] when none were given). Call it before the
    /// first [`decode`](Self::decode).
    pub fn with_dictionaries(mut self, dictionaries: Vec<Arc<Dictionary>>) -> Self {
        self.dictionaries = dictionaries;
        self
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

    /// An upper bound on the output of one indivisible decoding step, whatever the budget,
    /// for this decoder given that `next` is its next input: a budget below it can still see
    /// a call produce this much. xz decodes into the output as far as it reaches; zstd
    /// decodes a block (at most 128 KiB) at a time; an LZ4 block is decoded whole (its frame
    /// header says how large blocks are, up to 4 MiB); a bzip2 block is decoded whole, and its
    /// run-length stage can expand 900 KB of block into about 45 MB. Before the first frame,
    /// a zstd or LZ4 frame that declares a smaller content size bounds it by that.
    pub fn largest_step(&self, next: &[u8]) -> usize {
        let first = (self.format.is_none()).then(|| skip_skippable_frames(next));
        let format = self.format_for(next);
        let bound = match format {
            None | Some(Format::Xz) => 0,
            Some(Format::Zstd) => 128 * 1024,
            Some(Format::Lz4) => first
                .and_then(super::lz4::first_block_max)
                .unwrap_or(4 * 1024 * 1024),
            Some(Format::Bzip2) => 46 * 1024 * 1024,
        };
        let declared = match (first, format) {
            (Some(frame), Some(Format::Zstd)) => super::zstd::declared_size(frame),
            (Some(frame), Some(Format::Lz4)) => super::lz4::declared_size(frame),
            _ => None,
        };
        declared.map_or(bound, |size| {
            bound.min(usize::try_from(size).unwrap_or(usize::MAX))
        })
    }

    /// The format `next` will be decoded as, as far as can be told: the format being decoded,
    /// the one given to [`Decoder::new`], or the one `next` starts with.
    pub fn format_for(&self, next: &[u8]) -> Option<Format> {
        let detected = || match detect(skip_skippable_frames(next)) {
            Detected::Format(format) => Some(format),
            _ => None,
        };
        self.format.or(self.forced).or_else(detected)
    }

    /// The format being decoded, once known.
    pub fn format(&self) -> Option<Format> {
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
        span!("chunker.decode", bytes = input.len());
        #[cfg(feature = "metrics")]
        let before = sink.written();
        let step = self.decode_step(input, sink, budget)?;
        #[cfg(feature = "metrics")]
        self.count(step.consumed, sink.written().saturating_sub(before));
        Ok(step)
    }

    #[cfg(feature = "metrics")]
    fn count(&self, consumed: usize, produced: usize) {
        use crate::observe::count;
        if let Some(format) = self.format() {
            count!("chunker.decompress.bytes_in", consumed, "format" => format.name());
            count!("chunker.decompress.bytes_out", produced, "format" => format.name());
        }
    }

    fn decode_step(
        &mut self,
        input: &[u8],
        sink: &mut dyn Sink,
        budget: usize,
    ) -> Result<Step, CompressionError> {
        let taken = self.checked(|decoder| decoder.front(input, false))?;
        let rest = input.get(taken..).unwrap_or_default();
        if matches!(self.stage, Stage::Front { .. }) {
            return Ok(Step {
                consumed: taken,
                pending: false,
            });
        }
        let step = self.run(sink, budget, |kind, head, out| {
            if !head.is_empty() {
                let step = kind.decode(head, out)?;
                head.drain(..step.consumed.min(head.len()));
                if !head.is_empty() || step.pending || out.budget_spent() {
                    return Ok(Step {
                        consumed: 0,
                        pending: true,
                    });
                }
            }
            kind.decode(rest, out)
        })?;
        Ok(Step {
            consumed: taken + step.consumed,
            pending: step.pending,
        })
    }

    /// Declares the end of the input, writing whatever the format still holds. Fails with
    /// [`CompressionError::Truncated`] if the input ended inside a frame or held no frame.
    pub fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), CompressionError> {
        #[cfg(feature = "metrics")]
        let before = sink.written();
        self.checked(|decoder| decoder.front(&[], true))?;
        self.run(sink, usize::MAX, |kind, head, out| {
            while !head.is_empty() {
                let step = kind.decode(head, out)?;
                head.drain(..step.consumed.min(head.len()));
                if step.consumed == 0 && !step.pending {
                    break; // the codec's finish reports the cut-off frame
                }
            }
            kind.finish(out).map(|()| Step {
                consumed: 0,
                pending: false,
            })
        })?;
        #[cfg(feature = "metrics")]
        self.count(0, sink.written().saturating_sub(before));
        self.finished = true;
        Ok(())
    }

    /// Passes over leading skippable frames and gathers the first frame's start from `input`
    /// (all of it, when `complete`, is the end); once that tells the format, starts the
    /// codec. Returns the bytes of `input` taken.
    fn front(&mut self, input: &[u8], complete: bool) -> Result<usize, CompressionError> {
        let Stage::Front { head, skip_left } = &mut self.stage else {
            return Ok(0);
        };
        let mut rest = input;
        let detected = loop {
            if *skip_left > 0 {
                let n = usize::try_from(*skip_left)
                    .unwrap_or(usize::MAX)
                    .min(rest.len());
                *skip_left -= n as u64;
                self.front_bytes += n as u64;
                rest = rest.get(n..).unwrap_or_default();
                if *skip_left > 0 {
                    if complete {
                        return Err(CompressionError::Truncated);
                    }
                    return Ok(input.len());
                }
            }
            let n = DETECT_BYTES.saturating_sub(head.len()).min(rest.len());
            head.extend_from_slice(rest.get(..n).unwrap_or_default());
            rest = rest.get(n..).unwrap_or_default();
            match classify(head, complete && rest.is_empty()) {
                Head::NeedMore if rest.is_empty() => return Ok(input.len()),
                Head::NeedMore => {}
                Head::Skippable(size) => {
                    // The header, then as much of the contents as was gathered with it.
                    let gathered = (head.len() - 8) as u64;
                    let skipped = gathered.min(size);
                    *skip_left = size - skipped;
                    self.front_bytes += 8 + skipped;
                    head.drain(..8 + skipped as usize);
                }
                Head::Frame(Detected::Unknown) if head.is_empty() => {
                    // No frame at all: only skippable frames, or nothing.
                    match self.forced {
                        Some(format) => break Detected::Format(format),
                        None => return Err(CompressionError::UnknownFormat),
                    }
                }
                Head::Frame(detected) => break detected,
            }
        };
        let format = match (self.forced, detected) {
            (Some(forced), Detected::Format(found)) if found == forced => forced,
            (Some(expected), found) => {
                return Err(CompressionError::FormatMismatch {
                    expected,
                    found,
                    offset: self.front_bytes,
                })
            }
            (None, Detected::Format(format)) => format,
            (None, Detected::Gzip) => {
                return Err(CompressionError::UnsupportedFormat("gzip".to_string()))
            }
            (None, Detected::Unknown) => return Err(CompressionError::UnknownFormat),
        };
        if self.front_bytes > 0 && matches!(format, Format::Xz | Format::Bzip2) {
            return Err(CompressionError::Corrupt(format!(
                "skippable frames (a zstd and LZ4 feature) before an {format} stream"
            )));
        }
        let head = std::mem::take(head);
        self.stage = Stage::Codec {
            kind: Box::new(Kind::new(format, std::mem::take(&mut self.dictionaries))?),
            head,
        };
        self.format = Some(format);
        Ok(input.len() - rest.len())
    }

    /// Runs `f` unless an earlier call failed or the decoder is finished; a failure sticks.
    fn checked<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, CompressionError>,
    ) -> Result<T, CompressionError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.finished {
            return Err(CompressionError::Finished);
        }
        let result = f(self);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn run<F>(&mut self, sink: &mut dyn Sink, budget: usize, f: F) -> Result<Step, CompressionError>
    where
        F: FnOnce(&mut Kind, &mut Vec<u8>, &mut Output<'_>) -> Progress,
    {
        let front_bytes = self.front_bytes;
        self.checked(|decoder| {
            let Stage::Codec { kind, head } = &mut decoder.stage else {
                return Err(CompressionError::Truncated);
            };
            let mut out = Output::new(
                sink,
                decoder.total_out,
                decoder.limit,
                budget.max(1),
                decoder.reserve_cap,
            );
            let result = f(kind, head, &mut out);
            decoder.total_out = out.total();
            // The codec counts offsets from the first frame.
            result.map_err(|error| match error {
                CompressionError::TrailingData { offset } => CompressionError::TrailingData {
                    offset: offset + front_bytes,
                },
                other => other,
            })
        })
    }
}

/// `data` after the skippable frames at its start (empty if they run past its end).
fn skip_skippable_frames(mut data: &[u8]) -> &[u8] {
    while is_skippable_magic(data) {
        let size = read_u32_le(data, 4).map_or(usize::MAX, |size| size as usize);
        data = data.get(size.saturating_add(8)..).unwrap_or_default();
    }
    data
}

impl Kind {
    fn new(format: Format, dictionaries: Vec<Arc<Dictionary>>) -> Result<Self, CompressionError> {
        Ok(match format {
            Format::Zstd => Kind::Zstd(ZstdDecoder::new(dictionaries)?),
            Format::Lz4 => Kind::Lz4(Lz4Decoder::new()),
            Format::Xz => Kind::Xz(XzDecoder::new()?),
            Format::Bzip2 => Kind::Bzip2(Bzip2Decoder::new()),
        })
    }

    fn decode(&mut self, input: &[u8], out: &mut Output<'_>) -> Progress {
        match self {
            Kind::Zstd(d) => d.decode(input, out),
            Kind::Lz4(d) => d.decode(input, out),
            Kind::Xz(d) => d.decode(input, out),
            Kind::Bzip2(d) => d.decode(input, out),
        }
    }

    fn finish(&mut self, out: &mut Output<'_>) -> Result<(), CompressionError> {
        match self {
            Kind::Zstd(d) => d.finish(out),
            Kind::Lz4(d) => d.finish(out),
            Kind::Xz(d) => d.finish(out),
            Kind::Bzip2(d) => d.finish(out),
        }
    }
}
