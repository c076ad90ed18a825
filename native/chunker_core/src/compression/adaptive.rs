//! Compress only what is worth compressing.
//!
//! Chunks of already-compressed files (archives, media, other compressors' output) and
//! random-looking data gain nothing from compression but still cost its time. The decision
//! takes three steps, cheapest first: magic bytes of known compressed formats; the entropy of
//! a sample of the bytes; and, when those pass, compressing and keeping the result only if it
//! is small enough.

use super::error::CompressionError;
use super::format::{detect, Detected, Format, Level};
use super::oneshot::compress_to;
use super::sink::{Sink, VecSink};

/// Why [`compress_adaptive`] stored the data as it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Skip {
    /// The data starts with the magic bytes of a compressed format (named).
    AlreadyCompressed(&'static str),
    /// The sampled bytes look random: their entropy, in bits per byte.
    HighEntropy(f64),
    /// Compressing did not get below the ratio threshold: the ratio reached.
    NoGain(f64),
}

/// Settings for [`compress_adaptive`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveOptions {
    /// Format to compress with.
    pub format: Format,
    /// Level (the format's default when `None`).
    pub level: Option<Level>,
    /// Keep the compressed result only if `compressed / original <= max_ratio`.
    pub max_ratio: f64,
    /// Skip data whose sampled entropy is at least this many bits per byte (8 is random).
    pub max_entropy: f64,
}

impl AdaptiveOptions {
    /// The ratio threshold used when none is given.
    pub const DEFAULT_MAX_RATIO: f64 = 0.9;
    /// The entropy threshold used when none is given, in bits per byte.
    pub const DEFAULT_MAX_ENTROPY: f64 = 7.5;

    /// Options for `format` at `level`, with the thresholds given or their defaults
    /// ([`Self::DEFAULT_MAX_RATIO`], [`Self::DEFAULT_MAX_ENTROPY`]). A ratio must be a positive
    /// number and an entropy one from 0 to 8 bits per byte; a level must be for `format`.
    ///
    /// ```
    /// use chunker_core::compression::adaptive::AdaptiveOptions;
    /// use chunker_core::compression::Format;
    /// assert!(AdaptiveOptions::new(Format::Zstd, None, Some(0.5), None).is_ok());
    /// assert!(AdaptiveOptions::new(Format::Zstd, None, None, Some(9.0)).is_err());
    /// ```
    pub fn new(
        format: Format,
        level: Option<Level>,
        max_ratio: Option<f64>,
        max_entropy: Option<f64>,
    ) -> Result<Self, CompressionError> {
        Level::resolve(format, level)?;
        let max_ratio = max_ratio.unwrap_or(Self::DEFAULT_MAX_RATIO);
        if !(max_ratio.is_finite() && max_ratio > 0.0) {
            return Err(CompressionError::InvalidOptions(format!(
                "max_ratio must be a positive number, got: {max_ratio}"
            )));
        }
        let max_entropy = max_entropy.unwrap_or(Self::DEFAULT_MAX_ENTROPY);
        if !(0.0..=8.0).contains(&max_entropy) {
            return Err(CompressionError::InvalidOptions(format!(
                "max_entropy must be a number from 0 to 8 (bits per byte), got: {max_entropy}"
            )));
        }
        Ok(Self {
            format,
            level,
            max_ratio,
            max_entropy,
        })
    }

    /// Why `data` should be stored without even trying to compress it, if it should: it
    /// starts like a compressed file, or its sampled entropy is at least `max_entropy`.
    pub fn precheck(&self, data: &[u8]) -> Option<Skip> {
        if let Some(kind) = compressed_kind(data) {
            return Some(Skip::AlreadyCompressed(kind));
        }
        let entropy = sampled_entropy(data);
        (entropy >= self.max_entropy).then_some(Skip::HighEntropy(entropy))
    }

    /// Why `original` bytes compressed to `compressed` bytes should be stored as they are, if
    /// they should: the ratio is above `max_ratio`.
    pub fn judge(&self, original: usize, compressed: usize) -> Option<Skip> {
        let ratio = compressed as f64 / original.max(1) as f64;
        (ratio > self.max_ratio).then_some(Skip::NoGain(ratio))
    }
}

impl Default for AdaptiveOptions {
    /// zstd at its default level, keeping results of at most 90% of the input, skipping data
    /// of 7.5 bits of entropy per byte or more.
    fn default() -> Self {
        Self {
            format: Format::Zstd,
            level: None,
            max_ratio: Self::DEFAULT_MAX_RATIO,
            max_entropy: Self::DEFAULT_MAX_ENTROPY,
        }
    }
}

/// What [`compress_adaptive`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Adaptive {
    /// Compressed; the frame is here.
    Compressed(Vec<u8>),
    /// Not worth compressing; store the input as it is.
    Stored(Skip),
}

/// Compressed formats recognized by their first bytes, beyond the four supported ones.
const MAGICS: [(&str, &[u8]); 10] = [
    ("zip", b"PK\x03\x04"),
    ("png", b"\x89PNG\r\n\x1a\n"),
    ("jpeg", b"\xFF\xD8\xFF"),
    ("gif", b"GIF8"),
    ("7z", b"7z\xBC\xAF\x27\x1C"),
    ("rar", b"Rar!\x1A\x07"),
    ("ogg", b"OggS"),
    ("flac", b"fLaC"),
    ("mp3", b"ID3"),
    ("webp", b"RIFF"),
];

/// The compressed format `data` starts with, if any is recognized.
pub fn compressed_kind(data: &[u8]) -> Option<&'static str> {
    match detect(data) {
        Detected::Format(format) => return Some(format.name()),
        Detected::Gzip => return Some("gzip"),
        Detected::Unknown => {}
    }
    if data.get(4..8) == Some(b"ftyp") {
        return Some("mp4");
    }
    MAGICS
        .iter()
        .find(|(_, magic)| data.starts_with(magic))
        .map(|(name, _)| *name)
}

/// Shannon entropy, in bits per byte, of up to 32 KiB sampled from `data`: 16 windows of
/// 2 KiB spread evenly over it (all of it when it is that small).
pub fn sampled_entropy(data: &[u8]) -> f64 {
    const WINDOWS: usize = 16;
    const WINDOW: usize = 2048;
    let mut counts = [0u64; 256];
    let mut total = 0u64;
    // A byte indexes a 256-entry table: in bounds by type.
    #[allow(clippy::indexing_slicing)]
    let mut count = |bytes: &[u8]| {
        for &b in bytes {
            counts[b as usize] += 1;
        }
        total += bytes.len() as u64;
    };
    if data.len() <= WINDOWS * WINDOW {
        count(data);
    } else {
        let stride = (data.len() - WINDOW) / (WINDOWS - 1);
        for i in 0..WINDOWS {
            let start = i * stride;
            count(data.get(start..start + WINDOW).unwrap_or_default());
        }
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// Decides as [`compress_adaptive`] does, compressing into `sink` when worth it. Returns
/// `None` when the sink holds the compressed frame, or why the data should be stored as is
/// (the sink's contents are then meaningless).
pub fn compress_adaptive_to(
    data: &[u8],
    options: &AdaptiveOptions,
    sink: &mut dyn Sink,
) -> Result<Option<Skip>, CompressionError> {
    Level::resolve(options.format, options.level)?;
    if let Some(skip) = options.precheck(data) {
        return Ok(Some(skip));
    }
    let start = sink.written();
    compress_to(data, options.format, options.level, sink)?;
    Ok(options.judge(data.len(), sink.written() - start))
}

/// Compresses `data` unless that is not worth it: data that already starts like a
/// compressed file, data whose sampled entropy is high, and data that does not compress below
/// the ratio threshold are stored as they are.
///
/// ```
/// use chunker_core::compression::adaptive::{compress_adaptive, Adaptive, AdaptiveOptions, Skip};
/// let text = b"a line of text that repeats\n".repeat(1000);
/// assert!(matches!(compress_adaptive(&text, &AdaptiveOptions::default()), Ok(Adaptive::Compressed(_))));
/// let png = b"\x89PNG\r\n\x1a\n and the rest of an image";
/// assert_eq!(
///     compress_adaptive(png, &AdaptiveOptions::default()),
///     Ok(Adaptive::Stored(Skip::AlreadyCompressed("png")))
/// );
/// ```
pub fn compress_adaptive(
    data: &[u8],
    options: &AdaptiveOptions,
) -> Result<Adaptive, CompressionError> {
    let mut out = Vec::new();
    let skip = {
        let mut sink = VecSink::new(&mut out);
        compress_adaptive_to(data, options, &mut sink)?
    };
    Ok(match skip {
        Some(skip) => Adaptive::Stored(skip),
        None => Adaptive::Compressed(out),
    })
}
