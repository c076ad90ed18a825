//! zstd dictionaries as resources: loaded and prepared once, then shared by every call that
//! names one (their digested tables are never rebuilt per call); trained on a thread of
//! their own, since zstd's trainer cannot be split into steps and takes seconds on
//! megabytes of samples.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use chunker_core::compression::{train_dictionary, CompressionError, Dictionary, Format, Level};
use rustler::{Binary, Encoder, Env, LocalPid, NifResult, OwnedEnv, Resource, ResourceArc, Term};

use crate::atoms;
use crate::compression::decode_level;
use crate::error::NativeError;
use crate::stats::{Live, ResourceKind};
use crate::terms::proper_list;

pub struct DictionaryResource {
    pub(crate) dictionary: Arc<Dictionary>,
    _live: Live,
}

#[rustler::resource_impl]
impl Resource for DictionaryResource {}

/// `{:ok, dictionary, id}`, or the error.
fn loaded<'a>(env: Env<'a>, result: Result<Dictionary, CompressionError>) -> Term<'a> {
    match result {
        Ok(dictionary) => {
            let id = dictionary.id();
            let resource = ResourceArc::new(DictionaryResource {
                dictionary: Arc::new(dictionary),
                _live: Live::new(ResourceKind::Dictionary),
            });
            (atoms::ok(), resource, id).encode(env)
        }
        Err(error) => NativeError::from(&error).term(env),
    }
}

/// Loads `bytes` and prepares it for compressing at `level`.
fn load(bytes: &[u8], level: Option<Level>) -> Result<Dictionary, CompressionError> {
    let dictionary = Dictionary::new(bytes)?;
    let level = level.unwrap_or_else(|| Level::default_for(Format::Zstd));
    dictionary.prepare(level.value())?;
    Ok(dictionary)
}

/// `zstd_dictionary_load(bytes, level | nil)` -> `{:ok, dictionary, id}` or
/// `{:error, {:invalid_dictionary, ...}}`: the dictionary loaded for decoding and prepared
/// for compressing at `level` (default 3; other levels are prepared when first used). Dirty
/// CPU scheduler: both digest the whole dictionary (about a millisecond for 110 KiB at the
/// default level, more at high levels).
#[rustler::nif(schedule = "DirtyCpu")]
fn zstd_dictionary_load<'a>(
    env: Env<'a>,
    bytes: Binary<'a>,
    level: Term<'a>,
) -> NifResult<Term<'a>> {
    let level = match decode_level(Format::Zstd, level)? {
        Ok(level) => level,
        Err(error) => return Ok(error.term(env)),
    };
    Ok(loaded(env, load(bytes.as_slice(), level)))
}

/// `zstd_dictionary_bytes(dictionary)` -> the dictionary in zstd's format, a binary over the
/// resource's own copy (nothing is copied).
#[rustler::nif]
fn zstd_dictionary_bytes<'a>(
    env: Env<'a>,
    resource: ResourceArc<DictionaryResource>,
) -> Binary<'a> {
    resource.make_binary(env, |resource| resource.dictionary.bytes())
}

/// `zstd_train(samples, size, level | nil, reference)` -> `:ok`, then a message
/// `{reference, {:ok, dictionary, id} | {:error, ...}}` to the caller once a thread of its
/// own has trained a dictionary of at most `size` bytes on `samples` (a list of binaries,
/// held by reference, not copied) and prepared it at `level`. Dirty CPU scheduler (the list
/// is walked); `{:error, ...}` at once if the thread cannot be started.
#[rustler::nif(schedule = "DirtyCpu")]
fn zstd_train<'a>(
    env: Env<'a>,
    samples: Term<'a>,
    size: usize,
    level: Term<'a>,
    reference: Term<'a>,
) -> NifResult<Term<'a>> {
    // Checked here, so that a bad argument is a badarg in the caller, not a message.
    let _: Vec<Binary> = proper_list(samples)?;
    let level = match decode_level(Format::Zstd, level)? {
        Ok(level) => level,
        Err(error) => return Ok(error.term(env)),
    };
    let pid: LocalPid = env.pid();
    let mut owned = OwnedEnv::new();
    let saved_samples = owned.save(samples);
    let saved_reference = owned.save(reference);
    let spawned = std::thread::Builder::new()
        .name("chunker-train".to_owned())
        .spawn(move || {
            let trained = owned.run(|env| {
                let samples: Vec<Binary> = proper_list(saved_samples.load(env)).unwrap_or_default();
                let slices: Vec<&[u8]> = samples.iter().map(Binary::as_slice).collect();
                catch_unwind(AssertUnwindSafe(|| {
                    train_dictionary(&slices, size).and_then(|bytes| load(&bytes, level))
                }))
            });
            // The caller may be gone by now: then nobody is waiting, and the result goes.
            let _ = owned.send_and_clear(&pid, |env| {
                let result = match trained {
                    Ok(result) => loaded(env, result),
                    Err(_) => NativeError::new(
                        "training_failed",
                        "zstd's trainer panicked (a bug: please report it)",
                    )
                    .term(env),
                };
                (saved_reference.load(env), result).encode(env)
            });
        });
    Ok(match spawned {
        Ok(_) => atoms::ok().encode(env),
        Err(error) => NativeError::new(
            "training_failed",
            format!("could not start a thread to train on: {error}"),
        )
        .term(env),
    })
}
