//! Chunking configuration: which FastCDC variant to cut like, and its sizes, validated once.
//!
//! Each [`Algorithm`] is one of the `fastcdc` crate's chunkers, and accepts exactly that
//! chunker's size ranges ([`Algorithm::limits`]). `v2020` also takes a normalization level and
//! a seed for its gear table, `v2016` a normalization level, `ronomon` neither; naming one for
//! an algorithm that has no such thing is an error, never silently ignored.

use std::fmt;

use crate::cut::Cutter;

/// Which of the `fastcdc` crate's chunkers the boundaries are those of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `fastcdc::v2020::FastCDC`: the gear hash rolled two bytes at a time (the default).
    #[default]
    V2020,
    /// `fastcdc::v2016::FastCDC`: the FastCDC paper's original, one byte at a time.
    V2016,
    /// `fastcdc::ronomon::FastCDC`: ronomon/deduplication's 31-bit variant (attic uses it).
    Ronomon,
}

impl Algorithm {
    /// Every algorithm, in the order documentation lists them.
    pub const ALL: [Algorithm; 3] = [Algorithm::V2020, Algorithm::V2016, Algorithm::Ronomon];

    /// The name users write (`v2020`, `v2016`, `ronomon`), the crate's module name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::V2020 => "v2020",
            Algorithm::V2016 => "v2016",
            Algorithm::Ronomon => "ronomon",
        }
    }

    /// The algorithm named `name` (see [`Algorithm::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.name() == name)
    }

    /// The sizes the crate's chunker accepts (its `MINIMUM_MIN` .. `MAXIMUM_MAX` constants).
    pub fn limits(self) -> Limits {
        match self {
            Algorithm::V2020 => Limits {
                min_size: (fastcdc::v2020::MINIMUM_MIN, fastcdc::v2020::MINIMUM_MAX),
                avg_size: (fastcdc::v2020::AVERAGE_MIN, fastcdc::v2020::AVERAGE_MAX),
                max_size: (fastcdc::v2020::MAXIMUM_MIN, fastcdc::v2020::MAXIMUM_MAX),
                even: true,
            },
            Algorithm::V2016 => Limits {
                min_size: (fastcdc::v2016::MINIMUM_MIN, fastcdc::v2016::MINIMUM_MAX),
                avg_size: (fastcdc::v2016::AVERAGE_MIN, fastcdc::v2016::AVERAGE_MAX),
                max_size: (fastcdc::v2016::MAXIMUM_MIN, fastcdc::v2016::MAXIMUM_MAX),
                even: false,
            },
            Algorithm::Ronomon => Limits {
                min_size: (fastcdc::ronomon::MINIMUM_MIN, fastcdc::ronomon::MINIMUM_MAX),
                avg_size: (fastcdc::ronomon::AVERAGE_MIN, fastcdc::ronomon::AVERAGE_MAX),
                max_size: (fastcdc::ronomon::MAXIMUM_MIN, fastcdc::ronomon::MAXIMUM_MAX),
                even: false,
            },
        }
    }

    /// Whether the algorithm has normalization levels (`v2020` and `v2016`).
    pub fn has_normalization(self) -> bool {
        self != Algorithm::Ronomon
    }

    /// Whether the algorithm takes a gear-table seed (`v2020` only).
    pub fn has_seed(self) -> bool {
        self == Algorithm::V2020
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The inclusive size ranges of one [`Algorithm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `min_size` range.
    pub min_size: (usize, usize),
    /// `avg_size` range.
    pub avg_size: (usize, usize),
    /// `max_size` range.
    pub max_size: (usize, usize),
    /// Whether sizes must be even (`v2020` tests candidate cut points in pairs: an odd size
    /// would silently shift every boundary by one byte).
    pub even: bool,
}

impl Limits {
    /// The range of one size option.
    pub fn range(&self, option: ConfigOption) -> Option<(usize, usize)> {
        match option {
            ConfigOption::MinSize => Some(self.min_size),
            ConfigOption::AvgSize => Some(self.avg_size),
            ConfigOption::MaxSize => Some(self.max_size),
            _ => None,
        }
    }
}

/// Chunk-size normalization (section 4.4 of the FastCDC paper): how strongly chunk sizes are
/// pulled towards the average. The `fastcdc` crate's `Normalization::Level0..Level3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Normalization {
    /// No normalization: the widest spread of sizes.
    Level0,
    /// Level 1, the crate's default.
    #[default]
    Level1,
    /// Level 2.
    Level2,
    /// Level 3: nearly every chunk near the average.
    Level3,
}

impl Normalization {
    /// The level for `0..=3`, or the error naming the option.
    pub fn parse(level: u64) -> Result<Self, ConfigError> {
        Self::from_level(level).ok_or_else(|| {
            ConfigError::out_of_range(
                Algorithm::V2020,
                ConfigOption::Normalization,
                &level.to_string(),
            )
        })
    }

    /// The level for `0..=3`.
    pub fn from_level(level: u64) -> Option<Self> {
        match level {
            0 => Some(Normalization::Level0),
            1 => Some(Normalization::Level1),
            2 => Some(Normalization::Level2),
            3 => Some(Normalization::Level3),
            _ => None,
        }
    }

    /// The level as a number, `0..=3` (the crate's `Normalization::bits`).
    pub fn level(self) -> u32 {
        match self {
            Normalization::Level0 => 0,
            Normalization::Level1 => 1,
            Normalization::Level2 => 2,
            Normalization::Level3 => 3,
        }
    }
}

/// Which option a configuration error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigOption {
    /// `algorithm`
    Algorithm,
    /// `normalization`
    Normalization,
    /// `seed`
    Seed,
    /// `min_size`
    MinSize,
    /// `avg_size`
    AvgSize,
    /// `max_size`
    MaxSize,
}

impl ConfigOption {
    /// The option's name as users write it.
    pub fn name(self) -> &'static str {
        match self {
            ConfigOption::Algorithm => "algorithm",
            ConfigOption::Normalization => "normalization",
            ConfigOption::Seed => "seed",
            ConfigOption::MinSize => "min_size",
            ConfigOption::AvgSize => "avg_size",
            ConfigOption::MaxSize => "max_size",
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The option the problem is reported against.
    pub option: ConfigOption,
    /// A sentence naming the option, the value and what is allowed.
    pub message: String,
}

impl ConfigError {
    fn new(option: ConfigOption, message: String) -> Self {
        Self { option, message }
    }

    /// `option` was given a value (`got`, as the caller shows values) outside what
    /// `algorithm` accepts for it; the message says what it accepts. For callers that decode
    /// values this module never sees (a negative or 100-bit integer from another runtime).
    pub fn out_of_range(algorithm: Algorithm, option: ConfigOption, got: &str) -> Self {
        let name = option.name();
        let message = match option {
            ConfigOption::Algorithm => {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                format!("{name} must be one of {}, got {got}", names.join(", "))
            }
            ConfigOption::Normalization => format!("{name} must be 0, 1, 2 or 3, got {got}"),
            ConfigOption::Seed => {
                format!("{name} must be an integer from 0 to 2^64 - 1, got {got}")
            }
            ConfigOption::MinSize | ConfigOption::AvgSize | ConfigOption::MaxSize => {
                let limits = algorithm.limits();
                let (lo, hi) = limits.range(option).unwrap_or((0, 0));
                let kind = if limits.even {
                    "an even integer"
                } else {
                    "an integer"
                };
                // v2020's ranges are the ones users know; the others say whose they are.
                let whose = if algorithm == Algorithm::V2020 {
                    String::new()
                } else {
                    format!(" for {algorithm}")
                };
                format!("{name} must be {kind} from {lo} to {hi}{whose}, got {got}")
            }
        };
        Self::new(option, message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// 16 KiB / 64 KiB / 256 KiB: the sizes of [`ChunkerConfig::default`] and of a new builder.
const DEFAULT_SIZES: (u64, u64, u64) = (16_384, 65_536, 262_144);

/// A validated configuration: the algorithm, its parameters and sizes, and what the cut-point
/// scan derives from them (masks, gear tables).
///
/// Building one is the only place options are checked; everything downstream trusts it.
/// Cloning is cheap (a seeded gear table is shared, not copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkerConfig {
    algorithm: Algorithm,
    normalization: Normalization,
    seed: u64,
    min_size: usize,
    avg_size: usize,
    max_size: usize,
    cutter: Cutter,
}

impl ChunkerConfig {
    /// `v2020` at normalization level 1 with the default gear table (the crate's
    /// `v2020::FastCDC::new`): validates `min_size <= avg_size <= max_size`, each within the
    /// crate's range and even.
    ///
    /// ```
    /// use chunker_core::ChunkerConfig;
    /// let config = ChunkerConfig::new(16_384, 65_536, 262_144).unwrap();
    /// assert_eq!(config.avg_size(), 65_536);
    /// assert!(ChunkerConfig::new(65_536, 16_384, 262_144).is_err());
    /// ```
    pub fn new(min_size: usize, avg_size: usize, max_size: usize) -> Result<Self, ConfigError> {
        Self::builder(Algorithm::V2020)
            .sizes(min_size as u64, avg_size as u64, max_size as u64)
            .build()
    }

    /// Like [`ChunkerConfig::new`], for sizes that arrive as `u64` (e.g. from another
    /// runtime): a value that does not fit `usize` is an error, never truncated.
    pub fn from_u64(min_size: u64, avg_size: u64, max_size: u64) -> Result<Self, ConfigError> {
        Self::builder(Algorithm::V2020)
            .sizes(min_size, avg_size, max_size)
            .build()
    }

    /// A builder for `algorithm`, starting from 16 KiB / 64 KiB / 256 KiB and the algorithm's
    /// defaults (normalization level 1 and seed 0 where they apply).
    ///
    /// ```
    /// use chunker_core::{Algorithm, ChunkerConfig, Normalization};
    /// // attic's defaults.
    /// let attic = ChunkerConfig::builder(Algorithm::Ronomon)
    ///     .sizes(16_384, 65_536, 262_144)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(attic.algorithm(), Algorithm::Ronomon);
    /// let keyed = ChunkerConfig::builder(Algorithm::V2020)
    ///     .normalization(Normalization::Level2)
    ///     .seed(0x5eed)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(keyed.seed(), 0x5eed);
    /// // ronomon has no seed: asking for one is an error, not ignored.
    /// let error = ChunkerConfig::builder(Algorithm::Ronomon).seed(1).build().unwrap_err();
    /// assert_eq!(error.option, chunker_core::ConfigOption::Seed);
    /// ```
    pub fn builder(algorithm: Algorithm) -> ConfigBuilder {
        ConfigBuilder {
            algorithm,
            normalization: None,
            seed: None,
            sizes: DEFAULT_SIZES,
        }
    }

    /// Which chunker the boundaries are those of.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The normalization level (level 1 for `ronomon`, whose single level is fixed).
    pub fn normalization(&self) -> Normalization {
        self.normalization
    }

    /// The gear-table seed (`0`: the crate's table; always 0 but for `v2020`).
    pub fn seed(&self) -> u64 {
        self.seed
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

    /// What the cut-point scan runs with.
    pub(crate) fn cutter(&self) -> &Cutter {
        &self.cutter
    }
}

impl Default for ChunkerConfig {
    /// `v2020`, level 1, 16 KiB / 64 KiB / 256 KiB.
    fn default() -> Self {
        let (min_size, avg_size, max_size) = DEFAULT_SIZES;
        let (min_size, avg_size, max_size) =
            (min_size as usize, avg_size as usize, max_size as usize);
        Self {
            algorithm: Algorithm::V2020,
            normalization: Normalization::Level1,
            seed: 0,
            min_size,
            avg_size,
            max_size,
            cutter: Cutter::new(
                Algorithm::V2020,
                Normalization::Level1,
                0,
                min_size,
                avg_size,
            ),
        }
    }
}

/// Collects the options of a [`ChunkerConfig`]; [`ConfigBuilder::build`] checks them all.
#[derive(Debug, Clone)]
#[must_use]
pub struct ConfigBuilder {
    algorithm: Algorithm,
    normalization: Option<Normalization>,
    seed: Option<u64>,
    sizes: (u64, u64, u64),
}

impl ConfigBuilder {
    /// The three sizes, `min_size <= avg_size <= max_size`.
    pub fn sizes(mut self, min_size: u64, avg_size: u64, max_size: u64) -> Self {
        self.sizes = (min_size, avg_size, max_size);
        self
    }

    /// A normalization level (`v2020` and `v2016`).
    pub fn normalization(mut self, level: Normalization) -> Self {
        self.normalization = Some(level);
        self
    }

    /// A seed XORed into the gear table (`v2020`; the crate's `with_level_and_seed`), so that
    /// chunk sizes do not reveal content to someone without the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The configuration, or the first option at fault.
    pub fn build(self) -> Result<ChunkerConfig, ConfigError> {
        let algorithm = self.algorithm;
        if self.normalization.is_some() && !algorithm.has_normalization() {
            return Err(ConfigError::new(
                ConfigOption::Normalization,
                format!("normalization is not an option of the {algorithm} algorithm (only v2020 and v2016 have levels)"),
            ));
        }
        if self.seed.is_some() && !algorithm.has_seed() {
            return Err(ConfigError::new(
                ConfigOption::Seed,
                format!("seed is not an option of the {algorithm} algorithm (only v2020 has a seeded gear table)"),
            ));
        }
        let limits = algorithm.limits();
        let (min, avg, max) = self.sizes;
        // The average first: callers often derive the other two from it.
        let avg_size = check_size(algorithm, &limits, ConfigOption::AvgSize, avg)?;
        let min_size = check_size(algorithm, &limits, ConfigOption::MinSize, min)?;
        let max_size = check_size(algorithm, &limits, ConfigOption::MaxSize, max)?;
        if min_size > avg_size {
            return Err(ConfigError::new(
                ConfigOption::MinSize,
                format!("min_size ({min_size}) must not be greater than avg_size ({avg_size})"),
            ));
        }
        if avg_size > max_size {
            return Err(ConfigError::new(
                ConfigOption::MaxSize,
                format!("max_size ({max_size}) must not be less than avg_size ({avg_size})"),
            ));
        }
        let normalization = self.normalization.unwrap_or_default();
        let seed = self.seed.unwrap_or(0);
        Ok(ChunkerConfig {
            algorithm,
            normalization,
            seed,
            min_size,
            avg_size,
            max_size,
            cutter: Cutter::new(algorithm, normalization, seed, min_size, avg_size),
        })
    }
}

fn check_size(
    algorithm: Algorithm,
    limits: &Limits,
    option: ConfigOption,
    value: u64,
) -> Result<usize, ConfigError> {
    let (lo, hi) = limits.range(option).unwrap_or((0, 0));
    let size = usize::try_from(value)
        .ok()
        .filter(|size| (lo..=hi).contains(size))
        .ok_or_else(|| ConfigError::out_of_range(algorithm, option, &value.to_string()))?;
    if limits.even && !size.is_multiple_of(2) {
        return Err(ConfigError::new(
            option,
            format!(
                "{} must be even (FastCDC 2020 tests cut points in pairs), got {size}",
                option.name()
            ),
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(
        algorithm: Algorithm,
        min: u64,
        avg: u64,
        max: u64,
    ) -> Result<ChunkerConfig, ConfigError> {
        ChunkerConfig::builder(algorithm)
            .sizes(min, avg, max)
            .build()
    }

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
            ConfigOption::MinSize
        );
        assert_eq!(
            ChunkerConfig::new(64, 4_194_306, 16_777_216)
                .unwrap_err()
                .option,
            ConfigOption::AvgSize
        );
        assert_eq!(
            ChunkerConfig::new(64, 256, 16_777_218).unwrap_err().option,
            ConfigOption::MaxSize
        );
    }

    #[test]
    fn each_algorithm_has_the_crates_ranges() {
        // ronomon allows averages far above v2020's 4 MiB, and odd sizes.
        assert!(sizes(Algorithm::Ronomon, 67_108_864, 268_435_456, 1_073_741_824).is_ok());
        assert!(sizes(Algorithm::Ronomon, 65, 257, 1025).is_ok());
        assert!(sizes(Algorithm::Ronomon, 64, 256, 1_073_741_825).is_err());
        assert!(sizes(Algorithm::V2016, 65, 257, 1025).is_ok());
        let too_big = sizes(Algorithm::V2016, 64, 8_388_608, 16_777_216).unwrap_err();
        assert_eq!(
            too_big.message,
            "avg_size must be an integer from 256 to 4194304 for v2016, got 8388608"
        );
        assert!(sizes(Algorithm::V2020, 64, 8_388_608, 16_777_216).is_err());
    }

    #[test]
    fn options_an_algorithm_lacks_are_refused() {
        let seed = ChunkerConfig::builder(Algorithm::V2016)
            .seed(0)
            .build()
            .unwrap_err();
        assert_eq!(seed.option, ConfigOption::Seed);
        assert!(seed.message.contains("v2016"), "{seed}");
        let level = ChunkerConfig::builder(Algorithm::Ronomon)
            .normalization(Normalization::Level1)
            .build()
            .unwrap_err();
        assert_eq!(level.option, ConfigOption::Normalization);
        assert!(ChunkerConfig::builder(Algorithm::V2016)
            .normalization(Normalization::Level3)
            .build()
            .is_ok());
    }

    #[test]
    fn odd_zero_and_misordered_sizes_are_refused() {
        let odd = ChunkerConfig::new(16_385, 65_536, 262_144).unwrap_err();
        assert!(odd.message.contains("min_size must be even"), "{odd}");
        assert_eq!(
            ChunkerConfig::new(0, 65_536, 262_144).unwrap_err().option,
            ConfigOption::MinSize
        );
        let order = ChunkerConfig::new(16_384, 300_000, 262_144).unwrap_err();
        assert_eq!(order.option, ConfigOption::MaxSize);
        assert!(order.message.contains("max_size (262144)"), "{order}");
    }

    #[test]
    fn u64_values_are_never_narrowed() {
        // 2^32 + 16384 would narrow to a valid-looking 16384 through a u32 cast.
        let err = ChunkerConfig::from_u64((1 << 32) + 16_384, 65_536, 262_144).unwrap_err();
        assert_eq!(err.option, ConfigOption::MinSize);
        assert!(ChunkerConfig::from_u64(u64::MAX, 65_536, 262_144).is_err());
    }
}
