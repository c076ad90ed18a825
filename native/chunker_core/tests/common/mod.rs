//! What more than one integration test needs: the `fastcdc` crate's boundaries for a
//! configuration of ours.

use chunker_core::ChunkerConfig;
use chunker_testdata::oracle::{fastcdc_chunks, Variant};

/// `(offset, length)` of every chunk the crate's implementation of `config`'s variant finds.
pub fn crate_spans(data: &[u8], config: &ChunkerConfig) -> Vec<(u64, usize)> {
    let variant = Variant::parse(
        config.algorithm().name(),
        config.normalization().level(),
        config.seed(),
    )
    .expect("every configuration is a variant of the crate");
    let sizes = (config.min_size(), config.avg_size(), config.max_size());
    fastcdc_chunks(variant, data, sizes)
        .into_iter()
        .map(|(offset, length)| (offset as u64, length))
        .collect()
}
