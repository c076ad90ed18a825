//! Streaming decompression of each format, and with the format detected, the input fed in two
//! pieces and output drawn in small budgets: the result must agree with one-shot decompression
//! of the same bytes.
#![no_main]

use chunker_core::compression::{decompress, Decoder, Format, VecSink};
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 16 << 20;

fuzz_target!(|input: &[u8]| {
    let [selector, split, data @ ..] = input else {
        return;
    };
    let format = match selector % 5 {
        0 => Some(Format::Zstd),
        1 => Some(Format::Lz4),
        2 => Some(Format::Xz),
        3 => Some(Format::Bzip2),
        _ => None,
    };
    let split = usize::from(*split).min(data.len());
    let (first, second) = data.split_at(split);
    let mut decoder = match format {
        Some(format) => Decoder::new(format, LIMIT),
        None => Decoder::detecting(LIMIT),
    };
    let mut out = Vec::new();
    let streamed = (|| {
        let mut sink = VecSink::new(&mut out);
        for piece in [first, second] {
            let mut rest = piece;
            loop {
                let step = decoder.decode(rest, &mut sink, 4096)?;
                assert!(
                    step.consumed > 0 || step.pending || rest.is_empty(),
                    "a decode call made no progress"
                );
                rest = rest.get(step.consumed..).unwrap_or_default();
                if rest.is_empty() && !step.pending {
                    break;
                }
            }
        }
        decoder.finish(&mut sink)
    })();
    let one_shot = decompress(data, format, LIMIT);
    match (streamed, one_shot) {
        (Ok(()), Ok(whole)) => assert_eq!(out, whole),
        (Ok(()), Err(error)) => panic!("stream accepted what one-shot refused: {error}"),
        (Err(_), Ok(_)) => panic!("one-shot accepted what the stream refused"),
        (Err(_), Err(_)) => {}
    }
});
