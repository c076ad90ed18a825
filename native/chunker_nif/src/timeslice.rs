//! Telling the VM how much of its timeslice a normal-scheduler call used.
//!
//! A NIF call counts as one reduction unless it says otherwise, so without this a process
//! calling many short NIFs in a loop is never preempted and starves every other process on
//! its scheduler (measured: a 1 ms sleeper woke up 40-300 ms late). The call's own running
//! time is charged, whatever the work was. Dirty-scheduler calls do not charge: they do not
//! run on a normal scheduler.

use std::time::{Duration, Instant};

use rustler::{Encoder, Env, NifResult, Term};

use crate::atoms;

/// Runs `f` and charges its running time to the calling process, taking a timeslice as
/// 1 ms (the VM's is 4000 reductions, about 1 ms).
pub fn charged<T>(env: Env<'_>, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = f();
    charge(env, start);
    result
}

fn charge(env: Env<'_>, start: Instant) {
    let percent = (start.elapsed().as_micros() / 10).clamp(1, 100);
    // The return value says whether the slice is used up; the caller returns promptly anyway.
    let _ = rustler::schedule::consume_timeslice(env, i32::try_from(percent).unwrap_or(100));
}

/// The clock of a normal-scheduler call that works through a list of items: it stops once
/// its budget has run out and returns the rest, which the caller passes to the next call
/// (a continuation), so no single call holds the scheduler long however long the list.
pub struct Deadline {
    start: Instant,
    budget: Duration,
}

impl Deadline {
    /// Starts the clock of a call allowed `budget_us` microseconds.
    pub fn start(budget_us: u64) -> Self {
        Deadline {
            start: Instant::now(),
            budget: Duration::from_micros(budget_us),
        }
    }

    /// Whether the budget is spent: the call should return after the item in hand.
    pub fn passed(&self) -> bool {
        self.start.elapsed() >= self.budget
    }

    /// Charges the call's running time so far to the calling process.
    pub fn charge(&self, env: Env<'_>) {
        charge(env, self.start);
    }
}

/// Works through the proper list `list` on a normal scheduler, applying `f` to each element
/// until `budget_us` have passed: `{:done, results}`, or `{:cont, results, rest}` for the
/// caller to resume with `rest`. Results are in list order; the time is charged.
pub fn list_steps<'a>(
    env: Env<'a>,
    list: Term<'a>,
    budget_us: u64,
    mut f: impl FnMut(Term<'a>) -> NifResult<Term<'a>>,
) -> NifResult<Term<'a>> {
    let deadline = Deadline::start(budget_us);
    let mut results = Vec::new();
    let mut rest = list;
    let outcome = loop {
        if rest.is_empty_list() {
            break Ok((atoms::done(), results).encode(env));
        }
        // At least one item per call, so that every call makes progress.
        if !results.is_empty() && deadline.passed() {
            break Ok((atoms::cont(), results, rest).encode(env));
        }
        let (head, tail) = match rest.list_get_cell() {
            Ok(cell) => cell,
            Err(error) => break Err(error),
        };
        match f(head) {
            Ok(result) => results.push(result),
            Err(error) => break Err(error),
        }
        rest = tail;
    };
    deadline.charge(env);
    outcome
}
