//! Telling the VM how much of its timeslice a normal-scheduler call used.
//!
//! A NIF call counts as one reduction unless it says otherwise, so without this a process
//! calling many short NIFs in a loop is never preempted and starves every other process on
//! its scheduler (measured: a 1 ms sleeper woke up 40-300 ms late). The call's own running
//! time is charged, whatever the work was. Dirty-scheduler calls do not charge: they do not
//! run on a normal scheduler.

use std::time::Instant;

use rustler::Env;

/// Runs `f` and charges its running time to the calling process, taking a timeslice as
/// 1 ms (the VM's is 4000 reductions, about 1 ms).
pub fn charged<T>(env: Env<'_>, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = f();
    let percent = (start.elapsed().as_micros() / 10).clamp(1, 100);
    // The return value says whether the slice is used up; the caller returns promptly anyway.
    let _ = rustler::schedule::consume_timeslice(env, i32::try_from(percent).unwrap_or(100));
    result
}
