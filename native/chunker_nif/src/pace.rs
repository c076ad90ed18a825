//! How long one NIF call may run, and how fast each kind of work goes on this machine.
//!
//! This module is the only place that decides it. Every call that works through its input
//! does so against a [`Pace`]: a deadline on the call's own clock, about 100 us on a normal
//! scheduler (the time is charged to the caller with `enif_consume_timeslice`, so loops of
//! calls are preempted like any other code) and about 0.8 ms on a dirty one. A call that
//! reaches its deadline returns a continuation, and the Elixir side calls again: the dirty
//! twin once a normal call did not finish. (Dirty calls are bounded too: the VM's schedulers
//! busy-wait for them, which delays timers by about a call's length; measured with a 1 ms
//! sleeper, one call per 64 MiB made it 31-43 ms late, 1-2 MiB calls 1-2 ms.)
//!
//! Work is done in steps. How large a step may be comes from [`RATES`], which learns from the
//! calls themselves how long each kind of work takes per byte here, by size: nothing measured
//! on another machine is built in. A step whose cost is not known yet runs on a normal
//! scheduler only if it is divisible work small enough to be cheap anywhere ([`Work::probe`]);
//! otherwise it goes to a dirty scheduler, where it is measured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chunker_core::compression::{Format, Level};
use chunker_core::{Algorithm, HashAlgorithm};
use rustler::Env;

use crate::stats::{CallTimer, Scheduler};

/// What a normal-scheduler call may take: a tenth of a VM timeslice (about 1 ms).
pub const NORMAL_BUDGET: Duration = Duration::from_micros(100);
/// What a dirty-scheduler call may take.
pub const DIRTY_BUDGET: Duration = Duration::from_micros(800);
/// What a dirty-I/O call may take once it has something to return: file reads wait on the
/// disk, not a core, so they are given longer.
pub const DIRTY_IO_BUDGET: Duration = Duration::from_millis(2);

/// The clock of one NIF call, which also times the call for `Chunker.stats/0`.
pub struct Pace {
    timer: CallTimer,
    budget: Duration,
}

impl Pace {
    /// A call on a normal scheduler.
    pub fn normal() -> Self {
        Self::with(NORMAL_BUDGET, Scheduler::Normal)
    }

    /// A call on a dirty CPU scheduler.
    pub fn dirty() -> Self {
        Self::with(DIRTY_BUDGET, Scheduler::DirtyCpu)
    }

    /// A call on a dirty I/O scheduler.
    pub fn dirty_io() -> Self {
        Self::with(DIRTY_IO_BUDGET, Scheduler::DirtyIo)
    }

    fn with(budget: Duration, scheduler: Scheduler) -> Self {
        Self {
            timer: CallTimer::start(scheduler),
            budget,
        }
    }

    /// Whether this call runs on a normal scheduler (and so must never wait on rayon's pool,
    /// nor start a step whose cost it does not know).
    pub fn is_normal(&self) -> bool {
        self.timer.scheduler() == Scheduler::Normal
    }

    /// Time left before the deadline.
    pub fn left(&self) -> Duration {
        self.budget.saturating_sub(self.timer.elapsed())
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.timer.elapsed() >= self.budget
    }

    /// Whether a step of `bytes` of `work` is expected to end before the deadline. On a
    /// dirty scheduler a step of unknown cost is taken (it has to run somewhere, and is
    /// measured); on a normal one only a probe-sized step of divisible work is.
    pub fn fits(&self, work: Work, bytes: usize) -> bool {
        match RATES.estimate(work, bytes) {
            Some(cost) if cost.saturating_mul(work.margin(self.is_normal())) <= self.left() => true,
            Some(_) => {
                if self.is_normal() {
                    RATES.declined(work, bytes);
                }
                false
            }
            None => !self.is_normal() || bytes <= work.probe(),
        }
    }

    /// The bytes of `work` expected to fit in the time left; `None` when its speed is not
    /// known yet.
    pub fn bytes_left(&self, work: Work) -> Option<usize> {
        RATES.bytes_within(work, self.left())
    }

    /// Runs `f`, a step of `bytes` of `work`, and learns from how long it took.
    pub fn measure<T>(&self, work: Work, bytes: usize, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let result = f();
        RATES.record(work, bytes, start.elapsed());
        result
    }

    /// Charges the call's running time to the calling process (normal schedulers only):
    /// without it a NIF call counts as one reduction, and a process calling many in a loop
    /// is never preempted (measured: a 1 ms sleeper then woke 40-300 ms late).
    pub fn charge(&self, env: Env<'_>) {
        if self.is_normal() {
            // 1 ms, about a VM timeslice of 4000 reductions, is 100 percent.
            let percent = (self.timer.elapsed().as_micros() / 10).clamp(1, 100);
            // Whether the slice is used up does not matter: the call returns now anyway.
            let _ = rustler::schedule::consume_timeslice(env, percent as i32);
        }
    }
}

/// Picks the size of each step of divisible work (chunking, hashing, decoding, parsing) so
/// that the call ends near its deadline: the first from what the resource's earlier calls
/// measured ([`Pacing`]), else from what [`RATES`] knows (or a probe), the next ones from this
/// call's own steps.
pub struct Steps<'p> {
    pace: &'p Pace,
    work: Work,
    floor: usize,
    /// The largest step: an encoder's block, whose work comes in one burst, so that a step is
    /// never several bursts on the strength of a cheap one.
    ceiling: usize,
    /// Nanoseconds per byte measured by the same resource's earlier calls.
    prior: Option<f64>,
    /// Bytes and time of this call's steps so far.
    done: (usize, Duration),
    /// The size of the last step.
    last: usize,
}

/// What a resource's calls measured of its work, for its next call's first step: the steps of
/// a stream, a hasher or a codec cost alike from call to call.
#[derive(Default)]
pub struct Pacing(AtomicU64);

impl Pacing {
    /// Nanoseconds per byte, once measured.
    pub fn get(&self) -> Option<f64> {
        let bits = self.0.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }

    /// Keeps what `steps` measured, if they measured anything.
    pub fn keep(&self, steps: &Steps<'_>) {
        if let Some(per_byte) = steps.per_byte() {
            self.0.store(per_byte.to_bits(), Ordering::Relaxed);
        }
    }
}

impl<'p> Steps<'p> {
    /// Steps of `work`, none smaller than `floor` bytes (the size below which a step costs
    /// more in overhead than it does in work, e.g. two segments of a parallel scan).
    pub fn new(pace: &'p Pace, work: Work, floor: usize) -> Self {
        Self {
            pace,
            work,
            floor: floor.max(1),
            ceiling: usize::MAX,
            prior: None,
            done: (0, Duration::ZERO),
            last: 0,
        }
    }

    /// Starts from what `pacing` kept of the resource's earlier calls.
    pub fn after(mut self, pacing: &Pacing) -> Self {
        self.prior = pacing.get();
        self
    }

    /// No step larger than `ceiling` bytes (nor smaller than the floor).
    pub fn at_most(mut self, ceiling: usize) -> Self {
        self.ceiling = ceiling.max(self.floor);
        self
    }

    /// Nanoseconds per byte of this call's steps, if it took any that took time.
    pub fn per_byte(&self) -> Option<f64> {
        let (bytes, time) = self.done;
        (bytes > 0 && !time.is_zero()).then(|| time.as_secs_f64() * 1e9 / bytes as f64)
    }

    /// The size of the next step (at most `remaining`, what is left to do), given that
    /// `extra` bytes of work come with any step (bytes a chunk holds from earlier calls, which
    /// the step may have to hash); `None` once the call should return. A dirty call always
    /// takes its first step.
    pub fn next(&self, extra: usize, remaining: usize) -> Option<usize> {
        let left = self.pace.left();
        let first = self.done.0 == 0;
        let bytes = match self.done {
            // A step may have been cheaper per byte than the next will be (a chunk that was
            // only buffered, not cut and hashed), so steps grow at most fourfold.
            (bytes, time) if bytes > 0 && !time.is_zero() => {
                let per_byte = time.as_secs_f64() / bytes as f64;
                ((left.as_secs_f64() / per_byte) as usize).min(self.last.saturating_mul(4))
            }
            // The same resource's last call.
            _ if self.prior.is_some() => self.prior.map_or(0, |per_byte| {
                (left.as_secs_f64() * 1e9 / per_byte.max(1e-6)) as usize
            }),
            // What the VM learned may be stale for this input (compressible or not, chunks
            // cut or only buffered): unless it all fits, a first step of a quarter of the
            // call lets this call's own measurement size the rest.
            _ => match self.pace.bytes_left(self.work) {
                Some(bytes) if bytes.saturating_sub(extra) >= remaining => bytes,
                Some(bytes) => (bytes / 4).max(extra.saturating_add(self.floor).min(bytes)),
                None if self.pace.is_normal() => self.work.probe(),
                None => self.floor.max(self.work.probe()),
            },
        };
        let bytes = bytes.saturating_sub(extra).min(self.ceiling);
        if bytes >= self.floor.min(remaining) && !self.pace.expired() {
            Some(bytes.min(remaining))
        } else if first && !self.pace.is_normal() {
            Some(self.floor.min(remaining))
        } else {
            None
        }
    }

    /// Works through bytes `from..len` of an input in steps until they are done or the call
    /// should return: `step(at, end)` does the work of bytes `at..end` and says how many bytes
    /// of `extra` work (see [`Steps::next`]) the next step carries, `extra` the first's.
    /// Returns the index reached, or the first error.
    pub fn over<E>(
        &mut self,
        from: usize,
        len: usize,
        mut extra: usize,
        mut step: impl FnMut(usize, usize) -> Result<usize, E>,
    ) -> Result<usize, E> {
        // A normal-scheduler call that cannot expect to finish hands all of the work to its
        // dirty twin at once: a part done here would only be time the normal scheduler then
        // spends spinning (the VM's schedulers busy-wait after work), on a core the dirty
        // call's threads need (measured: File.stream! |> stream/2 ran at half speed).
        if self.pace.is_normal()
            && !self
                .pace
                .fits(self.work, (len - from).saturating_add(extra))
        {
            return Ok(from);
        }
        let mut at = from;
        while at < len {
            let Some(size) = self.next(extra, len - at) else {
                break;
            };
            let end = at.saturating_add(size).min(len);
            extra = self.run(end - at, || step(at, end))?;
            at = end;
        }
        Ok(at)
    }

    /// Runs a step of `bytes` (`f` returns what it did), timing it.
    pub fn run<T>(&mut self, bytes: usize, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let result = f();
        self.record(bytes, start.elapsed());
        result
    }

    /// Notes a step of `bytes` that took `elapsed`, for work measured after the fact (a
    /// decoder's step is as large as the output it produced).
    pub fn record(&mut self, bytes: usize, elapsed: Duration) {
        // A step of a few bytes (a frame header, a skippable frame) says nothing of the speed.
        if bytes >= 1024 {
            RATES.record(self.work, bytes, elapsed);
        }
        self.done.0 += bytes;
        self.done.1 += elapsed;
        self.last = bytes;
    }
}

/// A kind of work whose speed is learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Chunking with a hash (`None`: no digests), at an average chunk size (the cost per
    /// chunk makes small chunks slower per byte), on one thread or on the pool.
    Chunk {
        algorithm: Algorithm,
        hash: Option<HashAlgorithm>,
        avg_size: usize,
        parallel: bool,
    },
    /// NAR-aware chunking (the NAR is parsed as well).
    NarChunk {
        algorithm: Algorithm,
        hash: Option<HashAlgorithm>,
        avg_size: usize,
    },
    /// Hashing.
    Hash(HashAlgorithm),
    /// Compressing at a level (`None`: the format's default).
    Compress(Format, Option<Level>),
    /// zstd with worker threads or a long window, at a level: a context of its own each time,
    /// and steps that hand work to zstd's threads, so its costs are learned apart.
    CompressOwn(Option<Level>),
    /// zstd with a prepared dictionary, at a level: each frame starts by copying or referring
    /// to the dictionary's tables, a cost plain compression does not have.
    CompressDict(Option<Level>),
    /// Decompressing, counted in bytes of output.
    Decompress(Format),
    /// Parsing a NAR.
    NarParse,
    /// nix-base32, narinfo text, and ed25519 signing and checking (which hash the message).
    Text,
}

impl Work {
    /// The largest step of this work a normal scheduler takes before its cost is known:
    /// divisible work whose per-byte cost is a few nanoseconds at worst, so that a probe costs
    /// microseconds on any machine. Compression has per-call costs (an xz encoder at level 9
    /// sets up tens of megabytes of tables) that no size bounds, so it is never probed there.
    pub fn probe(self) -> usize {
        match self {
            Work::Compress(..) | Work::CompressOwn(_) | Work::CompressDict(_) => 0,
            Work::Decompress(_) => 0,
            _ => 16 * 1024,
        }
    }

    /// How many times its estimate a step must fit in the time left. Compressing costs by
    /// what the data is (zeros compress ten times faster than text at the same size, and a
    /// size class may have been learned on either), so on a normal scheduler only work
    /// estimated at a quarter of the time left is started whole.
    fn margin(self, normal: bool) -> u32 {
        match self {
            Work::Compress(..) | Work::CompressOwn(_) | Work::CompressDict(_) if normal => 4,
            _ => 1,
        }
    }

    /// Index of this work's rates in [`Rates`].
    fn slot(self) -> usize {
        let hash = |hash: Option<HashAlgorithm>| match hash {
            None => 0,
            Some(HashAlgorithm::Blake3) => 1,
            Some(HashAlgorithm::Sha256) => 2,
        };
        // Each algorithm scans at its own speed.
        let algorithm = |algorithm: Algorithm| match algorithm {
            Algorithm::V2020 => 0,
            Algorithm::V2016 => 1,
            Algorithm::Ronomon => 2,
        };
        // Average sizes by power of two; v2020's 256 B .. 4 MiB each have their own, the
        // larger averages only ronomon allows share the last.
        let avg = |avg: usize| ((usize::BITS - avg.max(1).leading_zeros()) as usize).min(AVGS - 1);
        let chunk_slot = |kind: usize, a: Algorithm, h: Option<HashAlgorithm>, avg_size: usize| {
            ((algorithm(a) * 3 + kind) * HASHES + hash(h)) * AVGS + avg(avg_size)
        };
        match self {
            Work::Chunk {
                algorithm: a,
                hash: h,
                avg_size,
                parallel,
            } => chunk_slot(usize::from(parallel), a, h, avg_size),
            Work::NarChunk {
                algorithm: a,
                hash: h,
                avg_size,
            } => chunk_slot(2, a, h, avg_size),
            Work::Hash(HashAlgorithm::Blake3) => CHUNK_SLOTS,
            Work::Hash(HashAlgorithm::Sha256) => CHUNK_SLOTS + 1,
            Work::NarParse => CHUNK_SLOTS + 2,
            Work::Text => CHUNK_SLOTS + 3,
            Work::Decompress(format) => CHUNK_SLOTS + 4 + format.index(),
            Work::Compress(format, level) => {
                CHUNK_SLOTS + 8 + format.index() * LEVELS + level_index(format, level)
            }
            Work::CompressOwn(level) => {
                CHUNK_SLOTS + 8 + 4 * LEVELS + level_index(Format::Zstd, level)
            }
            Work::CompressDict(level) => {
                CHUNK_SLOTS + 8 + 5 * LEVELS + level_index(Format::Zstd, level)
            }
        }
    }
}

/// Hash slots of chunking work: none, BLAKE3, SHA-256.
const HASHES: usize = 3;
/// Average-size slots of chunking work (powers of two).
const AVGS: usize = 24;
/// Chunking work: 3 algorithms x 3 kinds (one thread, the pool, NAR-aware) x hashes x sizes.
const CHUNK_SLOTS: usize = 3 * 3 * HASHES * AVGS;
/// Level slots per format: zstd's negative levels share one, then 0..=22.
const LEVELS: usize = 24;
const SLOTS: usize = CHUNK_SLOTS + 8 + 6 * LEVELS;

fn level_index(format: Format, level: Option<Level>) -> usize {
    let value = level.unwrap_or_else(|| Level::default_for(format)).value();
    usize::try_from(value.saturating_add(1))
        .unwrap_or(0)
        .min(LEVELS - 1)
}

/// Size classes: powers of two, up to 2^31 bytes and beyond in the last.
const SIZES: usize = 32;

/// What each kind of work has cost per byte here, by size class (a step's fixed costs weigh
/// most in the small classes), as exponentially weighted means in nanoseconds per byte (`f64`
/// bits; 0 while unknown). Shared by every call on every scheduler, updated without locks.
pub struct Rates {
    per_byte: [[AtomicU64; SIZES]; SLOTS],
}

/// The rates this VM has learned.
pub static RATES: Rates = Rates::new();

fn size_class(bytes: usize) -> usize {
    ((usize::BITS - bytes.leading_zeros()) as usize).min(SIZES - 1)
}

impl Rates {
    const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const UNKNOWN: AtomicU64 = AtomicU64::new(0);
        #[allow(clippy::declare_interior_mutable_const)]
        const ROW: [AtomicU64; SIZES] = [UNKNOWN; SIZES];
        Self {
            per_byte: [ROW; SLOTS],
        }
    }

    fn cell(&self, work: Work, class: usize) -> Option<&AtomicU64> {
        self.per_byte.get(work.slot())?.get(class)
    }

    fn nanos_per_byte(&self, work: Work, class: usize) -> Option<f64> {
        let bits = self.cell(work, class)?.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }

    /// The expected cost of `bytes` of `work`, from its size class; `None` if unknown.
    pub fn estimate(&self, work: Work, bytes: usize) -> Option<Duration> {
        let per_byte = self.nanos_per_byte(work, size_class(bytes))?;
        Some(Duration::from_secs_f64(
            (per_byte * bytes.max(1) as f64 / 1e9).min(1e6),
        ))
    }

    /// The most bytes of `work` expected to take at most `time`, from the largest size class
    /// whose rate is known and reaches that class. (Extrapolating from a smaller class than the
    /// answer errs on the safe side: fixed costs weigh more there, so its rate is slower.)
    pub fn bytes_within(&self, work: Work, time: Duration) -> Option<usize> {
        let nanos = time.as_secs_f64() * 1e9;
        (0..SIZES).rev().find_map(|class| {
            let per_byte = self.nanos_per_byte(work, class)?;
            let bytes = (nanos / per_byte.max(1e-6)).min(usize::MAX as f64) as usize;
            // The class holds sizes from 2^(class-1) to 2^class - 1.
            let low = if class == 0 { 0 } else { 1usize << (class - 1) };
            (bytes >= low.max(1)).then_some(bytes)
        })
    }

    /// Learns that `bytes` of `work` took `elapsed`. Samples are taken as they come, however
    /// slow: an estimate too high only sends work to a dirty scheduler (where it is measured
    /// again, and the mean comes back down), one too low would hold a normal scheduler.
    pub fn record(&self, work: Work, bytes: usize, elapsed: Duration) {
        let Some(cell) = self.cell(work, size_class(bytes)) else {
            return;
        };
        let sample = (elapsed.as_secs_f64() * 1e9 / bytes.max(1) as f64).max(1e-6);
        let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            let mean = if bits == 0 {
                sample
            } else {
                0.75 * f64::from_bits(bits) + 0.25 * sample
            };
            Some(mean.to_bits())
        });
    }

    /// Learns from a step of `bytes` of `work` that a normal-scheduler call declined as too
    /// expensive: the estimate eases a little, so that a class made to look expensive by
    /// chance is tried again; if it is expensive, the dirty call that does the work instead
    /// measures it so.
    pub fn declined(&self, work: Work, bytes: usize) {
        let Some(cell) = self.cell(work, size_class(bytes)) else {
            return;
        };
        let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            (bits != 0).then(|| (f64::from_bits(bits) * 0.95).to_bits())
        });
    }
}

/// Defines a NIF on a normal scheduler and its `_dirty` twin on a dirty CPU scheduler from
/// one body, a function taking the `Env`, the call's [`Pace`] and the NIF's arguments. The
/// normal one charges its time to the caller.
///
/// ```ignore
/// twin_nifs! {
///     /// `stream_feed(stream, binary, from)` -> ...
///     fn stream_feed / stream_feed_dirty(stream: ResourceArc<ChunkStream>, binary: Binary<'a>)
///         = feed(stream, binary);
/// }
/// ```
///
/// (The parameters are passed on as plain tokens: rustler's attribute does not take the
/// invisible groups that `ty` fragments become.)
macro_rules! twin_nifs {
    (
        $(#[$meta:meta])*
        fn $name:ident / $dirty:ident ($($params:tt)*) = $body:ident($($arg:ident),* $(,)?);
    ) => {
        $(#[$meta])*
        #[rustler::nif]
        fn $name<'a>(env: rustler::Env<'a>, $($params)*) -> rustler::NifResult<rustler::Term<'a>> {
            let pace = $crate::pace::Pace::normal();
            let result = $body(env, &pace, $($arg),*);
            pace.charge(env);
            result
        }

        #[doc = concat!("`", stringify!($name), "` on a dirty CPU scheduler.")]
        #[rustler::nif(schedule = "DirtyCpu")]
        fn $dirty<'a>(env: rustler::Env<'a>, $($params)*) -> rustler::NifResult<rustler::Term<'a>> {
            $body(env, &$crate::pace::Pace::dirty(), $($arg),*)
        }
    };
}

pub(crate) use twin_nifs;
