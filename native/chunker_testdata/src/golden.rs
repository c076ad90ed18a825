//! The golden-vector fixture and file format (`test/golden/` at the repository root).
//!
//! The fixture is 2 MiB made by a generator simple enough to rewrite in any language (the
//! ExUnit tests have their own copy, `Chunker.TestData.golden_fixture/0`):
//!
//! | bytes               | content                                                     |
//! | ------------------- | ----------------------------------------------------------- |
//! | 0 .. 1 MiB          | `random_bytes(1 MiB, 1)`: xorshift64 words, little-endian    |
//! | 1 MiB .. 1.5 MiB    | `random_bytes(512 KiB, 2)`, each byte ANDed with 3           |
//! | 1.5 MiB .. 1.75 MiB | zeros (no cut point: max_size cuts)                          |
//! | 1.75 MiB .. 2 MiB   | `random_bytes(12_345, 3)` repeated                           |
//!
//! where `random_bytes(n, seed)` is [`crate::random_bytes`]: the state starts at
//! `seed * 0x9E3779B97F4A7C15 | 1` (wrapping), each step is `x ^= x << 13; x ^= x >> 7;
//! x ^= x << 17`, and each step's `x` gives 8 bytes, least significant first.
//!
//! A vector file is text: `#` header lines, then one `offset length blake3-hex` line per chunk.
//! The header names the variant and sizes (`# algorithm v2020 normalization 1 seed 0`,
//! `# sizes 1024 4096 16384`), the input (`# input 2097152`: the fixture's first so many
//! bytes) and the fixture's BLAKE3 (`# fixture <hex>`), so that a generator that went wrong is
//! told apart from a boundary that moved.

use crate::random_bytes;

/// The fixture's length.
pub const FIXTURE_LEN: usize = 2 << 20;

/// The 2 MiB fixture (see the module doc).
pub fn fixture() -> Vec<u8> {
    let mib = 1 << 20;
    let mut out = random_bytes(mib, 1);
    out.extend(random_bytes(mib / 2, 2).iter().map(|b| b & 3));
    out.resize(out.len() + mib / 4, 0);
    let period = random_bytes(12_345, 3);
    out.extend(period.iter().cycle().take(mib / 4));
    out
}

/// `-` as `Some(None)`, a number as `Some(Some(n))`, anything else as `None`.
fn optional<T: std::str::FromStr>(word: &str) -> Option<Option<T>> {
    if word == "-" {
        Some(None)
    } else {
        word.parse().ok().map(Some)
    }
}

/// One vector file, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vectors {
    /// `v2020`, `v2016` or `ronomon`.
    pub algorithm: String,
    /// Normalization level (`None` for ronomon).
    pub normalization: Option<u32>,
    /// Gear-table seed (`None` but for v2020).
    pub seed: Option<u64>,
    /// min, avg, max.
    pub sizes: (usize, usize, usize),
    /// How many of the fixture's first bytes were chunked.
    pub input: usize,
    /// The fixture's BLAKE3, hex.
    pub fixture_blake3: String,
    /// `(offset, length, blake3 hex)` of each chunk.
    pub chunks: Vec<(u64, usize, String)>,
}

impl Vectors {
    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# chunker golden vectors: the boundaries of the fastcdc crate 5.0.0, frozen.\n\
             # Regenerate only to add files (cargo run --example golden_vectors); never to change one.\n",
        );
        let opt = |value: Option<String>| value.unwrap_or_else(|| "-".into());
        out += &format!(
            "# algorithm {} normalization {} seed {}\n",
            self.algorithm,
            opt(self.normalization.map(|n| n.to_string())),
            opt(self.seed.map(|s| s.to_string()))
        );
        let (min, avg, max) = self.sizes;
        out += &format!("# sizes {min} {avg} {max}\n# input {}\n", self.input);
        out += &format!("# fixture {}\n", self.fixture_blake3);
        for (offset, length, hash) in &self.chunks {
            out += &format!("{offset} {length} {hash}\n");
        }
        out
    }

    /// Parses a file's text; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut vectors = Vectors {
            algorithm: String::new(),
            normalization: None,
            seed: None,
            sizes: (0, 0, 0),
            input: 0,
            fixture_blake3: String::new(),
            chunks: Vec::new(),
        };
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["#", "algorithm", name, "normalization", level, "seed", seed] => {
                    vectors.algorithm = (*name).to_string();
                    vectors.normalization = optional(level)?;
                    vectors.seed = optional(seed)?;
                }
                ["#", "sizes", min, avg, max] => {
                    vectors.sizes = (min.parse().ok()?, avg.parse().ok()?, max.parse().ok()?);
                }
                ["#", "input", input] => vectors.input = input.parse().ok()?,
                ["#", "fixture", hash] => vectors.fixture_blake3 = (*hash).to_string(),
                ["#", ..] | [] => {}
                [offset, length, hash] => vectors.chunks.push((
                    offset.parse().ok()?,
                    length.parse().ok()?,
                    (*hash).to_string(),
                )),
                _ => return None,
            }
        }
        (!vectors.algorithm.is_empty() && vectors.input > 0).then_some(vectors)
    }

    /// The file name: `<algorithm>[-n<level>][-s<seed, hex>]-<min>-<avg>-<max>-<input>.txt`.
    pub fn file_name(&self) -> String {
        let (min, avg, max) = self.sizes;
        let level = self
            .normalization
            .map_or(String::new(), |n| format!("-n{n}"));
        let seed = self.seed.map_or(String::new(), |s| format!("-s{s:x}"));
        format!(
            "{}{level}{seed}-{min}-{avg}-{max}-{}.txt",
            self.algorithm, self.input
        )
    }
}
