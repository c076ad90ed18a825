//! Why the cut engine has no SIMD path: a measurement of the most promising one, not a kept
//! engine.
//!
//! FastCDC's gear hash is `h = (h << 1) + GEAR[byte]`, and a position cuts when `h & mask`
//! is zero. A SIMD scan cannot look up a 64-bit table per byte cheaply (an 8-lane gather
//! costs about 10 cycles here), so its cheapest exact form is a *filter*: the low 32 bits of
//! the hash depend only on the low 32 bits of the table, and a position whose low 32 bits
//! miss the mask's low bits cannot cut. This example runs that filter with AVX-512 (VBMI):
//! sixteen segments of the input, one per 32-bit lane; for every 16 bytes of each segment,
//! the table's four byte planes are looked up with `vpermi2b` (two lookups and a blend per
//! plane, 64 bytes at a time), unpacked into one 32-bit table value per lane and step, and
//! each lane's hash rolls and is tested for all sixteen lanes at once.
//!
//! The filter alone is an upper bound on any engine built on it: an engine would still test
//! every candidate exactly (its 64-bit hash, from the 48 bytes before it), apply min_size,
//! the switch of mask at avg_size and max_size, and restart lanes at cuts. The example prints
//! the filter's time next to the `fastcdc` crate's complete v2020 scan and this crate's
//! (whichever cut engine is in use), measured in the same run, and how many candidates the
//! filter lets through for each of the two masks of the chunk size: each needs that exact
//! test.
//!
//!   cargo run --release -p chunker_core --features simd-lab --example simd_filter [MIB] [AVG_SIZE]
//!
//! (The feature only builds this example: its AVX-512 intrinsics need Rust 1.89, above the
//! crate's minimum.) MIB (default 256) MiB of random data; AVG_SIZE (default 65536) with
//! min avg/4, max avg*4.
//!
//! The filter's time includes counting the candidates (an engine would stop at the first
//! one and test it exactly, which costs more). On this project's 2-vCPU AMD EPYC (Zen 4,
//! whose AVX-512 runs 512-bit operations as two 256-bit halves), 2026-12-07, 256 MiB (two
//! runs at 64 KiB, one at 1 MiB):
//!
//! | sizes | crate | interleaved engine | filter, first mask | filter, second mask |
//! |---|---|---|---|---|
//! | 16K/64K/256K | 90.8-91.2 ms | 1.10-1.11x | 1.24x (1 in 513 passes) | 0.69-0.70x (1 in 64) |
//! | 256K/1M/4M | 89.4 ms | 1.10x | 1.49x (1 in 4,103) | 1.36x (1 in 1,027) |
//!
//! (ratios: the crate's time over each one's). The filter alone does not reach 1.5x the
//! crate's complete scan, and at 64 KiB chunks the second mask, whose low 32 bits hold only
//! six of its fifteen bits, lets through a candidate every 64 bytes. With the exact tests and
//! the chunk logic added, an engine on this filter would land near the scalar interleaved
//! engine, so none is kept. CPUs with full-width AVX-512 may differ; the example measures
//! them the same way.

// Rust 1.89 or later: the feature `simd-lab` keeps this file out of builds for older ones.
#![allow(clippy::incompatible_msrv)]

use std::time::{Duration, Instant};

use chunker_core::{chunk_slice_sequential, cut_engine, ChunkerConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let avg: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(65_536);
    let (min, max) = (avg / 4, avg * 4);
    let data = random_bytes(mib << 20);
    let Ok(config) = ChunkerConfig::new(min, avg, max) else {
        eprintln!("{min}/{avg}/{max} is not a valid chunk size set");
        return;
    };
    let (gear, _) = fastcdc::v2020::get_gear_with_seed(0);
    let (mask_s, mask_l) = fastcdc::v2020::select_masks(avg, fastcdc::v2020::Normalization::Level1);

    let crate_time = best(|| fastcdc::v2020::FastCDC::new(&data, min, avg, max).count());
    let ours_time = best(|| chunk_slice_sequential(&data, &config, None).len());
    let size = data.len() as f64;
    let mbps = |time: Duration| size / time.as_secs_f64() / 1e6;
    println!(
        "{mib} MiB of random data, {min}/{avg}/{max}\n\
         fastcdc crate, complete v2020 scan: {:7.1} ms ({:5.0} MB/s)\n\
         chunker, {:11} engine:       {:7.1} ms ({:5.0} MB/s, {:.2}x the crate)",
        ms(crate_time),
        mbps(crate_time),
        cut_engine().name(),
        ms(ours_time),
        mbps(ours_time),
        ratio(crate_time, ours_time),
    );

    for (name, mask) in [("first", mask_s), ("second", mask_l)] {
        // The low 32 bits of the mask are what the filter can test.
        let low = mask as u32;
        let expected = scalar_candidates(&data, &gear, low);
        match filter::candidates(&data, &gear, low) {
            None => {
                println!("AVX-512 VBMI filter: not available on this CPU");
                return;
            }
            Some(count) if count != expected => {
                println!("AVX-512 VBMI filter: {count} candidates, the scalar count {expected}");
                std::process::exit(1);
            }
            Some(count) => {
                let time = best(|| filter::candidates(&data, &gear, low));
                println!(
                    "AVX-512 VBMI filter alone, {name} mask ({} of {} bits low): \
                     {:7.1} ms ({:5.0} MB/s, {:.2}x the crate); one position in {:.0} passes",
                    low.count_ones(),
                    mask.count_ones(),
                    ms(time),
                    mbps(time),
                    ratio(crate_time, time),
                    size / count.max(1) as f64,
                );
            }
        }
    }
}

/// The fastest of five runs of `f`.
fn best<T>(mut f: impl FnMut() -> T) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn ms(time: Duration) -> f64 {
    time.as_secs_f64() * 1e3
}

fn ratio(reference: Duration, ours: Duration) -> f64 {
    reference.as_secs_f64() / ours.as_secs_f64()
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// What the filter counts, the plain way: the input as sixteen segments, the low 32 bits of
/// each one's gear hash, and the positions where they miss `mask`.
fn scalar_candidates(data: &[u8], gear: &[u64], mask: u32) -> u64 {
    let segment = data.len() / 16 / 16 * 16;
    data.chunks_exact(segment.max(1))
        .take(16)
        .map(|bytes| {
            let mut hash = 0u32;
            bytes
                .iter()
                .filter(|&&byte| {
                    let value = gear.get(usize::from(byte)).copied().unwrap_or(0) as u32;
                    hash = (hash << 1).wrapping_add(value);
                    hash & mask == 0
                })
                .count() as u64
        })
        .sum()
}

#[cfg(not(target_arch = "x86_64"))]
mod filter {
    pub fn candidates(_data: &[u8], _gear: &[u64], _mask: u32) -> Option<u64> {
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod filter {
    use std::arch::x86_64::*;

    /// Positions whose 32-bit gear hash misses `mask`, over sixteen segments of `data` (as
    /// [`super::scalar_candidates`]), or `None` without AVX-512 VBMI.
    pub fn candidates(data: &[u8], gear: &[u64], mask: u32) -> Option<u64> {
        let available = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi");
        if !available || gear.len() != 256 {
            return None;
        }
        // SAFETY: the CPU has every feature `scan` is compiled with (checked just above).
        Some(unsafe { scan(data, gear, mask) })
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn scan(data: &[u8], gear: &[u64], mask: u32) -> u64 {
        let segment = data.len() / 16 / 16 * 16;
        let segments: Vec<&[u8]> = data.chunks_exact(segment.max(1)).take(16).collect();
        if segments.len() < 16 {
            return 0;
        }
        // Byte plane p of the table, a quarter (64 entries) per register: tables[4p + q].
        let mut planes = [[0u8; 64]; 16];
        for (entry, value) in gear.iter().enumerate() {
            for (plane, byte) in value.to_le_bytes().iter().take(4).enumerate() {
                if let Some(slot) = planes
                    .get_mut(plane * 4 + entry / 64)
                    .and_then(|quarter| quarter.get_mut(entry % 64))
                {
                    *slot = *byte;
                }
            }
        }
        // SAFETY: each load reads the 64 bytes of one array of `planes`.
        let tables: [__m512i; 16] =
            std::array::from_fn(|i| unsafe { _mm512_loadu_si512(planes[i].as_ptr().cast()) });
        let mask = _mm512_set1_epi32(mask as i32);
        let mut hash = _mm512_setzero_si512();
        let mut count = 0u64;
        for at in (0..segment).step_by(16) {
            // The next 16 bytes of each segment: register r holds segments 4r..4r+3, one per
            // 128-bit lane.
            let mut rows = [_mm512_setzero_si512(); 4];
            for (r, row) in rows.iter_mut().enumerate() {
                let mut lanes = [_mm_setzero_si128(); 4];
                for (k, lane) in lanes.iter_mut().enumerate() {
                    if let Some(bytes) = segments[4 * r + k].get(at..at + 16) {
                        // SAFETY: `bytes` holds the 16 bytes the load reads.
                        *lane = unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) };
                    }
                }
                *row = _mm512_inserti32x4::<3>(
                    _mm512_inserti32x4::<2>(
                        _mm512_inserti32x4::<1>(_mm512_castsi128_si512(lanes[0]), lanes[1]),
                        lanes[2],
                    ),
                    lanes[3],
                );
            }
            // Four registers of 4 bytes per lane: register q holds bytes 4q..4q+3 of every
            // segment (lane order 4k + r is segment 4r + k, the same at every step).
            let steps = transpose(rows);
            for index in steps {
                let high = _mm512_movepi8_mask(index);
                let plane = |p: usize| {
                    let low = _mm512_permutex2var_epi8(tables[4 * p], index, tables[4 * p + 1]);
                    let top = _mm512_permutex2var_epi8(tables[4 * p + 2], index, tables[4 * p + 3]);
                    _mm512_mask_blend_epi8(high, low, top)
                };
                let (p0, p1, p2, p3) = (plane(0), plane(1), plane(2), plane(3));
                // Each lane's four table values (one per byte of it), as 32-bit values in
                // the order of the bytes.
                let (w01l, w01h) = (_mm512_unpacklo_epi8(p0, p1), _mm512_unpackhi_epi8(p0, p1));
                let (w23l, w23h) = (_mm512_unpacklo_epi8(p2, p3), _mm512_unpackhi_epi8(p2, p3));
                let q = [
                    _mm512_unpacklo_epi16(w01l, w23l),
                    _mm512_unpackhi_epi16(w01l, w23l),
                    _mm512_unpacklo_epi16(w01h, w23h),
                    _mm512_unpackhi_epi16(w01h, w23h),
                ];
                let values = transpose(q);
                let mut hits = [0u16; 4];
                for (value, hit) in values.iter().zip(hits.iter_mut()) {
                    hash = _mm512_add_epi32(_mm512_add_epi32(hash, hash), *value);
                    *hit = _mm512_testn_epi32_mask(hash, mask);
                }
                if hits.iter().any(|&hit| hit != 0) {
                    count += hits
                        .iter()
                        .map(|hit| u64::from(hit.count_ones()))
                        .sum::<u64>();
                }
            }
        }
        count
    }

    /// Transposes, in each 128-bit lane, the 4x4 grid of 32-bit values the four registers
    /// make: value j of register i goes to value i of register j.
    #[target_feature(enable = "avx512f")]
    fn transpose([r0, r1, r2, r3]: [__m512i; 4]) -> [__m512i; 4] {
        let (a, b) = (_mm512_unpacklo_epi32(r0, r1), _mm512_unpackhi_epi32(r0, r1));
        let (c, d) = (_mm512_unpacklo_epi32(r2, r3), _mm512_unpackhi_epi32(r2, r3));
        [
            _mm512_unpacklo_epi64(a, c),
            _mm512_unpackhi_epi64(a, c),
            _mm512_unpacklo_epi64(b, d),
            _mm512_unpackhi_epi64(b, d),
        ]
    }
}
