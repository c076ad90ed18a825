//! BLAKE3 and SHA-256: a binary hashed in steps against the call's deadline (a hasher
//! resource carries the work on when one call is not enough), batches of binaries
//! (`lists.rs`), and a step that advances many hashers at once.

use std::sync::Mutex;

use chunker_core::{HashAlgorithm, Hasher};
use rustler::{Atom, Binary, Encoder, Env, NewBinary, NifResult, Resource, ResourceArc, Term};

use crate::atoms;
use crate::error::NativeError;
use crate::exclusive::with_state;
use crate::lists;
use crate::pace::{twin_nifs, Pace, Pacing, Steps, Work};
use crate::stats::{Live, ResourceKind, STATS};
use crate::terms::proper_list;

fn decode_algorithm(atom: Atom) -> NifResult<HashAlgorithm> {
    if atom == atoms::blake3() {
        Ok(HashAlgorithm::Blake3)
    } else if atom == atoms::sha256() {
        Ok(HashAlgorithm::Sha256)
    } else {
        Err(rustler::Error::BadArg)
    }
}

/// The digest of `bytes`, counted.
fn hash_counted(algorithm: HashAlgorithm, bytes: &[u8]) -> [u8; 32] {
    STATS.hashed(algorithm, bytes.len());
    STATS.digest(algorithm);
    algorithm.hash(bytes)
}

fn digest_binary<'a>(env: Env<'a>, digest: &[u8; 32]) -> Term<'a> {
    NewBinary::from_slice(env, digest).into()
}

pub struct HasherResource {
    /// `None` once finished.
    hasher: Mutex<Option<Hasher>>,
    algorithm: HashAlgorithm,
    pacing: Pacing,
    _live: Live,
}

impl HasherResource {
    fn new(hasher: Hasher, algorithm: HashAlgorithm, pacing: Pacing) -> Self {
        Self {
            hasher: Mutex::new(Some(hasher)),
            algorithm,
            pacing,
            _live: Live::new(ResourceKind::Hasher),
        }
    }
}

/// A hasher's digest, counted.
fn finalize(hasher: Hasher, algorithm: HashAlgorithm) -> [u8; 32] {
    STATS.digest(algorithm);
    hasher.finalize()
}

#[rustler::resource_impl]
impl Resource for HasherResource {}

/// Smallest step: below it the hashers' SIMD paths do not get going.
const STEP_FLOOR: usize = 16 * 1024;

/// Feeds `input[from..]` to `hasher` in steps until it is used up or the deadline passes;
/// returns the index reached.
fn update_steps(
    pace: &Pace,
    (algorithm, pacing): (HashAlgorithm, &Pacing),
    hasher: &mut Hasher,
    input: &[u8],
    from: usize,
) -> usize {
    let mut steps = Steps::new(pace, Work::Hash(algorithm), STEP_FLOOR).after(pacing);
    let stepped = steps.over(from, input.len(), 0, |at, end| {
        hasher.update(input.get(at..end).unwrap_or_default());
        Ok::<_, ()>(0)
    });
    pacing.keep(&steps);
    let at = stepped.unwrap_or(from);
    STATS.hashed(algorithm, at - from);
    at
}

/// `hash(binary, algorithm)` -> `{:done, digest}`, or `{:cont, hasher, from}` when the binary
/// is too large for one normal-scheduler call: the caller goes on with `hasher_update` from
/// `from`, then `hasher_finish`. Normal scheduler, charged.
#[rustler::nif]
fn hash<'a>(env: Env<'a>, input: Binary<'a>, algorithm: Atom) -> NifResult<Term<'a>> {
    let algorithm = decode_algorithm(algorithm)?;
    let pace = Pace::normal();
    let bytes = input.as_slice();
    let reply = if pace.fits(Work::Hash(algorithm), bytes.len()) {
        let digest = pace.measure(Work::Hash(algorithm), bytes.len(), || {
            hash_counted(algorithm, bytes)
        });
        (atoms::done(), digest_binary(env, &digest)).encode(env)
    } else {
        let mut hasher = algorithm.hasher();
        let pacing = Pacing::default();
        let at = update_steps(&pace, (algorithm, &pacing), &mut hasher, bytes, 0);
        let resource = ResourceArc::new(HasherResource::new(hasher, algorithm, pacing));
        (atoms::cont(), resource, at).encode(env)
    };
    pace.charge(env);
    Ok(reply)
}

/// `hasher_new(algorithm)` -> a hasher.
#[rustler::nif]
fn hasher_new(algorithm: Atom) -> NifResult<ResourceArc<HasherResource>> {
    let algorithm = decode_algorithm(algorithm)?;
    Ok(ResourceArc::new(HasherResource::new(
        algorithm.hasher(),
        algorithm,
        Pacing::default(),
    )))
}

fn update<'a>(
    env: Env<'a>,
    pace: &Pace,
    resource: ResourceArc<HasherResource>,
    input: Binary<'a>,
    from: usize,
) -> NifResult<Term<'a>> {
    if from > input.len() {
        return Err(rustler::Error::BadArg);
    }
    with_state(env, &resource.hasher, |state| match state.as_mut() {
        Some(hasher) => {
            let pacing = (resource.algorithm, &resource.pacing);
            let at = update_steps(pace, pacing, hasher, input.as_slice(), from);
            Ok(if at == input.len() {
                (atoms::done(), atoms::nil()).encode(env)
            } else {
                (atoms::cont(), atoms::nil(), at).encode(env)
            })
        }
        None => Ok(NativeError::finished().term(env)),
    })
}

twin_nifs! {
    /// `hasher_update(hasher, binary, from)` -> `{:done, nil}` once `binary[from..]` is
    /// hashed, or `{:cont, nil, next_from}` when the deadline came first.
    fn hasher_update / hasher_update_dirty(resource: ResourceArc<HasherResource>, input: Binary<'a>, from: usize)
        = update(resource, input, from);
}

/// `hasher_finish(hasher)` -> `{:ok, digest}`; the hasher cannot be used afterwards.
#[rustler::nif]
fn hasher_finish<'a>(env: Env<'a>, resource: ResourceArc<HasherResource>) -> NifResult<Term<'a>> {
    with_state(env, &resource.hasher, |state| match state.take() {
        Some(hasher) => {
            let digest = finalize(hasher, resource.algorithm);
            Ok((atoms::ok(), digest_binary(env, &digest)).encode(env))
        }
        None => Ok(NativeError::finished().term(env)),
    })
}

fn hash_items<'a>(
    env: Env<'a>,
    pace: &Pace,
    binaries: Term<'a>,
    algorithm: Atom,
) -> NifResult<Term<'a>> {
    let algorithm = decode_algorithm(algorithm)?;
    lists::run(
        env,
        pace,
        binaries,
        Work::Hash(algorithm),
        |bytes| hash_counted(algorithm, bytes),
        |_, digest| Ok(digest_binary(env, &digest)),
    )
}

twin_nifs! {
    /// `hash_list(binaries, algorithm)` -> the digests of the list's binaries, in the shapes of
    /// `lists.rs`: in order on a normal scheduler, in parallel on rayon's pool on a dirty one.
    fn hash_list / hash_list_dirty(binaries: Term<'a>, algorithm: Atom)
        = hash_items(binaries, algorithm);
}

/// `hashers_step([{hasher, binary, from}])` -> one result per entry: each hasher is fed
/// `binary[from..]` until it is used up (`{:done, digest}`: the hasher is finished) or the
/// call's deadline passes (`{:cont, next_from}`), all in parallel on rayon's pool, or
/// `{:error, {...}}` for a hasher in use or finished. Dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn hashers_step<'a>(env: Env<'a>, entries: Term<'a>) -> NifResult<Term<'a>> {
    let entries: Vec<(ResourceArc<HasherResource>, Binary<'a>, usize)> = proper_list(entries)?;
    let pace = Pace::dirty();
    let work: Vec<(&HasherResource, &[u8], usize)> = entries
        .iter()
        .map(|(resource, binary, from)| {
            if *from > binary.len() {
                return Err(rustler::Error::BadArg);
            }
            Ok((&**resource, binary.as_slice(), *from))
        })
        .collect::<NifResult<_>>()?;
    let stepped: Vec<Result<Result<[u8; 32], usize>, NativeError>> =
        chunker_core::parallel::map(&work, |(resource, input, from)| {
            let mut state = resource
                .hasher
                .try_lock()
                .map_err(|_| NativeError::busy())?;
            let hasher = state.as_mut().ok_or_else(NativeError::finished)?;
            let pacing = (resource.algorithm, &resource.pacing);
            let at = update_steps(&pace, pacing, hasher, input, *from);
            if at < input.len() {
                return Ok(Err(at));
            }
            let hasher = state.take().ok_or_else(NativeError::finished)?;
            Ok(Ok(finalize(hasher, resource.algorithm)))
        });
    Ok(stepped
        .into_iter()
        .map(|stepped| match stepped {
            Ok(Ok(digest)) => (atoms::done(), digest_binary(env, &digest)).encode(env),
            Ok(Err(at)) => (atoms::cont(), at).encode(env),
            Err(error) => error.term(env),
        })
        .collect::<Vec<Term<'a>>>()
        .encode(env))
}
