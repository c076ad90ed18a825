//! Criterion benchmarks of the core against the raw crates it builds on.
//!
//! `cargo bench --bench chunking` runs everything; pass a filter to run a group:
//!
//! - `vs_reference`: 256 MiB of random data at 16K/64K/256K average chunk sizes with BLAKE3.
//!   `reference` is the `fastcdc` crate's `v2020::FastCDC` iterator followed by
//!   `blake3::hash` of each chunk, sequentially on one core; `chunk_slice` and `incremental`
//!   (fed in pieces of 1, 4 and 16 MiB: what each piece costs beyond its bytes, the seams of its
//!   parallel scan and a fork and join of the pool, is why the NIF chunks large binaries in
//!   parts of several MiB on the pool between calls) are this crate. Ratios are reference
//!   time / our time.
//! - `parallel_hash`: hashing a batch of 16 KiB chunks sequentially vs on rayon's pool, for
//!   total sizes around `PARALLEL_HASH_MIN_BYTES`.
//!
//! - `matrix`: input sizes 1 KiB, 64 KiB, 1 MiB, 10 MiB, 100 MiB of four kinds of data
//!   (random, zeros, text-like, real files: `CHUNKER_REAL_DATA` or `../../tmp/otp.tar`, a tar
//!   of the OTP installation that `script/test` makes, repeated to the size), default sizes
//!   (16K/64K/256K) with BLAKE3: `reference` as above against `chunk_slice`.
//! - `hash_many`: 1,024 items of 1 KiB, 64 KiB and 1 MiB hashed one after the other with the
//!   `blake3` crate against `HashAlgorithm::hash_many` on rayon's pool.
//!
//! - `v2020_l1`: the cut-point scan alone (no hashing), 64 MiB of random and of text-like
//!   data at 4K and 16K averages: `crate` is `fastcdc::v2020::FastCDC` on one core, `scan` is
//!   `chunk_slice_sequential` (one core), `parallel` is `cut_points` (the pool). Kept apart
//!   from `variants` so that before/after runs of the default variant use the same code.
//!
//! - `variants`: the same three for every other variant (v2020 levels 0, 2, 3 and a seed,
//!   v2016 levels 0, 1, 3, ronomon), 64 MiB of random and text-like data at 16K average:
//!   `crate` is the `fastcdc` crate's own implementation of that variant.
//!
//! - `one_core`: the cut-point scan alone on one core, 256 MiB of random data and of real
//!   files (`CHUNKER_REAL_DATA`, as `matrix`) at 16K/64K/256K and 256K/1M/4M: `crate` is
//!   `fastcdc::v2020::FastCDC`, `scan` is `chunk_slice_sequential` with the cut engine in
//!   use (its name in the row; `CHUNKER_CUT_ENGINE=scalar` or `interleaved` forces one).
//!
//! Set `CHUNKER_BENCH_MIB` to change the 256 MiB input size of `vs_reference` and `one_core`.

use std::hint::black_box;
use std::time::Duration;

use chunker_core::{
    chunk_slice, chunk_slice_sequential, cut_engine, cut_points, Algorithm, ChunkerConfig,
    HashAlgorithm, IncrementalChunker, Normalization,
};
use chunker_testdata::oracle::{fastcdc_chunks, Variant};
use chunker_testdata::{random_bytes, text_bytes};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;

fn input_mib() -> usize {
    std::env::var("CHUNKER_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn reference(data: &[u8], min: usize, avg: usize, max: usize) -> usize {
    let mut n = 0;
    for chunk in fastcdc::v2020::FastCDC::new(data, min, avg, max) {
        let digest = blake3::hash(&data[chunk.offset..chunk.offset + chunk.length]);
        n += digest.as_bytes()[0] as usize;
    }
    n
}

fn vs_reference(c: &mut Criterion) {
    let data = random_bytes(input_mib() << 20, 1);
    let mut group = c.benchmark_group("vs_reference");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Bytes(data.len() as u64));
    for avg in [16_384usize, 65_536, 262_144] {
        let (min, max) = (avg / 4, avg * 4);
        let config = ChunkerConfig::new(min, avg, max).unwrap();
        let label = format!("{}K", avg / 1024);
        group.bench_with_input(BenchmarkId::new("reference", &label), &data, |b, d| {
            b.iter(|| reference(black_box(d), min, avg, max))
        });
        group.bench_with_input(BenchmarkId::new("chunk_slice", &label), &data, |b, d| {
            b.iter(|| chunk_slice(black_box(d), &config, Some(HashAlgorithm::Blake3)).len())
        });
        for piece_mib in [1, 4, 16] {
            let id = BenchmarkId::new(format!("incremental_{piece_mib}MiB"), &label);
            group.bench_with_input(id, &data, |b, d| {
                b.iter(|| {
                    let mut chunker =
                        IncrementalChunker::new(config.clone(), Some(HashAlgorithm::Blake3));
                    let mut n = 0;
                    for piece in black_box(d).chunks(piece_mib << 20) {
                        n += chunker.feed(piece).unwrap().len();
                    }
                    n + chunker.finish().unwrap().len()
                })
            });
        }
    }
    group.finish();
}

/// 64 MiB each of random and text-like bytes, the inputs of the scan-only groups.
fn scan_inputs() -> [(&'static str, Vec<u8>); 2] {
    [
        ("random", random_bytes(64 << 20, 7)),
        ("text", text_bytes(64 << 20, 7)),
    ]
}

fn v2020_l1(c: &mut Criterion) {
    let mut group = c.benchmark_group("v2020_l1");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    for (kind, data) in scan_inputs() {
        group.throughput(Throughput::Bytes(data.len() as u64));
        for avg in [4_096usize, 16_384] {
            let (min, max) = (avg / 4, avg * 4);
            let config = ChunkerConfig::new(min, avg, max).unwrap();
            let label = format!("{kind}/{}K", avg / 1024);
            group.bench_with_input(BenchmarkId::new("crate", &label), &data, |b, d| {
                b.iter(|| fastcdc::v2020::FastCDC::new(black_box(d), min, avg, max).count())
            });
            group.bench_with_input(BenchmarkId::new("scan", &label), &data, |b, d| {
                b.iter(|| chunk_slice_sequential(black_box(d), &config, None).len())
            });
            group.bench_with_input(BenchmarkId::new("parallel", &label), &data, |b, d| {
                b.iter(|| cut_points(black_box(d), &config).len())
            });
        }
    }
    group.finish();
}

fn variants(c: &mut Criterion) {
    let mut group = c.benchmark_group("variants");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    let level = |n| Normalization::from_level(n).unwrap();
    let variants = [
        (
            "v2020-l0",
            ChunkerConfig::builder(Algorithm::V2020).normalization(level(0)),
        ),
        (
            "v2020-l2",
            ChunkerConfig::builder(Algorithm::V2020).normalization(level(2)),
        ),
        (
            "v2020-l3",
            ChunkerConfig::builder(Algorithm::V2020).normalization(level(3)),
        ),
        (
            "v2020-seeded",
            ChunkerConfig::builder(Algorithm::V2020).seed(0x5eed),
        ),
        (
            "v2016-l0",
            ChunkerConfig::builder(Algorithm::V2016).normalization(level(0)),
        ),
        ("v2016-l1", ChunkerConfig::builder(Algorithm::V2016)),
        (
            "v2016-l3",
            ChunkerConfig::builder(Algorithm::V2016).normalization(level(3)),
        ),
        ("ronomon", ChunkerConfig::builder(Algorithm::Ronomon)),
    ];
    let (min, avg, max) = (4_096, 16_384, 65_536);
    for (kind, data) in scan_inputs() {
        group.throughput(Throughput::Bytes(data.len() as u64));
        for (name, builder) in &variants {
            let config = builder.clone().sizes(min, avg, max).build().unwrap();
            let variant = Variant::parse(
                config.algorithm().name(),
                config.normalization().level(),
                config.seed(),
            )
            .unwrap();
            let label = format!("{name}/{kind}/16K");
            let sizes = (min as usize, avg as usize, max as usize);
            group.bench_with_input(BenchmarkId::new("crate", &label), &data, |b, d| {
                b.iter(|| fastcdc_chunks(variant, black_box(d), sizes).len())
            });
            group.bench_with_input(BenchmarkId::new("scan", &label), &data, |b, d| {
                b.iter(|| chunk_slice_sequential(black_box(d), &config, None).len())
            });
            group.bench_with_input(BenchmarkId::new("parallel", &label), &data, |b, d| {
                b.iter(|| cut_points(black_box(d), &config).len())
            });
        }
    }
    group.finish();
}

fn parallel_hash(c: &mut Criterion) {
    let data = random_bytes(4 << 20, 1);
    let mut group = c.benchmark_group("parallel_hash");
    for total_kib in [32usize, 64, 128, 256, 512, 1024] {
        let pieces: Vec<&[u8]> = data[..total_kib * 1024].chunks(16_384).collect();
        group.throughput(Throughput::Bytes((total_kib * 1024) as u64));
        group.bench_with_input(
            BenchmarkId::new("sequential", total_kib),
            &pieces,
            |b, p| {
                b.iter(|| {
                    p.iter()
                        .map(|x| blake3::hash(x).as_bytes()[0] as usize)
                        .sum::<usize>()
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("rayon", total_kib), &pieces, |b, p| {
            b.iter(|| {
                p.par_iter()
                    .with_max_len(1)
                    .map(|x| blake3::hash(x).as_bytes()[0] as usize)
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

/// The real-data file repeated (or cut) to `len` bytes; `None` when there is no such file.
fn real_bytes(len: usize) -> Option<Vec<u8>> {
    let file = chunker_testdata::real_data()?;
    Some(file.iter().copied().cycle().take(len).collect())
}

fn one_core(c: &mut Criterion) {
    let len = input_mib() << 20;
    let mut kinds = vec![("random", random_bytes(len, 11))];
    if let Some(real) = real_bytes(len) {
        kinds.push(("real", real));
    }
    let engine = cut_engine().name();
    let mut group = c.benchmark_group("one_core");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(6));
    for (kind, data) in &kinds {
        group.throughput(Throughput::Bytes(data.len() as u64));
        for (min, avg, max) in [(16_384, 65_536, 262_144), (262_144, 1 << 20, 4 << 20)] {
            let config = ChunkerConfig::new(min, avg, max).unwrap();
            let label = format!("{kind}/{}K", avg / 1024);
            group.bench_with_input(BenchmarkId::new("crate", &label), data, |b, d| {
                b.iter(|| fastcdc::v2020::FastCDC::new(black_box(d), min, avg, max).count())
            });
            let name = format!("scan_{engine}");
            group.bench_with_input(BenchmarkId::new(name, &label), data, |b, d| {
                b.iter(|| chunk_slice_sequential(black_box(d), &config, None).len())
            });
        }
    }
    group.finish();
}

fn matrix(c: &mut Criterion) {
    let config = ChunkerConfig::default();
    let (min, avg, max) = (16_384, 65_536, 262_144);
    let largest = 100 << 20;
    let mut kinds = vec![
        ("random", random_bytes(largest, 1)),
        ("zeros", vec![0u8; largest]),
        ("text", text_bytes(largest, 1)),
    ];
    if let Some(real) = real_bytes(largest) {
        kinds.push(("otp_tar", real));
    }
    let mut group = c.benchmark_group("matrix");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for (kind, data) in &kinds {
        for (size_label, size) in [
            ("1K", 1usize << 10),
            ("64K", 64 << 10),
            ("1M", 1 << 20),
            ("10M", 10 << 20),
            ("100M", 100 << 20),
        ] {
            let input = &data[..size];
            let label = format!("{kind}/{size_label}");
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new("reference", &label), input, |b, d| {
                b.iter(|| reference(black_box(d), min, avg, max))
            });
            group.bench_with_input(BenchmarkId::new("chunk_slice", &label), input, |b, d| {
                b.iter(|| chunk_slice(black_box(d), &config, Some(HashAlgorithm::Blake3)).len())
            });
        }
    }
    group.finish();
}

fn hash_many(c: &mut Criterion) {
    let data = random_bytes(64 << 20, 1);
    let mut group = c.benchmark_group("hash_many");
    group.sample_size(10);
    for item in [1usize << 10, 64 << 10, 1 << 20] {
        let count = (data.len() / item).min(1024);
        let items: Vec<&[u8]> = data.chunks(item).take(count).collect();
        let label = format!("{}K", item / 1024);
        group.throughput(Throughput::Bytes((item * count) as u64));
        group.bench_with_input(
            BenchmarkId::new("blake3_one_core", &label),
            &items,
            |b, i| {
                b.iter(|| {
                    i.iter()
                        .map(|x| blake3::hash(x).as_bytes()[0] as usize)
                        .sum::<usize>()
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("hash_many", &label), &items, |b, i| {
            b.iter(|| HashAlgorithm::Blake3.hash_many(black_box(i)).len())
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    vs_reference,
    v2020_l1,
    variants,
    parallel_hash,
    matrix,
    hash_many,
    one_core
);
criterion_main!(benches);
