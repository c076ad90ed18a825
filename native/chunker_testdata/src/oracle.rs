//! The boundary oracle: the chunks the `fastcdc` crate itself (not chunker_core) finds, for
//! any of its chunkers, levels and seeds. Tests, benches, examples and fuzz targets compare
//! chunker_core against this.

/// One of the crate's chunkers with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `fastcdc::v2020::FastCDC::with_level_and_seed`.
    V2020 {
        /// Normalization level, 0..=3.
        level: u32,
        /// Gear-table seed.
        seed: u64,
    },
    /// `fastcdc::v2016::FastCDC::with_level`.
    V2016 {
        /// Normalization level, 0..=3.
        level: u32,
    },
    /// `fastcdc::ronomon::FastCDC::new`.
    Ronomon,
}

impl Variant {
    /// The variant for an algorithm name (`v2020`, `v2016`, `ronomon`), a level and a seed;
    /// `None` for an unknown name or a level above 3.
    pub fn parse(name: &str, level: u32, seed: u64) -> Option<Self> {
        (level <= 3).then_some(())?;
        match name {
            "v2020" => Some(Variant::V2020 { level, seed }),
            "v2016" => Some(Variant::V2016 { level }),
            "ronomon" => Some(Variant::Ronomon),
            _ => None,
        }
    }
}

/// The crate's v2020 `Normalization` for a level (levels above 3 are level 3).
pub fn v2020_level(level: u32) -> fastcdc::v2020::Normalization {
    use fastcdc::v2020::Normalization::*;
    [Level0, Level1, Level2, Level3][level.min(3) as usize]
}

/// The crate's v2016 `Normalization` for a level (levels above 3 are level 3).
pub fn v2016_level(level: u32) -> fastcdc::v2016::Normalization {
    use fastcdc::v2016::Normalization::*;
    [Level0, Level1, Level2, Level3][level.min(3) as usize]
}

/// `(offset, length)` of every chunk the crate's `variant` finds in `data`.
pub fn fastcdc_chunks(
    variant: Variant,
    data: &[u8],
    (min, avg, max): (usize, usize, usize),
) -> Vec<(usize, usize)> {
    match variant {
        Variant::V2020 { level, seed } => fastcdc::v2020::FastCDC::with_level_and_seed(
            data,
            min,
            avg,
            max,
            v2020_level(level),
            seed,
        )
        .map(|c| (c.offset, c.length))
        .collect(),
        Variant::V2016 { level } => {
            fastcdc::v2016::FastCDC::with_level(data, min, avg, max, v2016_level(level))
                .map(|c| (c.offset, c.length))
                .collect()
        }
        Variant::Ronomon => fastcdc::ronomon::FastCDC::new(data, min, avg, max)
            .map(|c| (c.offset, c.length))
            .collect(),
    }
}
