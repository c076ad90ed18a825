//! Option validation: any three sizes are a configuration or an error; a valid one chunks
//! data into chunks that respect its sizes and cover the data.
#![no_main]

use chunker_core::{chunk_slice, ChunkerConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((sizes, data)) = input.split_first_chunk::<24>() else {
        return;
    };
    let size = |i: usize| {
        let mut word = [0u8; 8];
        word.copy_from_slice(&sizes[i * 8..i * 8 + 8]);
        // Mostly small sizes, so that valid configurations are found.
        u64::from_le_bytes(word) % (1 << 26)
    };
    let Ok(config) = ChunkerConfig::from_u64(size(0), size(1), size(2)) else {
        return;
    };
    let chunks = chunk_slice(data, &config, None);
    let mut at = 0u64;
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.offset, at);
        assert!(chunk.length <= config.max_size());
        assert!(chunk.length >= config.min_size() || i + 1 == chunks.len());
        at += chunk.length as u64;
    }
    assert_eq!(at, data.len() as u64);
});
