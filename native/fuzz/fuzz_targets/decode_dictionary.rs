//! zstd frames and dictionaries: frames compressed with a dictionary and then damaged at one
//! byte, and arbitrary bytes, decoded with two dictionaries given (in two pieces and whole):
//! an error or output within the limit, the same both ways, never a panic or a crash. The
//! header of each frame is gathered to pick its dictionary, so cut headers, ids nobody gave
//! and ids of the wrong dictionary are all reached.
#![no_main]

use std::sync::{Arc, OnceLock};

use chunker_core::compression::{
    compress_with, train_dictionary, Decoder, Dictionary, Format, VecSink, ZstdOptions,
};
use chunker_testdata::text_bytes;
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 16 << 20;

fn dictionaries() -> &'static [Arc<Dictionary>; 2] {
    static DICTIONARIES: OnceLock<[Arc<Dictionary>; 2]> = OnceLock::new();
    DICTIONARIES.get_or_init(|| {
        [0u64, 1000].map(|first| {
            let samples: Vec<Vec<u8>> = (first..first + 100)
                .map(|seed| text_bytes(2048, seed))
                .collect();
            let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
            let bytes = train_dictionary(&refs, 8192).expect("trains");
            Arc::new(Dictionary::new(&bytes).expect("loads"))
        })
    })
}

fn decode(data: &[u8], split: usize) -> Result<Vec<u8>, String> {
    let mut decoder = Decoder::detecting(LIMIT).with_dictionaries(dictionaries().to_vec());
    let mut out = Vec::new();
    let (first, second) = data.split_at(split.min(data.len()));
    let result = (|| {
        let mut sink = VecSink::new(&mut out);
        for piece in [first, second] {
            let mut rest = piece;
            loop {
                let step = decoder.decode(rest, &mut sink, 4096)?;
                rest = rest.get(step.consumed..).unwrap_or_default();
                if rest.is_empty() && !step.pending {
                    break;
                }
            }
        }
        decoder.finish(&mut sink)
    })();
    result
        .map(|()| out)
        .map_err(|error| error.reason().to_owned())
}

fuzz_target!(|input: &[u8]| {
    let [selector, split, at, data @ ..] = input else {
        return;
    };
    let bytes = if selector & 1 == 1 {
        let options = ZstdOptions {
            dictionary: Some(Arc::clone(&dictionaries()[usize::from(selector & 2 != 0)])),
            ..ZstdOptions::default()
        };
        let mut frame = Vec::new();
        if compress_with(
            data,
            Format::Zstd,
            None,
            &options,
            &mut VecSink::new(&mut frame),
        )
        .is_err()
        {
            return;
        }
        if selector & 4 != 0 && !frame.is_empty() {
            let at = usize::from(*at) % frame.len();
            frame[at] ^= selector | 1;
        } else {
            let out = decode(&frame, usize::from(*split));
            assert_eq!(
                out.as_deref(),
                Ok(data),
                "an undamaged frame decodes to its input"
            );
        }
        frame
    } else {
        data.to_vec()
    };
    let pieces = decode(&bytes, usize::from(*split));
    let whole = decode(&bytes, bytes.len());
    assert_eq!(pieces.is_ok(), whole.is_ok(), "{pieces:?} / {whole:?}");
    if let (Ok(pieces), Ok(whole)) = (&pieces, &whole) {
        assert!(pieces.len() as u64 <= LIMIT);
        assert_eq!(pieces, whole);
    }
});
