//! BLAKE3 and SHA-256: one call for a small binary on a normal scheduler, or a hasher
//! resource that large inputs are fed to in bounded slices (dirty or normal).

use std::sync::Mutex;

use chunker_core::{HashAlgorithm, Hasher};
use rustler::{Atom, Binary, Encoder, Env, NewBinary, NifResult, Resource, ResourceArc, Term};

use crate::atoms;
use crate::exclusive::with_state;
use crate::timeslice;

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
