//! Rounds of a batch: a dirty call takes binaries from the front of the caller's list until it
//! holds about one slice of work per pool thread, works on them in parallel, and returns the
//! rest for the next call (`{:cont, results, rest}`, or `{:done, results}` at the end). The
//! list is walked here rather than cut up in Elixir, which would cost more per item than
//! hashing a small one.

use rustler::{Binary, Encoder, Env, NifResult, Term};

use crate::atoms;

/// How much one call may take: `budget` units of work in all, each binary weighing its size
/// plus `per_item`, and no binary larger than `max_item` (those are the caller's to slice).
#[derive(Clone, Copy)]
pub struct RoundLimits {
    pub budget: u64,
    pub per_item: u64,
    pub max_item: u64,
}

impl From<(u64, u64, u64)> for RoundLimits {
    /// From the `{budget, per_item, max_item}` tuple the Elixir side passes.
    fn from((budget, per_item, max_item): (u64, u64, u64)) -> Self {
        RoundLimits {
            budget,
            per_item,
            max_item,
        }
    }
}

/// Takes binaries from the front of `list` within `limits` (at least one, unless the first is
/// larger than `max_item`): the binaries and the rest of the list. An improper list or an
/// element that is not a binary is a `badarg`.
pub fn take<'a>(list: Term<'a>, limits: RoundLimits) -> NifResult<(Vec<Binary<'a>>, Term<'a>)> {
    let mut items = Vec::new();
    let mut rest = list;
    let mut weight = 0u64;
    while !rest.is_empty_list() && (items.is_empty() || weight < limits.budget) {
        let (head, tail) = rest.list_get_cell()?;
        let binary: Binary = head.decode()?;
        let size = binary.len() as u64;
        if size > limits.max_item {
            break;
        }
        weight = weight.saturating_add(size).saturating_add(limits.per_item);
        items.push(binary);
        rest = tail;
    }
    Ok((items, rest))
}

/// `{:done, results}` when `rest` is empty, else `{:cont, results, rest}`.
pub fn reply<'a>(env: Env<'a>, results: Vec<Term<'a>>, rest: Term<'a>) -> Term<'a> {
    if rest.is_empty_list() {
        (atoms::done(), results).encode(env)
    } else {
        (atoms::cont(), results, rest).encode(env)
    }
}
