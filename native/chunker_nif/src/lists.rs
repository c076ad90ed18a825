//! Batches: a list of binaries worked through item by item against the call's deadline.
//!
//! Each call takes items from the front of the caller's list and returns the rest (the list
//! is walked here rather than cut up in Elixir, which would cost more per item than hashing a
//! small one):
//!
//! - `{:done, results}`: the list is used up;
//! - `{:cont, results, rest}`: the deadline came first (or, on a normal scheduler, the next
//!   item is not expected to fit): call the dirty twin with `rest`;
//! - `{:large, results, large, rest}` (dirty calls): `large` is a run of items each too large
//!   for one call; the caller works each through its resumable path, then goes on with `rest`.
//!
//! Results are in list order. An improper list or an element that is not a binary is a
//! `badarg`.

use std::time::Instant;

use rustler::{Binary, Encoder, Env, NifResult, Term};

use crate::atoms;
use crate::pace::{Pace, Work, RATES};

/// What a segment takes of items whose cost is not known yet (the first segments a VM sees of
/// a kind of work), and the largest such item taken whole: enough to learn from, little enough
/// that even the slowest work (xz at level 9) does not hold the call long.
const UNKNOWN_ITEMS: usize = 64;
const UNKNOWN_BYTES: usize = 256 * 1024;

/// How `f` works through the list: `item` does one binary's work (on any thread) and `encode`
/// makes its result a term (on the calling thread).
pub fn run<'a, R, F, E>(
    env: Env<'a>,
    pace: &Pace,
    list: Term<'a>,
    work: Work,
    item: F,
    mut encode: E,
) -> NifResult<Term<'a>>
where
    R: Send,
    F: Fn(&[u8]) -> R + Sync + Send,
    E: FnMut(Binary<'a>, R) -> NifResult<Term<'a>>,
{
    let mut results = Vec::new();
    let mut rest = list;
    if pace.is_normal() {
        // One item after the other, each only if it is expected to fit.
        while !rest.is_empty_list() {
            let (head, tail) = rest.list_get_cell()?;
            let binary: Binary = head.decode()?;
            if pace.expired() || !pace.fits(work, binary.len()) {
                return Ok((atoms::cont(), results, rest).encode(env));
            }
            let output = pace.measure(work, binary.len(), || item(binary.as_slice()));
            results.push(encode(binary, output)?);
            rest = tail;
        }
        Ok((atoms::done(), results).encode(env))
    } else {
        loop {
            if rest.is_empty_list() {
                return Ok((atoms::done(), results).encode(env));
            }
            let (segment, after) = segment(pace, rest, work)?;
            if segment.is_empty() {
                // The next item is too large for one call.
                if !results.is_empty() {
                    return Ok((atoms::cont(), results, rest).encode(env));
                }
                let (large, after) = large_run(pace, rest, work)?;
                return Ok((atoms::large(), results, large, after).encode(env));
            }
            let inputs: Vec<&[u8]> = segment.iter().map(|binary| binary.as_slice()).collect();
            let outputs = chunker_core::parallel::map_by_weight(
                &inputs,
                |input| input.len().max(64),
                |input| {
                    let start = Instant::now();
                    let output = item(input);
                    RATES.record(work, input.len(), start.elapsed());
                    output
                },
            );
            for (binary, output) in segment.into_iter().zip(outputs) {
                results.push(encode(binary, output)?);
            }
            rest = after;
            if pace.expired() && !rest.is_empty_list() {
                return Ok((atoms::cont(), results, rest).encode(env));
            }
        }
    }
}

/// Whether one item is too large for a call of its own on one thread: its cost is expected to
/// pass the deadline, or unknown and more than a probe.
fn is_large(pace: &Pace, work: Work, bytes: usize) -> bool {
    match RATES.estimate(work, bytes) {
        Some(cost) => cost > pace.left(),
        None => bytes > UNKNOWN_BYTES,
    }
}

/// Takes items from the front of `list` until they hold about one call's work for every pool
/// thread, stopping before an item that is large. Returns them and the rest of the list.
fn segment<'a>(pace: &Pace, list: Term<'a>, work: Work) -> NifResult<(Vec<Binary<'a>>, Term<'a>)> {
    let budget = pace.left().as_secs_f64() * rayon::current_num_threads() as f64;
    let mut items = Vec::new();
    let mut rest = list;
    let mut cost = 0.0;
    let (mut unknown, mut unknown_bytes) = (0, 0);
    while !rest.is_empty_list() && cost < budget {
        let (head, tail) = rest.list_get_cell()?;
        let binary: Binary = head.decode()?;
        if is_large(pace, work, binary.len()) {
            break;
        }
        match RATES.estimate(work, binary.len()) {
            Some(estimate) => cost += estimate.as_secs_f64(),
            None => {
                unknown += 1;
                unknown_bytes += binary.len();
                if !items.is_empty() && (unknown > UNKNOWN_ITEMS || unknown_bytes > UNKNOWN_BYTES) {
                    break;
                }
            }
        }
        items.push(binary);
        rest = tail;
    }
    Ok((items, rest))
}

/// The run of large items at the front of `list`, as a new list, and the rest.
fn large_run<'a>(pace: &Pace, list: Term<'a>, work: Work) -> NifResult<(Vec<Term<'a>>, Term<'a>)> {
    let mut large = Vec::new();
    let mut rest = list;
    while !rest.is_empty_list() {
        let (head, tail) = rest.list_get_cell()?;
        let binary: Binary = head.decode()?;
        if !is_large(pace, work, binary.len()) {
            break;
        }
        large.push(head);
        rest = tail;
    }
    Ok((large, rest))
}
