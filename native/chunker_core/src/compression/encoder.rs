//! Push-style compression.

use super::bzip2::Bzip2Encoder;
use super::codec::{drive_finish, drive_update};
use super::dictionary::ZstdOptions;
use super::error::CompressionError;
use super::format::{Format, Level};
use super::lz4::Lz4Encoder;
use super::sink::Sink;
use super::xz::XzEncoder;
use super::zstd::ZstdEncoder;
use crate::observe::{count, span};

enum Kind {
    Zstd(ZstdEncoder),
    Lz4(Lz4Encoder),
    Xz(XzEncoder),
    Bzip2(Bzip2Encoder),
}

/// A streaming compressor writing one frame (stream) of `format`.
///
/// ```
/// use chunker_core::compression::{decompress, Encoder, Format, VecSink};
/// let mut out = Vec::new();
/// let mut sink = VecSink::new(&mut out);
/// let mut encoder = Encoder::new(Format::Lz4, None).unwrap();
/// for piece in [&b"hello "[..], b"world"] {
///     encoder.update(piece, &mut sink).unwrap();
/// }
/// encoder.finish(&mut sink).unwrap();
/// sink.finish();
/// assert_eq!(decompress(&out, None, 1 << 20).unwrap(), b"hello world");
/// ```
pub struct Encoder {
    kind: Kind,
    format: Format,
    /// Output to reserve before the first write, when the input size is known.
    reserve: Option<usize>,
    failed: Option<CompressionError>,
    finished: bool,
}

/// Refuses zstd's own options for another format.
pub(crate) fn only_zstd(format: Format, options: &ZstdOptions) -> Result<(), CompressionError> {
    if format == Format::Zstd || options.is_plain() {
        return Ok(());
    }
    Err(CompressionError::InvalidOptions(format!(
        "dictionary, workers and long are zstd options, not {format}'s"
    )))
}

/// A generous bound on a frame's size for `size` bytes of input: the output buffer then
/// grows once, not repeatedly (each growth can move it, and touch new pages).
fn output_bound(format: Format, size: u64) -> usize {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    match format {
        Format::Zstd => zstd_safe::compress_bound(size),
        Format::Lz4 => lz4_flex::block::get_maximum_output_size(size).saturating_add(64),
        Format::Xz | Format::Bzip2 => size.saturating_add(size / 64).saturating_add(1024),
    }
}

impl Encoder {
    /// A compressor for `format` at `level` (the format's default when `None`).
    pub fn new(format: Format, level: Option<Level>) -> Result<Self, CompressionError> {
        Self::with_size(format, level, None)
    }

    /// Like [`Encoder::new`], for input of exactly `size` bytes when given: zstd and LZ4 then
    /// record the size in the frame header (so a decoder can allocate once) and pick
    /// parameters for it, as one-shot compression does. Feeding a different number of bytes
    /// is an error at [`finish`](Self::finish).
    pub fn with_size(
        format: Format,
        level: Option<Level>,
        size: Option<u64>,
    ) -> Result<Self, CompressionError> {
        Self::with_options(format, level, size, &ZstdOptions::default())
    }

    /// Like [`Encoder::with_size`], with zstd's dictionary, worker threads or long-distance
    /// matching; other formats refuse them ([`CompressionError::InvalidOptions`]).
    pub fn with_options(
        format: Format,
        level: Option<Level>,
        size: Option<u64>,
        options: &ZstdOptions,
    ) -> Result<Self, CompressionError> {
        let value = Level::resolve(format, level)?;
        only_zstd(format, options)?;
        let kind = match format {
            Format::Zstd => Kind::Zstd(ZstdEncoder::new(value, size, options)?),
            Format::Lz4 => Kind::Lz4(match size.and_then(|s| usize::try_from(s).ok()) {
                Some(len) => Lz4Encoder::for_length(len),
                None => Lz4Encoder::new(),
            }),
            Format::Xz => Kind::Xz(XzEncoder::new(value)?),
            Format::Bzip2 => Kind::Bzip2(Bzip2Encoder::new(value)?),
        };
        Ok(Self {
            kind,
            format,
            reserve: size.map(|size| output_bound(format, size)),
            failed: None,
            finished: false,
        })
    }

    /// The format being written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// How much input the encoder gathers before it does its work in one indivisible burst:
    /// a zstd block (128 KiB), an LZ4 block, a bzip2 block (100 kB per level); xz works as
    /// the input comes (0). Feeding less than this per call makes calls cheap and bursty.
    pub fn block_size(&self) -> usize {
        match &self.kind {
            Kind::Zstd(_) => 128 * 1024,
            Kind::Lz4(e) => e.block_max(),
            Kind::Xz(_) => 0,
            Kind::Bzip2(e) => e.block_size(),
        }
    }

    /// Compresses all of `input` (the compressor may keep some of it until later calls).
    pub fn update(&mut self, input: &[u8], sink: &mut dyn Sink) -> Result<(), CompressionError> {
        span!(
            "chunker.encode",
            bytes = input.len(),
            format = self.format().name()
        );
        if let Some(bytes) = self.reserve.take() {
            sink.reserve(sink.written().saturating_add(bytes))?;
        }
        #[cfg(feature = "metrics")]
        let before = sink.written();
        self.run(|kind| match kind {
            Kind::Zstd(e) => e.update(input, sink),
            Kind::Lz4(e) => e.update(input, sink),
            Kind::Xz(e) => drive_update(e, input, sink),
            Kind::Bzip2(e) => drive_update(e, input, sink),
        })?;
        count!("chunker.compress.bytes_in", input.len(), "format" => self.format().name());
        count!(
            "chunker.compress.bytes_out",
            sink.written().saturating_sub(before),
            "format" => self.format().name(),
        );
        Ok(())
    }

    /// Ends the frame, writing everything still held.
    pub fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), CompressionError> {
        span!(
            "chunker.encode",
            finish = true,
            format = self.format().name()
        );
        #[cfg(feature = "metrics")]
        let before = sink.written();
        self.run(|kind| match kind {
            Kind::Zstd(e) => e.finish(sink),
            Kind::Lz4(e) => e.finish(sink),
            Kind::Xz(e) => drive_finish(e, sink),
            Kind::Bzip2(e) => drive_finish(e, sink),
        })?;
        count!(
            "chunker.compress.bytes_out",
            sink.written().saturating_sub(before),
            "format" => self.format().name(),
        );
        self.finished = true;
        Ok(())
    }

    fn run<F>(&mut self, f: F) -> Result<(), CompressionError>
    where
        F: FnOnce(&mut Kind) -> Result<(), CompressionError>,
    {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.finished {
            return Err(CompressionError::Finished);
        }
        let result = f(&mut self.kind);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }
}
