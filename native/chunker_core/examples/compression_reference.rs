//! The reference the Elixir compression benchmark (`bench/compression.exs`) divides by: each
//! compression crate called directly through its own API, on one core, over a file held in
//! memory. Prints `format compress_seconds decompress_seconds compressed_bytes` per format,
//! each the best of `REPEATS` runs.
//!
//!     cargo run --release --example compression_reference -- FILE REPEATS
//!
//! zstd: zstd-safe `CCtx::compress2` (level 3, checksum on) and `DCtx::decompress_stream`
//! into an exact buffer; LZ4: lz4_flex's `frame::FrameEncoder` / `FrameDecoder` (4 MiB
//! independent blocks, content checksum); xz: liblzma's `read::XzEncoder` (preset 6) /
//! `XzDecoder`; bzip2: bzip2's `read::BzEncoder` (level 9) / `BzDecoder`.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

fn best<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed().as_secs_f64());
        last = Some(value);
    }
    (best, last.expect("at least one run"))
}

fn zstd(data: &[u8], repeats: usize) -> (f64, f64, usize) {
    let mut cctx = zstd_safe::CCtx::create();
    cctx.set_parameter(zstd_safe::CParameter::CompressionLevel(3))
        .unwrap();
    cctx.set_parameter(zstd_safe::CParameter::ChecksumFlag(true))
        .unwrap();
    let (c, packed) = best(repeats, || {
        let mut out = vec![0u8; zstd_safe::compress_bound(data.len())];
        let n = cctx.compress2(&mut out[..], data).unwrap();
        out.truncate(n);
        out
    });
    let mut dctx = zstd_safe::DCtx::create();
    let (d, _) = best(repeats, || {
        let mut out = vec![0u8; data.len()];
        let mut outb = zstd_safe::OutBuffer::around(&mut out[..]);
        let mut inb = zstd_safe::InBuffer::around(&packed[..]);
        dctx.decompress_stream(&mut outb, &mut inb).unwrap();
        out
    });
    (c, d, packed.len())
}

fn lz4(data: &[u8], repeats: usize) -> (f64, f64, usize) {
    use lz4_flex::frame::{BlockSize, FrameDecoder, FrameEncoder, FrameInfo};
    let info = FrameInfo::new()
        .block_size(BlockSize::Max4MB)
        .content_checksum(true);
    let (c, packed) = best(repeats, || {
        let mut encoder = FrameEncoder::with_frame_info(info.clone(), Vec::new());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    });
    let (d, _) = best(repeats, || {
        let mut out = Vec::with_capacity(data.len());
        FrameDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    });
    (c, d, packed.len())
}

fn xz(data: &[u8], repeats: usize) -> (f64, f64, usize) {
    let (c, packed) = best(repeats, || {
        let mut out = Vec::new();
        liblzma::read::XzEncoder::new(data, 6)
            .read_to_end(&mut out)
            .unwrap();
        out
    });
    let (d, _) = best(repeats, || {
        let mut out = Vec::with_capacity(data.len());
        liblzma::read::XzDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    });
    (c, d, packed.len())
}

fn bzip2(data: &[u8], repeats: usize) -> (f64, f64, usize) {
    let (c, packed) = best(repeats, || {
        let mut out = Vec::new();
        bzip2::read::BzEncoder::new(data, bzip2::Compression::new(9))
            .read_to_end(&mut out)
            .unwrap();
        out
    });
    let (d, _) = best(repeats, || {
        let mut out = Vec::with_capacity(data.len());
        bzip2::read::BzDecoder::new(&packed[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    });
    (c, d, packed.len())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, repeats, formats @ ..] = args.as_slice() else {
        eprintln!("usage: compression_reference FILE REPEATS [FORMAT...]");
        return ExitCode::from(2);
    };
    let Ok(repeats) = repeats.parse::<usize>() else {
        eprintln!("REPEATS must be an integer");
        return ExitCode::from(2);
    };
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(1);
        }
    };
    let all = ["zstd", "lz4", "xz", "bzip2"];
    let wanted: Vec<&str> = if formats.is_empty() {
        all.to_vec()
    } else {
        formats.iter().map(String::as_str).collect()
    };
    for format in wanted {
        let (c, d, size) = match format {
            "zstd" => zstd(&data, repeats),
            "lz4" => lz4(&data, repeats),
            "xz" => xz(&data, repeats),
            "bzip2" => bzip2(&data, repeats),
            other => {
                eprintln!("unknown format {other}");
                return ExitCode::from(2);
            }
        };
        println!("{format} {c:.6} {d:.6} {size}");
    }
    ExitCode::SUCCESS
}
