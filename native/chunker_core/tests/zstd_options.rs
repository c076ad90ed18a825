//! zstd's options beyond the level: dictionaries (trained, loaded, picked by a frame's id),
//! worker threads and long-distance matching. Interop with the `zstd` CLI (`-D`, `--train`,
//! `-T`, `--long`) is tested from ExUnit, where CI installs it.

use std::sync::Arc;

use chunker_core::compression::{
    compress, compress_many_with, compress_with, decompress, train_dictionary, CompressionError,
    Decoder, Dictionary, Encoder, Format, Level, VecSink, ZstdOptions,
};
use chunker_testdata::{random_bytes, text_bytes};

mod decoding;

/// 4 KiB pieces of text-like data (the kind a dictionary helps with), from seeds.
fn pieces(seeds: std::ops::Range<u64>) -> Vec<Vec<u8>> {
    seeds.map(|seed| text_bytes(4096, seed)).collect()
}

fn dictionary(seeds: std::ops::Range<u64>, size: usize) -> Arc<Dictionary> {
    let samples = pieces(seeds);
    let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
    Arc::new(Dictionary::new(&train_dictionary(&refs, size).unwrap()).unwrap())
}

fn with(dictionary: &Arc<Dictionary>) -> ZstdOptions {
    ZstdOptions {
        dictionary: Some(Arc::clone(dictionary)),
        ..ZstdOptions::default()
    }
}

fn compress_opts(data: &[u8], level: Option<i64>, options: &ZstdOptions) -> Vec<u8> {
    let level = level.map(|value| Level::new(Format::Zstd, value).unwrap());
    let mut out = Vec::new();
    compress_with(
        data,
        Format::Zstd,
        level,
        options,
        &mut VecSink::new(&mut out),
    )
    .unwrap();
    out
}

/// Decodes `packed` in pieces of `piece` bytes with `dictionaries`.
fn decode(
    packed: &[u8],
    dictionaries: &[Arc<Dictionary>],
    piece: usize,
) -> Result<Vec<u8>, CompressionError> {
    let decoder = Decoder::detecting(1 << 30).with_dictionaries(dictionaries.to_vec());
    decoding::decode_with(decoder, packed, piece, 1 << 16)
}

#[test]
fn a_dictionary_makes_small_pieces_smaller_and_round_trips_in_any_pieces() {
    let dict = dictionary(0..300, 32 * 1024);
    let (mut plain, mut with_dict) = (0, 0);
    for data in pieces(1000..1020) {
        let framed = compress_opts(&data, None, &with(&dict));
        plain += compress(&data, Format::Zstd, None).unwrap().len();
        with_dict += framed.len();
        assert_eq!(
            zstd_safe::get_dict_id_from_frame(&framed).map(|id| id.get()),
            Some(dict.id())
        );
        for piece in [1, 2, 5, 7, 64, usize::MAX] {
            assert_eq!(decode(&framed, &[Arc::clone(&dict)], piece).unwrap(), data);
        }
    }
    assert!(
        with_dict * 10 < plain * 9,
        "with a dictionary {with_dict} bytes, without {plain}"
    );
}

#[test]
fn frames_pick_their_dictionary_by_id_among_several_and_none() {
    let a = dictionary(0..100, 8 * 1024);
    let b = dictionary(500..600, 8 * 1024);
    assert_ne!(a.id(), b.id());
    let data = pieces(2000..2003);
    // Frames with a, with none and with b, one after the other.
    let mut stream = compress_opts(&data[0], Some(5), &with(&a));
    stream.extend(compress(&data[1], Format::Zstd, None).unwrap());
    stream.extend(compress_opts(&data[2], Some(1), &with(&b)));
    let want = data.concat();
    for piece in [1, 3, 4096, usize::MAX] {
        let both = [Arc::clone(&b), Arc::clone(&a)];
        assert_eq!(decode(&stream, &both, piece).unwrap(), want);
    }
    assert_eq!(
        decode(&stream, &[], 100).unwrap_err(),
        CompressionError::DictionaryRequired { id: a.id() }
    );
    assert_eq!(
        decode(&stream, &[Arc::clone(&a)], 100).unwrap_err(),
        CompressionError::UnknownDictionary { id: b.id() }
    );
    // Plain decompression names the dictionary too.
    assert_eq!(
        decompress(&stream, None, 1 << 20).unwrap_err().reason(),
        "dictionary_required"
    );
}

#[test]
fn streaming_encoders_and_batches_use_the_dictionary() {
    let dict = dictionary(0..100, 8 * 1024);
    let data = text_bytes(300_000, 9);
    let mut out = Vec::new();
    let mut sink = VecSink::new(&mut out);
    let mut encoder = Encoder::with_options(Format::Zstd, None, None, &with(&dict)).unwrap();
    for piece in data.chunks(10_000) {
        encoder.update(piece, &mut sink).unwrap();
    }
    encoder.finish(&mut sink).unwrap();
    sink.finish();
    assert_eq!(decode(&out, &[Arc::clone(&dict)], 777).unwrap(), data);

    let items = pieces(3000..3050);
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let mut outputs = vec![Vec::new(); refs.len()];
    let mut sinks: Vec<VecSink<'_>> = outputs.iter_mut().map(VecSink::new).collect();
    let results = compress_many_with(&refs, &mut sinks, Format::Zstd, None, &with(&dict));
    drop(sinks);
    assert!(results.iter().all(Result::is_ok));
    for (frame, item) in outputs.iter().zip(&items) {
        assert_eq!(
            &decode(frame, &[Arc::clone(&dict)], usize::MAX).unwrap(),
            item
        );
    }
}

#[test]
fn other_formats_refuse_zstd_options() {
    let dict = dictionary(0..20, 4096);
    for format in [Format::Lz4, Format::Xz, Format::Bzip2] {
        for options in [
            with(&dict),
            ZstdOptions {
                workers: 2,
                ..ZstdOptions::default()
            },
            ZstdOptions {
                long: true,
                ..ZstdOptions::default()
            },
        ] {
            let mut out = Vec::new();
            let error = compress_with(b"x", format, None, &options, &mut VecSink::new(&mut out))
                .unwrap_err();
            assert_eq!(error.reason(), "invalid_options", "{format}");
            assert!(Encoder::with_options(format, None, None, &options).is_err());
        }
    }
}

#[test]
fn workers_and_long_windows_write_frames_any_decoder_reads() {
    // Large enough for zstd to cut jobs (its minimum job is 512 KiB at these levels).
    let mut data = text_bytes(6 << 20, 4);
    data.extend_from_slice(&random_bytes(1 << 20, 5));
    data.extend_from_within(..2 << 20);
    for options in [
        ZstdOptions {
            workers: 2,
            ..ZstdOptions::default()
        },
        ZstdOptions {
            long: true,
            ..ZstdOptions::default()
        },
        ZstdOptions {
            workers: 2,
            long: true,
            ..ZstdOptions::default()
        },
    ] {
        let whole = compress_opts(&data, Some(3), &options);
        assert_eq!(
            decompress(&whole, None, 1 << 30).unwrap(),
            data,
            "{options:?}"
        );
        let mut out = Vec::new();
        let mut sink = VecSink::new(&mut out);
        let size = Some(data.len() as u64);
        let mut encoder = Encoder::with_options(Format::Zstd, None, size, &options).unwrap();
        for piece in data.chunks(1 << 20) {
            encoder.update(piece, &mut sink).unwrap();
        }
        encoder.finish(&mut sink).unwrap();
        sink.finish();
        assert_eq!(decode(&out, &[], 65_536).unwrap(), data, "{options:?}");
    }
}

#[test]
fn dropping_an_encoder_with_workers_mid_frame_does_not_wait_for_its_jobs() {
    // Level 19 on 32 MiB: seconds of work queued for zstd's threads. Whoever drops the
    // encoder (the BEAM's garbage collector, on a scheduler) must not do or wait for it: a
    // thread of its own drains the jobs and frees the context.
    let data = random_bytes(32 << 20, 6);
    let options = ZstdOptions {
        workers: 2,
        ..ZstdOptions::default()
    };
    let level = Some(Level::new(Format::Zstd, 19).unwrap());
    let mut out = Vec::new();
    let mut sink = VecSink::new(&mut out);
    let mut encoder = Encoder::with_options(Format::Zstd, level, None, &options).unwrap();
    encoder.update(&data, &mut sink).unwrap();
    let started = std::time::Instant::now();
    drop(encoder);
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_millis(500),
        "drop took {took:?}"
    );
}

#[test]
fn a_frame_header_cut_short_is_truncated() {
    let dict = dictionary(0..20, 4096);
    let framed = compress_opts(b"hello hello hello", None, &with(&dict));
    // From the magic number on (fewer bytes do not tell the format) to inside the header.
    for len in 4..8 {
        assert_eq!(
            decode(&framed[..len], &[Arc::clone(&dict)], 1).unwrap_err(),
            CompressionError::Truncated,
            "{len} bytes"
        );
    }
}
