//! Chunking a large binary on threads of our own between calls, so that each dirty call stays
//! short while the scan works in large parts.
//!
//! A dirty call runs for about 0.8 ms (`pace.rs`). Done within the call, that work is a few
//! steps, each a parallel scan split into speculative segments whose chains must meet (a chunk
//! or two scanned and hashed again at each seam, by one thread while the other waits:
//! `chunker_core`'s `cut_run.rs`) and a fork and join of the pool, whose threads then idle
//! until the next call. At that size those costs are a large part of the work: `cargo bench
//! --bench chunking -- vs_reference` feeds the core 256 MiB in pieces of 1, 4 and 16 MiB (see
//! the figures in the README's Performance section).
//!
//! So when a dirty feed has more of its binary left than the call could chunk itself, the
//! stream's chunker is handed, with a part of the binary of about [`JOB_TIME`] of work (a
//! *job*), to threads of its own, and the calls only wait for it, each until its own deadline:
//! the job runs on between the calls, which stay as short as before, and the seams cost once a
//! job rather than once a step. The call that collects a finished job encodes its chunks and
//! starts the next job before it returns, so the next part is chunked while the caller takes
//! these chunks and calls again.
//!
//! The job keeps the binary alive through a process-independent environment holding a
//! reference to it (the bytes are not copied), so it may outlive the call that started it: a
//! stream closed, or dropped by the garbage collector, while its job runs leaves the job to
//! finish and free the chunker. A panic in a job is raised in the call that collects it, as a
//! panic in the call itself would be.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use chunker_core::{FinishedError, IncrementalChunker};
use rustler::env::SavedTerm;
use rustler::{Binary, Env, NifResult, OwnedEnv};

use crate::pace::{Pace, Work, RATES};
use crate::stats::STATS;

/// How long a job should take: long enough that its hand-off and its seams are a small part
/// of it; short, because threads that run on without a pause keep a thread the OS wakes (a
/// VM scheduler with a timer due) waiting longer for a core. `mix run bench/latency.exs`
/// (2026-12-07, 5 rounds each, about 3,000 wake-ups of a 1 ms sleeper): p99 gap 3.70-3.76 ms
/// without jobs, 3.87-4.39 ms with 2 ms jobs, 5.23-5.58 ms with 8 ms jobs; the idle VM's
/// 2.05-2.18 ms.
const JOB_TIME: Duration = Duration::from_millis(2);

/// A job spans at least this many average chunks, whatever the time: each of its seams costs
/// a chunk or two of scanning (three seams with two threads of two lanes each).
const JOB_MIN_CHUNKS: usize = 64;

/// At most this many average chunks per job: the call that collects a job encodes all of its
/// chunks as terms at once (about 0.3 us each, `mix chunker.bench`'s `hash: :none` rows).
const JOB_MAX_CHUNKS: usize = 1024;

/// The jobs' own threads, as many as the shared pool has: a dirty call that shares its work
/// out on the shared pool (a batch, a stream of small pieces) never waits there behind a job.
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|index| format!("chunker-job-{index}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// What a job leaves: what it did, or the panic that ended it.
type Outcome = Result<Done, Box<dyn Any + Send>>;

/// A job that ended: the chunker back, having fed its part (or refused it), and the binary it
/// fed, still referenced, so that its chunks can be sub-binaries of it in any later call.
pub struct Done {
    pub chunker: IncrementalChunker,
    pub fed: Result<(), FinishedError>,
    /// Where the job's part begins in its binary.
    pub from: usize,
    binary: (OwnedEnv, SavedTerm),
}

impl Done {
    /// The binary the job fed, as a term of `env` (a reference to the same bytes).
    pub fn binary<'a>(&self, env: Env<'a>) -> NifResult<Binary<'a>> {
        let (owned, saved) = &self.binary;
        owned.run(|own| saved.load(own).in_env(env)).decode()
    }
}

#[derive(Default)]
struct Slot {
    outcome: Mutex<Option<Outcome>>,
    ready: Condvar,
}

/// A chunker away on the pool, feeding `binary[from..end]` of the binary at `address`.
pub struct Job {
    address: usize,
    len: usize,
    from: usize,
    end: usize,
    /// The chunker's position once the job has fed its part.
    position: u64,
    slot: Arc<Slot>,
}

impl Job {
    /// The part of `remaining` bytes a job should take, at `work`'s pace learned so far;
    /// `None` when a call with `pace` could do it all itself, or nothing is known yet of the
    /// work's pace (the call then measures it).
    pub fn size(pace: &Pace, work: Work, avg_size: usize, remaining: usize) -> Option<usize> {
        if pace.is_normal() || pace.bytes_left(work)? >= remaining {
            return None;
        }
        let per_job = RATES
            .bytes_within(work, JOB_TIME)?
            .max(avg_size.saturating_mul(JOB_MIN_CHUNKS));
        // Small chunks: a job of at most JOB_MAX_CHUNKS would be too short to pay for its
        // hand-off (measured: at 256 B and 1 KiB average chunks, jobs of 512 chunks made
        // `chunk/2` 30-35% slower); the calls do that work themselves.
        if per_job > avg_size.saturating_mul(JOB_MAX_CHUNKS) {
            return None;
        }
        // A short rest would be a job of its own, with the same seams for less work.
        Some(if remaining.saturating_sub(per_job) < per_job / 2 {
            remaining
        } else {
            per_job
        })
    }

    /// Hands `chunker` to the pool to feed `binary[from..end]`.
    pub fn start(
        env: Env<'_>,
        binary: &Binary<'_>,
        from: usize,
        end: usize,
        mut chunker: IncrementalChunker,
        work: Work,
    ) -> Job {
        let owned = OwnedEnv::new();
        let saved = owned.save(binary.to_term(env));
        let slot = Arc::new(Slot::default());
        STATS.chunk_job();
        let job = Job {
            address: binary.as_slice().as_ptr() as usize,
            len: binary.len(),
            from,
            end,
            position: chunker.position() + (end - from) as u64,
            slot: Arc::clone(&slot),
        };
        let task = move || {
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let fed = owned.run(|env| {
                    let binary = saved.load(env).decode::<Binary>().ok();
                    let part = binary
                        .as_ref()
                        .and_then(|binary| binary.as_slice().get(from..end))
                        .unwrap_or_default();
                    chunker.use_pool(true);
                    chunker.feed(part).map(|_| ())
                });
                Done {
                    chunker,
                    fed,
                    from,
                    binary: (owned, saved),
                }
            }));
            // Only a part chunked to its end says how fast chunking goes: a panic or a finished
            // chunker ends at once, and a rate learned from it would make the next parts huge.
            if matches!(&outcome, Ok(done) if done.fed.is_ok()) {
                RATES.record(work, end - from, started.elapsed());
            }
            *slot.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
            slot.ready.notify_all();
        };
        match pool() {
            Some(pool) => pool.spawn(task),
            // Threads could not be started: the shared pool does the jobs.
            None => rayon::spawn(task),
        }
        job
    }

    /// Whether this job feeds `binary` from `from`.
    pub fn feeds(&self, binary: &Binary<'_>, from: usize) -> bool {
        (self.address, self.len, self.from)
            == (binary.as_slice().as_ptr() as usize, binary.len(), from)
    }

    /// Where in its binary the job's part ends.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Whether the job's part is the rest of its binary: the feed of that binary returned
    /// without waiting for it, and its chunks go out with the stream's next call.
    pub fn ends_its_binary(&self) -> bool {
        self.end == self.len
    }

    /// The chunker's position (bytes received) once the job has fed its part.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Waits up to `time` (`None`: until it ends) for the job: what it did, or the job, still
    /// running. The panic of a job that panicked is raised here.
    pub fn wait(self, time: Option<Duration>) -> Result<Done, Job> {
        let guard = self
            .slot
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pending = |outcome: &mut Option<Outcome>| outcome.is_none();
        let mut guard = match time {
            Some(time) => {
                self.slot
                    .ready
                    .wait_timeout_while(guard, time, pending)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => self
                .slot
                .ready
                .wait_while(guard, pending)
                .unwrap_or_else(PoisonError::into_inner),
        };
        let outcome = guard.take();
        drop(guard);
        match outcome {
            Some(Ok(done)) => Ok(done),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(self),
        }
    }
}
