//! Criterion benchmarks of `chunker_core::compression` against each crate called directly.
//!
//!     cargo bench --bench compression
//!
//! Data: the file named by `CHUNKER_BENCH_DATA`, else `tmp/real-64MiB.bin` of the
//! repository (made by `bench/compression.exs`: 64 MiB of a tar of system files). zstd and
//! LZ4 run on all of it; xz and bzip2, which run at 2-16 MB/s, on its first 4 MiB.
//!
//! `ours/*` is this crate's one-shot API; `crate/*` the same codec through its own crate:
//! zstd-safe `compress2` / `decompress_stream`, lz4_flex's `frame` module, liblzma's and
//! bzip2's `read` encoders and decoders.

use std::hint::black_box;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use chunker_core::compression::{compress, decompress, Format};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn data() -> Vec<u8> {
    let path = std::env::var("CHUNKER_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tmp/real-64MiB.bin")
        });
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{path:?}: {e} (run `mix run bench/compression.exs` once to make it)")
    })
}

fn crate_compress(format: Format, data: &[u8]) -> Vec<u8> {
    match format {
        Format::Zstd => {
            let mut cctx = zstd_safe::CCtx::create();
            cctx.set_parameter(zstd_safe::CParameter::CompressionLevel(3))
                .unwrap();
            cctx.set_parameter(zstd_safe::CParameter::ChecksumFlag(true))
                .unwrap();
            let mut out = vec![0u8; zstd_safe::compress_bound(data.len())];
            let n = cctx.compress2(&mut out[..], data).unwrap();
            out.truncate(n);
            out
        }
        Format::Lz4 => {
            use lz4_flex::frame::{BlockSize, FrameEncoder, FrameInfo};
            let info = FrameInfo::new()
                .block_size(BlockSize::Max4MB)
                .content_checksum(true);
            let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        }
        Format::Xz => {
            let mut out = Vec::new();
            liblzma::read::XzEncoder::new(data, 6)
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        Format::Bzip2 => {
            let mut out = Vec::new();
            bzip2::read::BzEncoder::new(data, bzip2::Compression::new(9))
                .read_to_end(&mut out)
                .unwrap();
            out
        }
    }
}

fn crate_decompress(format: Format, packed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    match format {
        Format::Zstd => {
            out.resize(len, 0);
            let mut dctx = zstd_safe::DCtx::create();
            let mut outb = zstd_safe::OutBuffer::around(&mut out[..]);
            let mut inb = zstd_safe::InBuffer::around(packed);
            dctx.decompress_stream(&mut outb, &mut inb).unwrap();
        }
        Format::Lz4 => {
            lz4_flex::frame::FrameDecoder::new(packed)
                .read_to_end(&mut out)
                .unwrap();
        }
        Format::Xz => {
            liblzma::read::XzDecoder::new(packed)
                .read_to_end(&mut out)
                .unwrap();
        }
        Format::Bzip2 => {
            bzip2::read::BzDecoder::new(packed)
                .read_to_end(&mut out)
                .unwrap();
        }
    }
    out
}

fn codecs(c: &mut Criterion) {
    let all = data();
    for format in Format::ALL {
        let data = match format {
            Format::Zstd | Format::Lz4 => &all[..],
            Format::Xz | Format::Bzip2 => &all[..all.len().min(4 << 20)],
        };
        let mut group = c.benchmark_group(format.name());
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(if data.len() > 8 << 20 {
            5
        } else {
            15
        }));
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(BenchmarkId::new("compress", "crate"), |b| {
            b.iter(|| crate_compress(format, black_box(data)))
        });
        group.bench_function(BenchmarkId::new("compress", "ours"), |b| {
            b.iter(|| compress(black_box(data), format, None).unwrap())
        });
        let packed = compress(data, format, None).unwrap();
        group.bench_function(BenchmarkId::new("decompress", "crate"), |b| {
            b.iter(|| crate_decompress(format, black_box(&packed), data.len()))
        });
        group.bench_function(BenchmarkId::new("decompress", "ours"), |b| {
            b.iter(|| decompress(black_box(&packed), None, u64::MAX).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);
