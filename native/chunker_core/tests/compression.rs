//! Round trips of every format through every API path, and the ways bad input must fail.
//! (Interop with the command-line tools is tested from ExUnit, where CI installs them.)

use chunker_core::compression::{
    compress, compress_many, decompress, decompress_many, CompressionError, Decoder, Detected,
    Encoder, Format, Level, VecSink,
};
use chunker_testdata::text_bytes as sample;
use proptest::prelude::*;

mod decoding;

/// Streams `data` through an encoder in pieces of `piece` bytes.
fn encode_in_pieces(data: &[u8], format: Format, piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sink = VecSink::new(&mut out);
    let mut encoder = Encoder::new(format, None).unwrap();
    for p in data.chunks(piece.max(1)) {
        encoder.update(p, &mut sink).unwrap();
    }
    encoder.finish(&mut sink).unwrap();
    sink.finish();
    out
}

/// Streams `packed` through a decoder in pieces, with a small output budget per call.
fn decode_in_pieces(
    packed: &[u8],
    format: Option<Format>,
    piece: usize,
    budget: usize,
    limit: u64,
) -> Result<Vec<u8>, CompressionError> {
    let decoder = match format {
        Some(format) => Decoder::new(format, limit),
        None => Decoder::detecting(limit),
    };
    decoding::decode_with(decoder, packed, piece, budget)
}

#[test]
fn every_format_round_trips_through_every_path() {
    for format in Format::ALL {
        for len in [0usize, 1, 100, 65_536, 300_001, 5_000_000] {
            let data = sample(len, len as u64 + 1);
            let packed = compress(&data, format, None).unwrap();
            assert_eq!(
                decompress(&packed, None, u64::MAX).unwrap(),
                data,
                "{format} {len}"
            );
            let streamed = encode_in_pieces(&data, format, 77_777);
            assert_eq!(decompress(&streamed, Some(format), u64::MAX).unwrap(), data);
            for (piece, budget) in [(1_000, 4_096), (1 << 20, 1 << 20), (13, 1)] {
                if piece == 13 && len > 100_000 {
                    continue;
                }
                for forced in [Some(format), None] {
                    let back = decode_in_pieces(&packed, forced, piece, budget, u64::MAX).unwrap();
                    assert_eq!(back, data, "{format} {len} piece {piece} budget {budget}");
                }
            }
        }
    }
}

#[test]
fn concatenated_frames_decode_to_the_concatenation() {
    for format in Format::ALL {
        let (a, b) = (sample(100_000, 1), sample(50_000, 2));
        let mut both = compress(&a, format, None).unwrap();
        both.extend(compress(&b, format, None).unwrap());
        let want = [a.clone(), b.clone()].concat();
        assert_eq!(decompress(&both, None, u64::MAX).unwrap(), want, "{format}");
        assert_eq!(
            decode_in_pieces(&both, Some(format), 999, 7_000, u64::MAX).unwrap(),
            want
        );
    }
}

#[test]
fn the_size_limit_is_exact() {
    for format in Format::ALL {
        let data = vec![0u8; 1_000_000];
        let packed = compress(&data, format, None).unwrap();
        assert_eq!(
            decompress(&packed, None, 1_000_000).unwrap().len(),
            1_000_000
        );
        assert_eq!(
            decompress(&packed, None, 999_999),
            Err(CompressionError::SizeExceeded { limit: 999_999 }),
            "{format}"
        );
        assert_eq!(
            decode_in_pieces(&packed, Some(format), 100, 5_000, 999_999),
            Err(CompressionError::SizeExceeded { limit: 999_999 }),
            "{format} streaming"
        );
        assert!(decode_in_pieces(&packed, Some(format), 100, 5_000, 1_000_000).is_ok());
    }
}

#[test]
fn a_bomb_stops_at_the_limit_without_growing_past_it() {
    for format in Format::ALL {
        let packed = compress(&vec![0u8; 64 << 20], format, None).unwrap();
        let mut out = Vec::new();
        let result = chunker_core::compression::decompress_into(&packed, None, 1 << 20, &mut out);
        assert_eq!(
            result,
            Err(CompressionError::SizeExceeded { limit: 1 << 20 }),
            "{format}"
        );
        // The buffer never grew much past the limit (one working buffer at most).
        assert!(
            out.capacity() <= (1 << 20) + (4 << 20) + 1,
            "{format}: {}",
            out.capacity()
        );
    }
}

#[test]
fn truncated_input_is_an_error_at_every_length() {
    for format in Format::ALL {
        let data = sample(200_000, 9);
        let packed = compress(&data, format, None).unwrap();
        let step = (packed.len() / 60).max(1);
        for cut in (0..packed.len()).step_by(step).chain([packed.len() - 1]) {
            let result = decompress(&packed[..cut], Some(format), u64::MAX);
            assert!(
                result.is_err(),
                "{format}: {cut} of {} bytes decoded",
                packed.len()
            );
        }
    }
}

#[test]
fn a_complete_frame_then_a_truncated_one_is_an_error() {
    for format in Format::ALL {
        let first = compress(&sample(30_000, 1), format, None).unwrap();
        let second = compress(&sample(200_000, 2), format, None).unwrap();
        let step = (second.len() / 40).max(1);
        for cut in (1..second.len()).step_by(step) {
            let input = [&first[..], &second[..cut]].concat();
            assert!(
                decompress(&input, None, u64::MAX).is_err(),
                "{format}: second frame cut at {cut} decoded"
            );
            assert!(decode_in_pieces(&input, Some(format), 4_096, 10_000, u64::MAX).is_err());
        }
    }
}

#[test]
fn trailing_garbage_is_an_error() {
    for format in Format::ALL {
        let mut packed = compress(&sample(10_000, 3), format, None).unwrap();
        packed.extend_from_slice(b"garbage after the frame");
        let error = decompress(&packed, None, u64::MAX).unwrap_err();
        assert!(
            matches!(
                error,
                CompressionError::TrailingData { .. } | CompressionError::Corrupt(_)
            ),
            "{format}: {error:?}"
        );
    }
}

#[test]
fn corrupt_and_foreign_data_are_errors() {
    for format in Format::ALL {
        let data = sample(100_000, 4);
        let mut packed = compress(&data, format, None).unwrap();
        let middle = packed.len() / 2;
        packed[middle] ^= 0x55;
        assert!(
            decompress(&packed, None, u64::MAX).is_err(),
            "{format} flipped byte"
        );
        for other in Format::ALL.into_iter().filter(|&f| f != format) {
            let foreign = compress(&data, other, None).unwrap();
            let error = decompress(&foreign, Some(format), u64::MAX).unwrap_err();
            assert_eq!(
                error,
                CompressionError::FormatMismatch {
                    expected: format,
                    found: Detected::Format(other),
                    offset: 0
                },
                "{other} as {format}"
            );
            assert_eq!(
                error.to_string(),
                format!("not {format} data: it is {other} (at offset 0)")
            );
        }
        assert!(
            decompress(b"", Some(format), u64::MAX).is_err(),
            "{format} empty"
        );
    }
    assert_eq!(
        decompress(b"just text", None, 10),
        Err(CompressionError::UnknownFormat)
    );
    assert!(matches!(
        decompress(b"\x1f\x8b\x08\x00\x00\x00", None, 10),
        Err(CompressionError::UnsupportedFormat(_))
    ));
}

#[test]
fn skippable_frames_in_front_are_passed_over_in_any_pieces() {
    // A skippable frame of 3 bytes, one of 300 000, then the frame: as zstd and lz4 write them.
    let mut skippable = vec![0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3];
    skippable.extend_from_slice(&[0x5F, 0x2A, 0x4D, 0x18]);
    skippable.extend_from_slice(&300_000u32.to_le_bytes());
    skippable.resize(skippable.len() + 300_000, 7);
    let data = sample(50_000, 6);
    for format in [Format::Zstd, Format::Lz4] {
        let mut packed = skippable.clone();
        packed.extend_from_slice(&compress(&data, format, None).unwrap());
        packed.extend_from_slice(b"junk");
        for piece in [1, 5, 9, 4096, packed.len()] {
            for forced in [Some(format), None] {
                assert_eq!(
                    decode_in_pieces(&packed, forced, piece, 4096, u64::MAX),
                    Err(CompressionError::TrailingData {
                        offset: packed.len() as u64 - 4
                    }),
                    "{format} piece {piece}"
                );
                let clean = &packed[..packed.len() - 4];
                assert_eq!(
                    decode_in_pieces(clean, forced, piece, 4096, u64::MAX).unwrap(),
                    data
                );
            }
        }
        // Skippable frames belong to zstd and LZ4; only skippable frames is no frame at all.
        assert_eq!(
            decompress(&skippable, None, u64::MAX),
            Err(CompressionError::UnknownFormat)
        );
        assert_eq!(
            decompress(&skippable, Some(format), u64::MAX),
            Err(CompressionError::Truncated)
        );
    }
    let mut xz = skippable.clone();
    xz.extend_from_slice(&compress(&data, Format::Xz, None).unwrap());
    assert!(matches!(
        decompress(&xz, None, u64::MAX),
        Err(CompressionError::Corrupt(_))
    ));
    let mut gzip = skippable;
    gzip.extend_from_slice(b"\x1f\x8b\x08\x00\x00\x00\x00\x00");
    assert_eq!(
        decompress(&gzip, Some(Format::Zstd), u64::MAX),
        Err(CompressionError::FormatMismatch {
            expected: Format::Zstd,
            found: Detected::Gzip,
            offset: 300_019
        })
    );
}

#[test]
fn levels_change_the_output_and_are_checked() {
    let data = sample(500_000, 5);
    let fast = compress(
        &data,
        Format::Zstd,
        Some(Level::new(Format::Zstd, -5).unwrap()),
    )
    .unwrap();
    let strong = compress(
        &data,
        Format::Zstd,
        Some(Level::new(Format::Zstd, 19).unwrap()),
    )
    .unwrap();
    assert!(strong.len() < fast.len());
    let xz_level = Level::new(Format::Xz, 1).unwrap();
    assert!(matches!(
        compress(&data, Format::Zstd, Some(xz_level)),
        Err(CompressionError::InvalidOptions(_))
    ));
}

#[test]
fn batches_keep_order_and_fail_per_item() {
    let items: Vec<Vec<u8>> = (0..40)
        .map(|i| sample(20_000 + i * 1000, i as u64))
        .collect();
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let packed: Vec<Vec<u8>> = compress_many(&refs, Format::Lz4, None)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut packed_refs: Vec<&[u8]> = packed.iter().map(Vec::as_slice).collect();
    packed_refs[7] = b"not compressed";
    let back = decompress_many(&packed_refs, None, u64::MAX);
    for (i, result) in back.iter().enumerate() {
        if i == 7 {
            assert_eq!(result, &Err(CompressionError::UnknownFormat));
        } else {
            assert_eq!(result.as_ref().unwrap(), &items[i]);
        }
    }
}

#[test]
fn a_declared_content_size_is_a_claim_not_an_allocation() {
    // A real 100 KB zstd frame whose 4-byte content size field is changed to claim ~4 GiB.
    let data = sample(100_000, 8);
    let mut packed = compress(&data, Format::Zstd, None).unwrap();
    assert_eq!(packed[4] >> 6, 2, "expected a 4-byte content size field");
    let field = 4 + 1 + usize::from(packed[4] & 0x20 == 0); // window descriptor unless single segment
    packed[field..field + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let mut out = Vec::new();
    let result = chunker_core::compression::decompress_into(&packed, None, u64::MAX, &mut out);
    assert!(result.is_err(), "{result:?}");
    // One-shot decoding reserves at most 64 times the input (at least 8 MiB), not the claim.
    assert!(
        out.capacity() <= Decoder::reservation_for(packed.len()) + (1 << 20),
        "{}",
        out.capacity()
    );
    // A stream reserves nothing.
    let mut out = Vec::new();
    let mut sink = VecSink::new(&mut out);
    let mut decoder = Decoder::new(Format::Zstd, u64::MAX);
    let _ = decoder.decode(&packed, &mut sink, 4096);
    drop(sink);
    assert!(out.capacity() < 1 << 20, "{}", out.capacity());
}

#[test]
fn input_that_produces_nothing_still_counts_against_the_budget() {
    // An LZ4 frame of 100,000 empty stored blocks, and 10,000 empty zstd frames.
    let mut lz4 = compress(b"", Format::Lz4, None).unwrap();
    let end = lz4.len() - 8;
    let tail = lz4.split_off(end);
    for _ in 0..100_000 {
        lz4.extend_from_slice(&0x8000_0000u32.to_le_bytes());
    }
    lz4.extend_from_slice(&tail);
    let empty_zstd = compress(b"", Format::Zstd, None).unwrap();
    let zstd = empty_zstd.repeat(10_000);
    for (format, input) in [(Format::Lz4, lz4), (Format::Zstd, zstd)] {
        let mut out = Vec::new();
        let mut sink = VecSink::new(&mut out);
        let mut decoder = Decoder::new(format, u64::MAX);
        let step = decoder.decode(&input, &mut sink, 10_000).unwrap();
        assert!(
            step.consumed < 20_000,
            "{format}: one call read {} bytes",
            step.consumed
        );
        assert!(
            decode_in_pieces(&input, Some(format), input.len(), 10_000, 10)
                .unwrap()
                .is_empty()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("CHUNKER_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(200)
    ))]

    #[test]
    fn any_input_round_trips_in_any_pieces(
        data in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..20_000),
            proptest::collection::vec(0u8..3, 0..60_000),
        ],
        format in prop_oneof![Just(Format::Zstd), Just(Format::Lz4), Just(Format::Xz), Just(Format::Bzip2)],
        piece in 1usize..5_000,
        budget in 1usize..100_000,
    ) {
        let packed = encode_in_pieces(&data, format, piece);
        prop_assert_eq!(&decompress(&packed, None, u64::MAX).unwrap(), &data);
        prop_assert_eq!(decode_in_pieces(&packed, Some(format), piece, budget, u64::MAX).unwrap(), data);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..2_000),
        format in prop_oneof![Just(Format::Zstd), Just(Format::Lz4), Just(Format::Xz), Just(Format::Bzip2)],
        prefix in any::<bool>(),
    ) {
        // With a valid magic in front the decoders get past the first check.
        let mut input = if prefix { compress(b"", format, None).unwrap()[..4].to_vec() } else { Vec::new() };
        input.extend_from_slice(&data);
        let _ = decompress(&input, Some(format), 1 << 20);
        let _ = decode_in_pieces(&input, Some(format), 7, 100, 1 << 20);
    }
}
