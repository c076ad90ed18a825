//! Chunk-size configuration, validated once.
//!
//! The limits are those of the `fastcdc` crate's `v2020` module, whose cut points this crate
//! reproduces exactly. Sizes must be even: the 2020 algorithm tests candidate cut points in
//! pairs, and an odd size would silently shift every boundary by one byte.

use std::fmt;

use fastcdc::v2020::{self, Normalization};

/// Smallest accepted `min_size`.
pub const MIN_SIZE_MIN: usize = v2020::MINIMUM_MIN;
/// Largest accepted `min_size`.
pub const MIN_SIZE_MAX: usize = v2020::MINIMUM_MAX;
/// Smallest accepted `avg_size`.
pub const AVG_SIZE_MIN: usize = v2020::AVERAGE_MIN;
/// Largest accepted `avg_size`.
pub const AVG_SIZE_MAX: usize = v2020::AVERAGE_MAX;
/// Smallest accepted `max_size`.
pub const MAX_SIZE_MIN: usize = v2020::MAXIMUM_MIN;
/// Largest accepted `max_size`.
pub const MAX_SIZE_MAX: usize = v2020::MAXIMUM_MAX;

/// The normalization level the boundaries are defined with (the `fastcdc` crate's default).
pub const NORMALIZATION: Normalization = Normalization::Level1;

/// Which of the three sizes an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeOption {
    /// `min_size`
    Min,
    /// `avg_size`
    Avg,
    /// `max_size`
    Max,
}

impl SizeOption {
    /// The option's name as users write it (`min_size`, `avg_size`, `max_size`).
    pub fn name(self) -> &'static str {
        match self {
            SizeOption::Min => "min_size",
            SizeOption::Avg => "avg_size",
            SizeOption::Max => "max_size",
        }
    }

    /// The inclusive range the option accepts on its own.
    pub fn range(self) -> (usize, usize) {
        match self {
            SizeOption::Min => (MIN_SIZE_MIN, MIN_SIZE_MAX),
            SizeOption::Avg => (AVG_SIZE_MIN, AVG_SIZE_MAX),
            SizeOption::Max => (MAX_SIZE_MIN, MAX_SIZE_MAX),
        }
    }
}

/// Why a set of chunk sizes was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The option the problem is reported against.
    pub option: SizeOption,
    /// A sentence naming the option, the value and what is allowed.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Validated chunk sizes plus the cut-point masks derived from them.
///
/// Building one is the only place sizes are checked; everything downstream trusts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkerConfig {
    min_size: usize,
    avg_size: usize,
    max_size: usize,
    mask_s: u64,
    mask_l: u64,
}

impl ChunkerConfig {
    /// Validates `min_size <= avg_size <= max_size`, each within the `fastcdc` crate's range
    /// and even.
    ///
    /// ```
    /// use chunker_core::ChunkerConfig;
    /// let config = ChunkerConfig::new(16_384, 65_536, 262_144).unwrap();
    /// assert_eq!(config.avg_size(), 65_536);
    /// assert!(ChunkerConfig::new(65_536, 16_384, 262_144).is_err());
    /// ```
    pub fn new(min_size: usize, avg_size: usize, max_size: usize) -> Result<Self, ConfigError> {
        // The average first: callers often derive the other two from it.
        check_one(SizeOption::Avg, avg_size)?;
        check_one(SizeOption::Min, min_size)?;
        check_one(SizeOption::Max, max_size)?;
        if min_size > avg_size {
            return Err(ConfigError {
                option: SizeOption::Min,
                message: format!(
                    "min_size ({min_size}) must not be greater than avg_size ({avg_size})"
                ),
            });
        }
        if avg_size > max_size {
            return Err(ConfigError {
                option: SizeOption::Max,
                message: format!(
                    "max_size ({max_size}) must not be less than avg_size ({avg_size})"
                ),
            });
        }
        let (mask_s, mask_l) = v2020::select_masks(avg_size, NORMALIZATION);
        Ok(Self {
            min_size,
            avg_size,
            max_size,
            mask_s,
            mask_l,
        })
    }

    /// Like [`ChunkerConfig::new`], for sizes that arrive as `u64` (e.g. from another
    /// runtime): a value that does not fit `usize` is an error, never truncated.
    pub fn from_u64(min_size: u64, avg_size: u64, max_size: u64) -> Result<Self, ConfigError> {
        Self::new(
            to_usize(SizeOption::Min, min_size)?,
            to_usize(SizeOption::Avg, avg_size)?,
            to_usize(SizeOption::Max, max_size)?,
        )
    }

    /// Smallest chunk length, except for the final chunk of an input.
    pub fn min_size(&self) -> usize {
        self.min_size
    }

    /// Target average chunk length.
    pub fn avg_size(&self) -> usize {
        self.avg_size
    }

    /// Largest chunk length.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The strict and relaxed cut masks (`fastcdc::v2020::select_masks` at level 1).
    pub(crate) fn masks(&self) -> (u64, u64) {
        (self.mask_s, self.mask_l)
    }
}

impl Default for ChunkerConfig {
    /// 16 KiB / 64 KiB / 256 KiB.
    fn default() -> Self {
        let (mask_s, mask_l) = v2020::select_masks(65_536, NORMALIZATION);
        Self {
            min_size: 16_384,
            avg_size: 65_536,
            max_size: 262_144,
            mask_s,
            mask_l,
        }
    }
}

fn check_one(option: SizeOption, value: usize) -> Result<(), ConfigError> {
    let (lo, hi) = option.range();
    if value < lo || value > hi {
        return Err(ConfigError {
            option,
            message: format!(
                "{} must be an even integer from {lo} to {hi}, got {value}",
                option.name()
            ),
        });
    }
    if !value.is_multiple_of(2) {
        return Err(ConfigError {
            option,
            message: format!(
                "{} must be even (FastCDC 2020 tests cut points in pairs), got {value}",
                option.name()
            ),
        });
    }
    Ok(())
}

fn to_usize(option: SizeOption, value: u64) -> Result<usize, ConfigError> {
    usize::try_from(value).map_err(|_| {
        let (lo, hi) = option.range();
        ConfigError {
            option,
            message: format!(
                "{} must be an even integer from {lo} to {hi}, got {value}",
                option.name()
            ),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_matches_new() {
        assert_eq!(
            ChunkerConfig::default(),
            ChunkerConfig::new(16_384, 65_536, 262_144).unwrap()
        );
    }

    #[test]
    fn limits_are_inclusive() {
        assert!(ChunkerConfig::new(64, 256, 1024).is_ok());
        assert!(ChunkerConfig::new(1_048_576, 4_194_304, 16_777_216).is_ok());
        assert_eq!(
            ChunkerConfig::new(62, 256, 1024).unwrap_err().option,
            SizeOption::Min
        );
        assert_eq!(
            ChunkerConfig::new(64, 4_194_306, 16_777_216)
                .unwrap_err()
                .option,
            SizeOption::Avg
        );
        assert_eq!(
            ChunkerConfig::new(64, 256, 16_777_218).unwrap_err().option,
            SizeOption::Max
        );
    }

    #[test]
    fn odd_zero_and_misordered_sizes_are_refused() {
        let odd = ChunkerConfig::new(16_385, 65_536, 262_144).unwrap_err();
        assert!(odd.message.contains("min_size must be even"), "{odd}");
        assert_eq!(
            ChunkerConfig::new(0, 65_536, 262_144).unwrap_err().option,
            SizeOption::Min
        );
        let order = ChunkerConfig::new(16_384, 300_000, 262_144).unwrap_err();
        assert_eq!(order.option, SizeOption::Max);
        assert!(order.message.contains("max_size (262144)"), "{order}");
    }

    #[test]
    fn u64_values_are_never_narrowed() {
        // 2^32 + 16384 would narrow to a valid-looking 16384 through a u32 cast.
        let err = ChunkerConfig::from_u64((1 << 32) + 16_384, 65_536, 262_144).unwrap_err();
        assert_eq!(err.option, SizeOption::Min);
        assert!(ChunkerConfig::from_u64(u64::MAX, 65_536, 262_144).is_err());
    }
}
