//! What the NIF has done since it was loaded or last reset, for `Chunker.stats/0`: counters of
//! the work done (bytes, chunks, calls per kind), errors by reason, native resources alive, a
//! histogram of chunk sizes and histograms of how long NIF calls held their scheduler.
//!
//! Every count is a relaxed atomic, updated without locks. Work is counted once per call or
//! per item, never per byte and never per chunk: the chunks a call returns are tallied in a
//! local histogram first and added in one go ([`Stats::chunks`]). Counters are not striped:
//! at most a few updates per NIF call (each call is tens of microseconds or more) leave no
//! contention to measure on a cache line.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chunker_core::compression::Format;
use chunker_core::{Chunk, HashAlgorithm};
use rustler::{Atom, Encoder, Env, Term};

use crate::atoms;

/// The scheduler a NIF call runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    Normal,
    DirtyCpu,
    DirtyIo,
}

impl Scheduler {
    const ALL: [Scheduler; 3] = [Scheduler::Normal, Scheduler::DirtyCpu, Scheduler::DirtyIo];

    fn name(self) -> &'static str {
        match self {
            Scheduler::Normal => "normal",
            Scheduler::DirtyCpu => "dirty_cpu",
            Scheduler::DirtyIo => "dirty_io",
        }
    }
}

/// The kinds of native resources counted alive.
#[derive(Debug, Clone, Copy)]
pub enum ResourceKind {
    ChunkStream,
    Hasher,
    Encoder,
    Decoder,
    File,
    NarDump,
    NarParser,
    Dictionary,
}

impl ResourceKind {
    const ALL: [ResourceKind; 8] = [
        ResourceKind::ChunkStream,
        ResourceKind::Hasher,
        ResourceKind::Encoder,
        ResourceKind::Decoder,
        ResourceKind::File,
        ResourceKind::NarDump,
        ResourceKind::NarParser,
        ResourceKind::Dictionary,
    ];

    fn name(self) -> &'static str {
        match self {
            ResourceKind::ChunkStream => "chunk_streams",
            ResourceKind::Hasher => "hashers",
            ResourceKind::Encoder => "encoders",
            ResourceKind::Decoder => "decoders",
            ResourceKind::File => "files",
            ResourceKind::NarDump => "nar_dumps",
            ResourceKind::NarParser => "nar_parsers",
            ResourceKind::Dictionary => "dictionaries",
        }
    }
}

/// A field of a resource that counts it alive from its creation to its drop.
pub struct Live(ResourceKind);

impl Live {
    pub fn new(kind: ResourceKind) -> Self {
        if let Some(cell) = STATS.live.get(kind as usize) {
            cell.fetch_add(1, Relaxed);
        }
        Self(kind)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(cell) = STATS.live.get(self.0 as usize) {
            cell.fetch_sub(1, Relaxed);
        }
    }
}

/// Times a NIF call from its creation to its drop, into the histogram of its scheduler. Every
/// NIF whose work is more than a lookup holds one (a [`crate::pace::Pace`] holds one).
pub struct CallTimer {
    start: Instant,
    scheduler: Scheduler,
}

impl CallTimer {
    pub fn start(scheduler: Scheduler) -> Self {
        Self {
            start: Instant::now(),
            scheduler,
        }
    }

    /// Time since the call started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn scheduler(&self) -> Scheduler {
        self.scheduler
    }
}

impl Drop for CallTimer {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if let Some(histogram) = STATS.calls.get(self.scheduler as usize) {
            histogram.record(duration_bucket(nanos), nanos);
        }
    }
}

/// Chunk sizes: bucket `i` holds lengths from `2^i` to `2^(i+1) - 1`.
const SIZE_BUCKETS: usize = 64;

fn size_bucket(length: u64) -> usize {
    (63 - length.max(1).leading_zeros()) as usize
}

fn size_bucket_floor(index: usize) -> u64 {
    1u64 << index
}

/// Call durations in nanoseconds: bucket 0 holds everything under 1 us; above it each power
/// of two is split in four (so a bound is within 19% of any value in its bucket), up to
/// 2^40 ns (18 minutes) in the last.
const DURATION_BUCKETS: usize = 1 + 4 * (40 - 10);

fn duration_bucket(nanos: u64) -> usize {
    if nanos < 1024 {
        return 0;
    }
    let power = (63 - nanos.leading_zeros()) as usize;
    if power >= 40 {
        return DURATION_BUCKETS - 1;
    }
    let quarter = ((nanos >> (power - 2)) & 3) as usize;
    1 + (power - 10) * 4 + quarter
}

fn duration_bucket_floor(index: usize) -> u64 {
    if index == 0 {
        return 0;
    }
    let power = 10 + (index - 1) / 4;
    let quarter = ((index - 1) % 4) as u64;
    (4 + quarter) << (power - 2)
}

/// A histogram of `N` buckets, with the count, sum and largest value recorded.
struct Histogram<const N: usize> {
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; N],
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    fn record(&self, bucket: usize, value: u64) {
        if let Some(cell) = self.buckets.get(bucket) {
            cell.fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum.fetch_add(value, Relaxed);
        self.max.fetch_max(value, Relaxed);
    }

    /// Adds a tally made elsewhere.
    fn add(&self, tally: &[u64; N], count: u64, sum: u64, max: u64) {
        for (cell, &n) in self.buckets.iter().zip(tally) {
            if n > 0 {
                cell.fetch_add(n, Relaxed);
            }
        }
        self.count.fetch_add(count, Relaxed);
        self.sum.fetch_add(sum, Relaxed);
        self.max.fetch_max(max, Relaxed);
    }

    fn reset(&self) {
        for cell in self
            .buckets
            .iter()
            .chain([&self.count, &self.sum, &self.max])
        {
            cell.store(0, Relaxed);
        }
    }

    /// `%{count:, sum:, max:, p50:, p99:, buckets: [{floor, count}]}` (non-empty buckets in
    /// order; a bucket holds the values from its floor up to the next bucket's). A percentile is
    /// the upper bound of the bucket it falls in, never more than `max`: an upper estimate.
    fn term<'a>(&self, env: Env<'a>, floor: fn(usize) -> u64) -> Term<'a> {
        let counts: Vec<u64> = self.buckets.iter().map(|cell| cell.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let max = self.max.load(Relaxed);
        let percentile = |p: u64| -> u64 {
            if total == 0 {
                return 0;
            }
            let rank = (total * p).div_ceil(100);
            let mut seen = 0;
            for (index, &n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    let upper = if index + 1 < N { floor(index + 1) } else { max };
                    return upper.min(max);
                }
            }
            max
        };
        let buckets: Vec<(u64, u64)> = counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(index, &n)| (floor(index), n))
            .collect();
        map(
            env,
            &[
                ("count", self.count.load(Relaxed).encode(env)),
                ("sum", self.sum.load(Relaxed).encode(env)),
                ("max", max.encode(env)),
                ("p50", percentile(50).encode(env)),
                ("p99", percentile(99).encode(env)),
                ("buckets", buckets.encode(env)),
            ],
        )
    }
}

/// Bytes in, bytes out and inputs done of one codec, one way.
struct Codec {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    calls: AtomicU64,
}

impl Codec {
    const fn new() -> Self {
        Self {
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            calls: AtomicU64::new(0),
        }
    }

    fn cells(&self) -> [&AtomicU64; 3] {
        [&self.bytes_in, &self.bytes_out, &self.calls]
    }

    fn term<'a>(&self, env: Env<'a>) -> Term<'a> {
        map(
            env,
            &[
                ("bytes_in", self.bytes_in.load(Relaxed).encode(env)),
                ("bytes_out", self.bytes_out.load(Relaxed).encode(env)),
                ("calls", self.calls.load(Relaxed).encode(env)),
            ],
        )
    }
}

/// Errors by reason: reasons are the NIF's and the core's fixed names (and Elixir's own), a
/// few dozen at most; each takes a slot the first time it is seen, and any past the slots are
/// counted as `other`.
struct Errors {
    slots: [(OnceLock<Box<str>>, AtomicU64); ERROR_SLOTS],
    other: AtomicU64,
}

const ERROR_SLOTS: usize = 64;

impl Errors {
    const fn new() -> Self {
        Self {
            slots: [const { (OnceLock::new(), AtomicU64::new(0)) }; ERROR_SLOTS],
            other: AtomicU64::new(0),
        }
    }

    fn count(&self, reason: &str) {
        for (name, count) in &self.slots {
            let name = match name.get() {
                Some(name) => name,
                // Two first errors of different reasons may race for a slot: the loser sees
                // the winner's name and moves on.
                None => name.get_or_init(|| reason.into()),
            };
            if &**name == reason {
                count.fetch_add(1, Relaxed);
                return;
            }
        }
        self.other.fetch_add(1, Relaxed);
    }
}

/// The counters of `Chunker.stats/0`.
pub struct Stats {
    chunk_bytes: AtomicU64,
    chunks: AtomicU64,
    chunk_calls: AtomicU64,
    /// Parts of binaries chunked on the pool between calls (`ahead.rs`).
    chunk_jobs: AtomicU64,
    chunk_sizes: Histogram<SIZE_BUCKETS>,
    /// Bytes and digests of `Chunker.Hash`, per algorithm (chunk digests count as chunking).
    hash: [(AtomicU64, AtomicU64); 2],
    compress: [Codec; 4],
    decompress: [Codec; 4],
    nar_dump_bytes: AtomicU64,
    nar_restore_bytes: AtomicU64,
    nar_entries_bytes: AtomicU64,
    file_bytes: AtomicU64,
    errors: Errors,
    live: [AtomicU64; ResourceKind::ALL.len()],
    calls: [Histogram<DURATION_BUCKETS>; 3],
}

/// The NIF's counters.
pub static STATS: Stats = Stats::new();

fn hash_index(algorithm: HashAlgorithm) -> usize {
    match algorithm {
        HashAlgorithm::Blake3 => 0,
        HashAlgorithm::Sha256 => 1,
    }
}

/// What a NAR parser reads for.
#[derive(Debug, Clone, Copy)]
pub enum NarRead {
    Restore,
    Entries,
}

impl Stats {
    const fn new() -> Self {
        Self {
            chunk_bytes: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
            chunk_calls: AtomicU64::new(0),
            chunk_jobs: AtomicU64::new(0),
            chunk_sizes: Histogram::new(),
            hash: [const { (AtomicU64::new(0), AtomicU64::new(0)) }; 2],
            compress: [const { Codec::new() }; 4],
            decompress: [const { Codec::new() }; 4],
            nar_dump_bytes: AtomicU64::new(0),
            nar_restore_bytes: AtomicU64::new(0),
            nar_entries_bytes: AtomicU64::new(0),
            file_bytes: AtomicU64::new(0),
            errors: Errors::new(),
            live: [const { AtomicU64::new(0) }; ResourceKind::ALL.len()],
            calls: [const { Histogram::new() }; 3],
        }
    }

    /// One input to chunk (a one-shot call, a stream, an item of a batch).
    pub fn chunk_input(&self) {
        self.chunk_calls.fetch_add(1, Relaxed);
    }

    /// A part of a binary handed to the pool to chunk between calls.
    pub fn chunk_job(&self) {
        self.chunk_jobs.fetch_add(1, Relaxed);
    }

    /// Chunks returned to the caller: their bytes, their number and their sizes.
    pub fn chunks(&self, chunks: &[Chunk]) {
        if chunks.is_empty() {
            return;
        }
        let mut tally = [0u64; SIZE_BUCKETS];
        let (mut bytes, mut max) = (0u64, 0u64);
        for chunk in chunks {
            let length = chunk.length as u64;
            if let Some(n) = tally.get_mut(size_bucket(length)) {
                *n += 1;
            }
            bytes += length;
            max = max.max(length);
        }
        let count = chunks.len() as u64;
        self.chunk_bytes.fetch_add(bytes, Relaxed);
        self.chunks.fetch_add(count, Relaxed);
        self.chunk_sizes.add(&tally, count, bytes, max);
    }

    /// Bytes hashed by `Chunker.Hash`.
    pub fn hashed(&self, algorithm: HashAlgorithm, bytes: usize) {
        if let Some((cell, _)) = self.hash.get(hash_index(algorithm)) {
            cell.fetch_add(bytes as u64, Relaxed);
        }
    }

    /// A digest produced by `Chunker.Hash`.
    pub fn digest(&self, algorithm: HashAlgorithm) {
        if let Some((_, cell)) = self.hash.get(hash_index(algorithm)) {
            cell.fetch_add(1, Relaxed);
        }
    }

    /// Bytes fed to an encoder.
    pub fn compress_in(&self, format: Format, bytes: usize) {
        if let Some(codec) = self.compress.get(format.index()) {
            codec.bytes_in.fetch_add(bytes as u64, Relaxed);
        }
    }

    /// Compressed bytes handed back.
    pub fn compress_out(&self, format: Format, bytes: usize) {
        if let Some(codec) = self.compress.get(format.index()) {
            codec.bytes_out.fetch_add(bytes as u64, Relaxed);
        }
    }

    /// A frame finished: one input compressed.
    pub fn compressed(&self, format: Format) {
        if let Some(codec) = self.compress.get(format.index()) {
            codec.calls.fetch_add(1, Relaxed);
        }
    }

    /// A step of decoding: compressed bytes consumed, bytes produced.
    pub fn decoded(&self, format: Format, consumed: usize, produced: usize) {
        if let Some(codec) = self.decompress.get(format.index()) {
            codec.bytes_in.fetch_add(consumed as u64, Relaxed);
            codec.bytes_out.fetch_add(produced as u64, Relaxed);
        }
    }

    /// An input decoded to its end.
    pub fn decompressed_input(&self, format: Format) {
        if let Some(codec) = self.decompress.get(format.index()) {
            codec.calls.fetch_add(1, Relaxed);
        }
    }

    /// NAR bytes written by `Chunker.NAR.dump/1`.
    pub fn nar_dumped(&self, bytes: usize) {
        self.nar_dump_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// NAR bytes parsed.
    pub fn nar_parsed(&self, read: NarRead, bytes: usize) {
        let cell = match read {
            NarRead::Restore => &self.nar_restore_bytes,
            NarRead::Entries => &self.nar_entries_bytes,
        };
        cell.fetch_add(bytes as u64, Relaxed);
    }

    /// Bytes read from files by the file functions.
    pub fn file_read(&self, bytes: usize) {
        self.file_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// An error returned, by reason.
    pub fn error(&self, reason: &str) {
        self.errors.count(reason);
    }

    /// Zeroes every counter and histogram (not the resources alive, which are a state).
    /// Calls running meanwhile may have part of their work counted before and part after.
    pub fn reset(&self) {
        let cells = [
            &self.chunk_bytes,
            &self.chunks,
            &self.chunk_calls,
            &self.chunk_jobs,
            &self.nar_dump_bytes,
            &self.nar_restore_bytes,
            &self.nar_entries_bytes,
            &self.file_bytes,
            &self.errors.other,
        ];
        let hash = self.hash.iter().flat_map(|(bytes, calls)| [bytes, calls]);
        let codecs = self.compress.iter().chain(&self.decompress);
        let errors = self.errors.slots.iter().map(|(_, count)| count);
        for cell in cells
            .into_iter()
            .chain(hash)
            .chain(codecs.flat_map(Codec::cells))
            .chain(errors)
        {
            cell.store(0, Relaxed);
        }
        self.chunk_sizes.reset();
        for histogram in &self.calls {
            histogram.reset();
        }
    }

    /// The map `Chunker.stats/0` returns (see its documentation).
    pub fn term<'a>(&self, env: Env<'a>) -> Term<'a> {
        let load = |cell: &AtomicU64| cell.load(Relaxed).encode(env);
        let chunk = map(
            env,
            &[
                ("bytes", load(&self.chunk_bytes)),
                ("chunks", load(&self.chunks)),
                ("calls", load(&self.chunk_calls)),
                ("pool_jobs", load(&self.chunk_jobs)),
                ("sizes", self.chunk_sizes.term(env, size_bucket_floor)),
            ],
        );
        let hash = map(
            env,
            &[HashAlgorithm::Blake3, HashAlgorithm::Sha256].map(|algorithm| {
                let name = match algorithm {
                    HashAlgorithm::Blake3 => "blake3",
                    HashAlgorithm::Sha256 => "sha256",
                };
                let stats = match self.hash.get(hash_index(algorithm)) {
                    Some((bytes, calls)) => {
                        map(env, &[("bytes", load(bytes)), ("calls", load(calls))])
                    }
                    None => Term::map_new(env),
                };
                (name, stats)
            }),
        );
        let codecs = |codecs: &[Codec; 4]| {
            map(
                env,
                &Format::ALL.map(|format| {
                    let stats = codecs.get(format.index()).map(|codec| codec.term(env));
                    (format.name(), stats.unwrap_or_else(|| Term::map_new(env)))
                }),
            )
        };
        let nar = map(
            env,
            &[
                ("dump", map(env, &[("bytes", load(&self.nar_dump_bytes))])),
                (
                    "restore",
                    map(env, &[("bytes", load(&self.nar_restore_bytes))]),
                ),
                (
                    "entries",
                    map(env, &[("bytes", load(&self.nar_entries_bytes))]),
                ),
            ],
        );
        let mut errors = Term::map_new(env);
        let named = self
            .errors
            .slots
            .iter()
            .filter_map(|(name, count)| Some((&**name.get()?, count.load(Relaxed))));
        for (reason, count) in named.chain([("other", self.errors.other.load(Relaxed))]) {
            if count > 0 {
                errors = errors
                    .map_put(atom(env, reason).encode(env), count.encode(env))
                    .unwrap_or(errors);
            }
        }
        let resources = map(
            env,
            &ResourceKind::ALL.map(|kind| {
                let live = self
                    .live
                    .get(kind as usize)
                    .map_or(0, |cell| cell.load(Relaxed));
                (kind.name(), live.encode(env))
            }),
        );
        let calls = map(
            env,
            &Scheduler::ALL.map(|scheduler| {
                let histogram = self.calls.get(scheduler as usize);
                let term = histogram.map(|histogram| histogram.term(env, duration_bucket_floor));
                (scheduler.name(), term.unwrap_or_else(|| Term::map_new(env)))
            }),
        );
        map(
            env,
            &[
                ("chunk", chunk),
                ("hash", hash),
                ("compress", codecs(&self.compress)),
                ("decompress", codecs(&self.decompress)),
                ("nar", nar),
                ("file", map(env, &[("bytes", load(&self.file_bytes))])),
                ("errors", errors),
                ("resources", resources),
                ("nif_calls", calls),
            ],
        )
    }
}

fn atom(env: Env<'_>, name: &str) -> Atom {
    Atom::from_str(env, name).unwrap_or_else(|_| atoms::error())
}

/// A map with atom keys.
fn map<'a>(env: Env<'a>, pairs: &[(&str, Term<'a>)]) -> Term<'a> {
    let keys: Vec<Term<'a>> = pairs
        .iter()
        .map(|(key, _)| atom(env, key).encode(env))
        .collect();
    let values: Vec<Term<'a>> = pairs.iter().map(|(_, value)| *value).collect();
    Term::map_from_term_arrays(env, &keys, &values).unwrap_or_else(|_| Term::map_new(env))
}

/// `stats()` -> the counters as a map (see `Chunker.stats/0`).
#[rustler::nif]
fn stats(env: Env<'_>) -> Term<'_> {
    STATS.term(env)
}

/// `reset_stats()` -> `:ok`.
#[rustler::nif]
fn reset_stats() -> Atom {
    STATS.reset();
    atoms::ok()
}

/// `count_error(reason)` -> `:ok`: counts an error made on the Elixir side.
#[rustler::nif]
fn count_error(env: Env<'_>, reason: Atom) -> rustler::NifResult<Atom> {
    let name = reason.to_term(env).atom_to_string()?;
    STATS.error(&name);
    Ok(atoms::ok())
}
