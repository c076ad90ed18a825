//! The formats, their levels, and detection by magic bytes.

use std::fmt;

use super::error::CompressionError;

/// A supported compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Zstandard frames (RFC 8878).
    Zstd,
    /// LZ4 frames (the `lz4` tool's default format, not the raw block format).
    Lz4,
    /// xz (LZMA2 in the .xz container).
    Xz,
    /// bzip2.
    Bzip2,
}

impl Format {
    /// All supported formats.
    pub const ALL: [Format; 4] = [Format::Zstd, Format::Lz4, Format::Xz, Format::Bzip2];

    /// The lowercase name (`zstd`, `lz4`, `xz`, `bzip2`).
    /// The format's position in [`Format::ALL`], for tables indexed by format.
    pub fn index(self) -> usize {
        match self {
            Format::Zstd => 0,
            Format::Lz4 => 1,
            Format::Xz => 2,
            Format::Bzip2 => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Zstd => "zstd",
            Format::Lz4 => "lz4",
            Format::Xz => "xz",
            Format::Bzip2 => "bzip2",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated compression level for one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    format: Format,
    value: i32,
}

impl Level {
    /// The level the format's command-line tool uses by default: zstd 3, xz 6, bzip2 9;
    /// LZ4 has a single level.
    pub fn default_for(format: Format) -> Self {
        let value = match format {
            Format::Zstd => 3,
            Format::Lz4 => 1,
            Format::Xz => 6,
            Format::Bzip2 => 9,
        };
        Self { format, value }
    }

    /// Validates `value` for `format`: zstd from its fastest negative level
    /// (`zstd --fast=131072`) to 22, xz 0 to 9, bzip2 1 to 9. LZ4 frames are written with
    /// lz4_flex, which has no levels, so LZ4 takes none.
    pub fn new(format: Format, value: i64) -> Result<Self, CompressionError> {
        let (lo, hi) = match format {
            Format::Zstd => (
                i64::from(zstd_safe::min_c_level()),
                i64::from(zstd_safe::max_c_level()),
            ),
            Format::Xz => (0, 9),
            Format::Bzip2 => (1, 9),
            Format::Lz4 => return Err(CompressionError::InvalidOptions(
                "level is not supported for lz4 (its frames are written at the one lz4_flex level)"
                    .to_string(),
            )),
        };
        if value < lo || value > hi {
            return Err(CompressionError::InvalidOptions(format!(
                "level for {format} must be an integer from {lo} to {hi}, got {value}"
            )));
        }
        let value = i32::try_from(value).map_err(|_| {
            CompressionError::InvalidOptions(format!("level {value} is out of range"))
        })?;
        Ok(Self { format, value })
    }

    /// The numeric level to use for `format`: `level`'s (which must be for that format) or
    /// the format's default.
    pub(crate) fn resolve(format: Format, level: Option<Level>) -> Result<i32, CompressionError> {
        match level {
            Some(level) if level.format() != format => {
                Err(CompressionError::InvalidOptions(format!(
                    "a level for {} was given to compress {format}",
                    level.format()
                )))
            }
            Some(level) => Ok(level.value()),
            None => Ok(Level::default_for(format).value()),
        }
    }

    /// The format this level is for.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The numeric level.
    pub fn value(&self) -> i32 {
        self.value
    }
}

/// What [`detect`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A supported format.
    Format(Format),
    /// gzip: recognized, not supported.
    Gzip,
    /// No known magic bytes (or too few bytes to tell).
    Unknown,
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
/// First block of a bzip2 stream (the digits of pi) or its end-of-stream marker (sqrt(pi)).
const BZIP2_BLOCK_MAGIC: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const BZIP2_END_MAGIC: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];

/// True for the magic of a skippable frame (`0x184D2A50` to `0x184D2A5F`, little-endian),
/// which zstd and LZ4 both allow before, between and after their frames.
pub(crate) fn is_skippable_magic(bytes: &[u8]) -> bool {
    matches!(bytes, [b0, 0x2A, 0x4D, 0x18, ..] if b0 & 0xF0 == 0x50)
}

/// The little-endian `u32` at `at`, if `bytes` holds it.
pub(crate) fn read_u32_le(bytes: &[u8], at: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

pub(crate) fn is_zstd_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&ZSTD_MAGIC)
}

pub(crate) fn is_lz4_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&LZ4_MAGIC)
}

pub(crate) fn is_bzip2_magic(bytes: &[u8]) -> bool {
    match bytes {
        [b'B', b'Z', b'h', level, rest @ ..] if (b'1'..=b'9').contains(level) => {
            rest.starts_with(&BZIP2_BLOCK_MAGIC) || rest.starts_with(&BZIP2_END_MAGIC)
        }
        _ => false,
    }
}

/// The format of `data`, from its first bytes. Skippable frames (zstd/LZ4) in front are
/// looked through.
///
/// ```
/// use chunker_core::compression::{compress, detect, Detected, Format};
/// let packed = compress(b"hello", Format::Xz, None).unwrap();
/// assert_eq!(detect(&packed), Detected::Format(Format::Xz));
/// assert_eq!(detect(b"\x1f\x8b\x08\x00"), Detected::Gzip);
/// assert_eq!(detect(b"plain text"), Detected::Unknown);
/// ```
pub fn detect(data: &[u8]) -> Detected {
    let mut rest = data;
    while is_skippable_magic(rest) {
        let Some(size) = read_u32_le(rest, 4) else {
            return Detected::Unknown;
        };
        match rest.get(8 + size as usize..) {
            Some(next) => rest = next,
            None => return Detected::Unknown,
        }
    }
    if is_zstd_magic(rest) {
        Detected::Format(Format::Zstd)
    } else if is_lz4_magic(rest) {
        Detected::Format(Format::Lz4)
    } else if rest.starts_with(&XZ_MAGIC) {
        Detected::Format(Format::Xz)
    } else if is_bzip2_magic(rest) {
        Detected::Format(Format::Bzip2)
    } else if rest.starts_with(&GZIP_MAGIC) {
        Detected::Gzip
    } else {
        Detected::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "calls zstd's C library")]
    fn levels_are_checked_per_format() {
        assert_eq!(Level::new(Format::Zstd, -7).unwrap().value(), -7);
        assert_eq!(Level::new(Format::Zstd, 22).unwrap().value(), 22);
        assert!(Level::new(Format::Zstd, 23).is_err());
        assert!(Level::new(Format::Xz, 10).is_err());
        assert!(Level::new(Format::Bzip2, 0).is_err());
        assert!(Level::new(Format::Lz4, 1).is_err());
        assert!(Level::new(Format::Zstd, i64::MIN).is_err());
    }

    #[test]
    fn detection_needs_the_whole_magic() {
        assert_eq!(detect(&ZSTD_MAGIC[..3]), Detected::Unknown);
        assert_eq!(detect(b"BZh9"), Detected::Unknown);
        assert_eq!(detect(b"BZh0\x31\x41\x59\x26\x53\x59"), Detected::Unknown);
        assert_eq!(
            detect(b"BZh9\x17\x72\x45\x38\x50\x90"),
            Detected::Format(Format::Bzip2)
        );
        // A skippable frame in front, then LZ4.
        let mut data = vec![0x5A, 0x2A, 0x4D, 0x18, 2, 0, 0, 0, 9, 9];
        data.extend_from_slice(&LZ4_MAGIC);
        assert_eq!(detect(&data), Detected::Format(Format::Lz4));
        assert_eq!(detect(&data[..9]), Detected::Unknown);
    }
}
