//! Telling the VM how much of its timeslice a normal-scheduler call used.
//!
//! A NIF call counts as one reduction unless it says otherwise, so without this a process
//! calling many short NIFs in a loop is never preempted and starves every other process on
//! its scheduler (measured: a 1 ms sleeper woke up 100-300 ms late). Dirty-scheduler calls do
//! not account: they do not run on a normal scheduler.

use rustler::Env;

/// Bytes of chunking work taken as one full timeslice (about 1 ms at ~1 GB/s, a
/// conservative rate for chunking plus hashing).
const BYTES_PER_TIMESLICE: usize = 1 << 20;

/// Reports `bytes` of work done by the current normal-scheduler call.
pub fn account(env: Env<'_>, bytes: usize) {
    let percent = (bytes.saturating_mul(100) / BYTES_PER_TIMESLICE).clamp(1, 100);
    // The return value says whether the slice is used up; the caller returns promptly anyway.
    let _ = rustler::schedule::consume_timeslice(env, i32::try_from(percent).unwrap_or(100));
}
