//! Writes the golden vectors (`test/golden/*.txt`): for each variant and size set, the chunks
//! the `fastcdc` crate itself finds in the fixture of `chunker_testdata::golden`, with the
//! BLAKE3 of each chunk (the `blake3` crate).
//!
//!     cargo run --release --example golden_vectors -- [DIR]      # default ../test/golden
//!
//! Existing files are never rewritten: a vector file is a promise. An existing file whose
//! content would differ is reported and the run fails (the crate moved a boundary).

use std::path::PathBuf;
use std::process::ExitCode;

use chunker_testdata::golden::{fixture, Vectors, FIXTURE_LEN};
use chunker_testdata::oracle::{fastcdc_chunks, Variant};

/// (algorithm, level, seed, sizes, input length)
type Case = (
    &'static str,
    Option<u32>,
    Option<u64>,
    (usize, usize, usize),
    usize,
);

fn cases() -> Vec<Case> {
    let small = (64, 256, 1024);
    let medium = (1024, 4096, 16_384);
    let large = (16_384, 65_536, 262_144);
    let small_input = 64 << 10;
    let mut cases = Vec::new();
    for level in 0..=3 {
        cases.push(("v2020", Some(level), Some(0), small, small_input));
        cases.push(("v2020", Some(level), Some(0), medium, FIXTURE_LEN));
        cases.push(("v2020", Some(level), Some(0), large, FIXTURE_LEN));
        cases.push(("v2016", Some(level), None, small, small_input));
        cases.push(("v2016", Some(level), None, medium, FIXTURE_LEN));
        cases.push(("v2016", Some(level), None, large, FIXTURE_LEN));
    }
    for (level, seed) in [(1, 1), (1, 0x5eed_cafe_f00d_0001), (2, u64::MAX)] {
        cases.push(("v2020", Some(level), Some(seed), medium, FIXTURE_LEN));
    }
    cases.push(("v2016", Some(1), None, (1001, 4099, 16_411), FIXTURE_LEN));
    cases.push(("ronomon", None, None, small, small_input));
    cases.push(("ronomon", None, None, medium, FIXTURE_LEN));
    // attic's defaults.
    cases.push(("ronomon", None, None, large, FIXTURE_LEN));
    cases.push(("ronomon", None, None, (1001, 4099, 16_411), FIXTURE_LEN));
    cases
}

fn main() -> ExitCode {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/golden").into());
    let data = fixture();
    let fixture_blake3 = blake3::hash(&data).to_hex().to_string();
    let mut failed = false;
    for (algorithm, normalization, seed, sizes, input) in cases() {
        let variant = Variant::parse(algorithm, normalization.unwrap_or(1), seed.unwrap_or(0))
            .expect("a known variant");
        let bytes = &data[..input];
        let chunks = fastcdc_chunks(variant, bytes, sizes)
            .into_iter()
            .map(|(offset, length)| {
                let hash = blake3::hash(&bytes[offset..offset + length]);
                (offset as u64, length, hash.to_hex().to_string())
            })
            .collect();
        let vectors = Vectors {
            algorithm: algorithm.into(),
            normalization,
            seed,
            sizes,
            input,
            fixture_blake3: fixture_blake3.clone(),
            chunks,
        };
        let path = dir.join(vectors.file_name());
        let text = vectors.render();
        match std::fs::read_to_string(&path) {
            Ok(existing) if existing == text => {}
            Ok(_) => {
                eprintln!("{}: differs from what the crate gives now", path.display());
                failed = true;
            }
            Err(_) => {
                if let Err(e) = std::fs::write(&path, text) {
                    eprintln!("{}: {e}", path.display());
                    return ExitCode::from(1);
                }
                println!("wrote {}", path.display());
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
