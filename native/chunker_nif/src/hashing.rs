//! BLAKE3 and SHA-256: one call for a small binary on a normal scheduler, or a hasher
//! resource that large inputs are fed to in bounded slices (dirty or normal); and batches:
//! a list of small binaries in time-bounded normal calls with a continuation, or on a dirty
//! scheduler in parallel, and a step that advances many hashers at once.

use std::sync::{Mutex, TryLockError};

use chunker_core::{HashAlgorithm, Hasher};
use rustler::{Atom, Binary, Encoder, Env, NewBinary, NifResult, Resource, ResourceArc, Term};

use crate::atoms;
use crate::exclusive::with_state;
use crate::rounds::{self, RoundLimits};
use crate::timeslice::{self, list_steps};

fn decode_algorithm(atom: Atom) -> NifResult<HashAlgorithm> {
    if atom == atoms::blake3() {
        Ok(HashAlgorithm::Blake3)
    } else if atom == atoms::sha256() {
        Ok(HashAlgorithm::Sha256)
    } else {
        Err(rustler::Error::BadArg)
    }
}

fn digest_binary<'a>(env: Env<'a>, digest: &[u8; 32]) -> Term<'a> {
    NewBinary::from_slice(env, digest).into()
}

/// `hash(binary, algorithm)` -> 32-byte digest; normal scheduler.
#[rustler::nif]
fn hash<'a>(env: Env<'a>, input: Binary<'a>, algorithm: Atom) -> NifResult<Term<'a>> {
    let algorithm = decode_algorithm(algorithm)?;
    let digest = timeslice::charged(env, || algorithm.hash(input.as_slice()));
    Ok(digest_binary(env, &digest))
}

pub struct HasherResource {
    hasher: Mutex<Option<Hasher>>,
}

#[rustler::resource_impl]
impl Resource for HasherResource {}

/// `hasher_new(algorithm)` -> hasher resource.
#[rustler::nif]
fn hasher_new(algorithm: Atom) -> NifResult<ResourceArc<HasherResource>> {
    let hasher = decode_algorithm(algorithm)?.hasher();
    Ok(ResourceArc::new(HasherResource {
        hasher: Mutex::new(Some(hasher)),
    }))
}

fn update<'a>(
    env: Env<'a>,
    resource: &HasherResource,
    input: Binary<'a>,
    from: usize,
    len: usize,
) -> NifResult<Term<'a>> {
    let slice = from
        .checked_add(len)
        .and_then(|end| input.as_slice().get(from..end))
        .ok_or(rustler::Error::BadArg)?;
    with_state(env, &resource.hasher, |state| match state.as_mut() {
        Some(hasher) => {
            hasher.update(slice);
            Ok(atoms::ok().encode(env))
        }
        None => Ok((atoms::error(), atoms::stream_finished()).encode(env)),
    })
}

/// `hasher_update(hasher, binary, from, len)` adds `binary[from..from+len]`; normal scheduler.
#[rustler::nif]
fn hasher_update<'a>(
    env: Env<'a>,
    resource: ResourceArc<HasherResource>,
    input: Binary<'a>,
    from: usize,
    len: usize,
) -> NifResult<Term<'a>> {
    timeslice::charged(env, || update(env, &resource, input, from, len))
}

/// `hasher_update/4` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn hasher_update_dirty<'a>(
    env: Env<'a>,
    resource: ResourceArc<HasherResource>,
    input: Binary<'a>,
    from: usize,
    len: usize,
) -> NifResult<Term<'a>> {
    update(env, &resource, input, from, len)
}

/// `hasher_finish(hasher)` -> `{:ok, digest}`; the hasher cannot be used afterwards.
#[rustler::nif]
fn hasher_finish<'a>(env: Env<'a>, resource: ResourceArc<HasherResource>) -> NifResult<Term<'a>> {
    with_state(env, &resource.hasher, |state| match state.take() {
        Some(hasher) => Ok((atoms::ok(), digest_binary(env, &hasher.finalize())).encode(env)),
        None => Ok((atoms::error(), atoms::stream_finished()).encode(env)),
    })
}

/// `hash_list(binaries, algorithm, budget_us)` -> `{:done, digests}` or
/// `{:cont, digests, rest}`: hashes the list's binaries in order on a normal scheduler until
/// about `budget_us` have passed, and the caller resumes with `rest`. Charged.
#[rustler::nif]
fn hash_list<'a>(
    env: Env<'a>,
    binaries: Term<'a>,
    algorithm: Atom,
    budget_us: u64,
) -> NifResult<Term<'a>> {
    let algorithm = decode_algorithm(algorithm)?;
    list_steps(env, binaries, budget_us, |term| {
        let binary: Binary = term.decode()?;
        Ok(digest_binary(env, &algorithm.hash(binary.as_slice())))
    })
}

/// `hash_round(binaries, algorithm, {budget, per_item, max_item})` -> `{:done, digests}` or
/// `{:cont, digests, rest}`: hashes one round of the list's binaries (see `rounds.rs`) in
/// parallel on rayon's pool; dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn hash_round<'a>(
    env: Env<'a>,
    binaries: Term<'a>,
    algorithm: Atom,
    limits: (u64, u64, u64),
) -> NifResult<Term<'a>> {
    let algorithm = decode_algorithm(algorithm)?;
    let (round, rest) = rounds::take(binaries, RoundLimits::from(limits))?;
    let items: Vec<&[u8]> = round.iter().map(|binary| binary.as_slice()).collect();
    let digests = algorithm
        .hash_many(&items)
        .iter()
        .map(|digest| digest_binary(env, digest))
        .collect();
    Ok(rounds::reply(env, digests, rest))
}

/// `hashers_step([{hasher, binary, from, len, finish}])` -> one result per entry: each
/// hasher is fed `binary[from..from+len]` (and finished when `finish`), all in parallel on
/// rayon's pool. A finished entry gives `{:ok, digest}`, others `{:ok, len, false}` (the
/// shape of the codecs' steps). Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn hashers_step<'a>(
    env: Env<'a>,
    entries: Vec<(ResourceArc<HasherResource>, Binary<'a>, usize, usize, bool)>,
) -> NifResult<Term<'a>> {
    let work: Vec<(&HasherResource, &[u8], bool)> = entries
        .iter()
        .map(|(resource, binary, from, len, finish)| {
            let slice = from
                .checked_add(*len)
                .and_then(|end| binary.as_slice().get(*from..end))
                .ok_or(rustler::Error::BadArg)?;
            Ok((&**resource, slice, *finish))
        })
        .collect::<NifResult<_>>()?;
    let stepped: Vec<Result<Option<[u8; 32]>, Atom>> =
        chunker_core::parallel::map(&work, |(resource, input, finish)| {
            // A hasher in use by another call, or already finished, fails its entry alone.
            let mut state = match resource.hasher.try_lock() {
                Ok(state) => state,
                Err(TryLockError::WouldBlock) => return Err(atoms::stream_busy()),
                Err(TryLockError::Poisoned(_)) => return Err(atoms::stream_finished()),
            };
            let finished = atoms::stream_finished();
            if *finish {
                let mut hasher = state.take().ok_or(finished)?;
                hasher.update(input);
                Ok(Some(hasher.finalize()))
            } else {
                state.as_mut().ok_or(finished)?.update(input);
                Ok(None)
            }
        });
    Ok(work
        .iter()
        .zip(stepped)
        .map(|((_, input, _), stepped)| match stepped {
            Ok(Some(digest)) => (atoms::ok(), digest_binary(env, &digest)).encode(env),
            Ok(None) => (atoms::ok(), input.len(), false).encode(env),
            Err(reason) => (atoms::error(), reason).encode(env),
        })
        .collect::<Vec<Term<'a>>>()
        .encode(env))
}
