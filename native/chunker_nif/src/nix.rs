//! Nix's text formats: nix-base32, ed25519 keys and signatures, narinfo.
//!
//! Bad input is an error in the shape of `error.rs` (a wrong term type is a `badarg`). Inputs
//! are small in practice (hashes, keys, narinfo text) and run on the caller's normal
//! scheduler, charged; whatever grows with its input (base32, narinfo text, signing a
//! message) has a dirty twin, and the normal one returns `{:cont, nil, nil}` when the work is
//! not expected to fit (see `pace.rs`).

use chunker_core::nix::narinfo::NarInfo;
use chunker_core::nix::signing::{self, PublicKey, SecretKey};
use chunker_core::nix::{base32, NixError};
use rustler::{Binary, Encoder, Env, NewBinary, NifResult, NifStruct, Term};

use crate::atoms;
use crate::error::NativeError;
use crate::pace::{twin_nifs, Pace, Work};

/// `%Chunker.Nix.NarInfo{}`, field for field.
#[derive(NifStruct)]
#[module = "Chunker.Nix.NarInfo"]
struct NarInfoTerm {
    store_path: String,
    url: String,
    compression: Option<String>,
    file_hash: Option<String>,
    file_size: Option<u64>,
    nar_hash: String,
    nar_size: u64,
    references: Vec<String>,
    deriver: Option<String>,
    system: Option<String>,
    sigs: Vec<String>,
    ca: Option<String>,
    extra: Vec<(String, String)>,
}

/// `From` both ways between two structs with the same fields.
macro_rules! field_for_field {
    ($a:ident <-> $b:ident: $($field:ident),* $(,)?) => {
        impl From<$a> for $b {
            fn from(value: $a) -> Self {
                Self { $($field: value.$field),* }
            }
        }

        impl From<$b> for $a {
            fn from(value: $b) -> Self {
                Self { $($field: value.$field),* }
            }
        }
    };
}

field_for_field!(NarInfo <-> NarInfoTerm: store_path, url, compression, file_hash, file_size,
    nar_hash, nar_size, references, deriver, system, sigs, ca, extra);

/// `{:done, value}`, or the error.
fn done<'a, T: Encoder>(env: Env<'a>, result: Result<T, NixError>) -> Term<'a> {
    match result {
        Ok(value) => (atoms::done(), value).encode(env),
        Err(error) => NativeError::from(error).term(env),
    }
}

/// `f`'s result, unless this is a normal-scheduler call and work of `bytes` is not expected to
/// fit it: then the request to call the dirty twin, `{:cont, nil, nil}`.
fn if_fits<'a>(
    env: Env<'a>,
    pace: &Pace,
    bytes: usize,
    f: impl FnOnce() -> Term<'a>,
) -> NifResult<Term<'a>> {
    if !pace.is_normal() || pace.fits(Work::Text, bytes) {
        Ok(pace.measure(Work::Text, bytes, f))
    } else {
        Ok((atoms::cont(), atoms::nil(), atoms::nil()).encode(env))
    }
}

/// Text arguments are binaries; one that is not UTF-8 cannot be a valid key, signature or
/// narinfo, and says so.
fn text<'b>(binary: &'b Binary<'_>, reason: &'static str, what: &str) -> Result<&'b str, NixError> {
    std::str::from_utf8(binary.as_slice())
        .map_err(|_| NixError::new(reason, format!("the {what} is not UTF-8 text")))
}

fn bytes<'a>(env: Env<'a>, data: &[u8]) -> Term<'a> {
    let binary: Binary<'a> = NewBinary::from_slice(env, data).into();
    binary.to_term(env)
}

fn encode_base32<'a>(env: Env<'a>, pace: &Pace, data: Binary<'a>) -> NifResult<Term<'a>> {
    if_fits(env, pace, data.len(), || {
        (atoms::done(), base32::encode(data.as_slice())).encode(env)
    })
}

twin_nifs! {
    /// `base32_encode(binary)` -> `{:done, string}`.
    fn base32_encode / base32_encode_dirty(data: Binary<'a>)
        = encode_base32(data);
}

fn decode_base32<'a>(env: Env<'a>, pace: &Pace, encoded: Binary<'a>) -> NifResult<Term<'a>> {
    if_fits(env, pace, encoded.len(), || {
        let decoded = text(&encoded, "invalid_base32", "input").and_then(base32::decode);
        done(env, decoded.map(|decoded| bytes(env, &decoded)))
    })
}

twin_nifs! {
    /// `base32_decode(string)` -> `{:done, binary}` or the `invalid_base32` error.
    fn base32_decode / base32_decode_dirty(encoded: Binary<'a>)
        = decode_base32(encoded);
}

/// `signing_generate(name)` -> `{:ok, secret_key_text}`.
#[rustler::nif]
fn signing_generate<'a>(env: Env<'a>, name: Binary<'a>) -> Term<'a> {
    let key = text(&name, "invalid_key", "key name").and_then(SecretKey::generate);
    ok_or_error(env, key.map(|key| key.to_text()))
}

/// `signing_public_key(secret_key_text)` -> `{:ok, public_key_text}`.
#[rustler::nif]
fn signing_public_key<'a>(env: Env<'a>, secret: Binary<'a>) -> Term<'a> {
    let key = text(&secret, "invalid_key", "secret key").and_then(SecretKey::parse);
    ok_or_error(env, key.map(|key| key.public_key().to_text()))
}

/// `signing_parse_public_key(text)` -> `{:ok, normalized_text}`.
#[rustler::nif]
fn signing_parse_public_key<'a>(env: Env<'a>, public: Binary<'a>) -> Term<'a> {
    let key = text(&public, "invalid_key", "public key").and_then(PublicKey::parse);
    ok_or_error(env, key.map(|key| key.to_text()))
}

fn ok_or_error<'a, T: Encoder>(env: Env<'a>, result: Result<T, NixError>) -> Term<'a> {
    match result {
        Ok(value) => (atoms::ok(), value).encode(env),
        Err(error) => NativeError::from(error).term(env),
    }
}

fn sign<'a>(
    env: Env<'a>,
    pace: &Pace,
    message: Binary<'a>,
    secret: Binary<'a>,
) -> NifResult<Term<'a>> {
    // Signing hashes the message (twice, with SHA-512), so its cost grows with it.
    if_fits(env, pace, message.len(), || {
        let key = text(&secret, "invalid_key", "secret key").and_then(SecretKey::parse);
        done(env, key.map(|key| key.sign(message.as_slice())))
    })
}

twin_nifs! {
    /// `signing_sign(message, secret_key_text)` -> `{:done, "name:base64"}`.
    fn signing_sign / signing_sign_dirty(message: Binary<'a>, secret: Binary<'a>)
        = sign(message, secret);
}

fn check<'a>(
    env: Env<'a>,
    pace: &Pace,
    message: Binary<'a>,
    signature: Binary<'a>,
    keys: Vec<Binary<'a>>,
) -> NifResult<Term<'a>> {
    if_fits(env, pace, message.len(), || {
        let checked = keys
            .iter()
            .map(|key| text(key, "invalid_key", "public key").and_then(PublicKey::parse))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|keys| {
                let signature = text(&signature, "invalid_signature", "signature")?;
                signing::check(message.as_slice(), signature, &keys)
            });
        done(env, checked.map(|()| atoms::ok()))
    })
}

twin_nifs! {
    /// `signing_check(message, signature, [public_key_text])` -> `{:done, :ok}`, or the error:
    /// `invalid_key` for a malformed key, and the reasons of
    /// `chunker_core::nix::signing::check`.
    fn signing_check / signing_check_dirty(message: Binary<'a>, signature: Binary<'a>, keys: Vec<Binary<'a>>)
        = check(message, signature, keys);
}

fn parse_narinfo<'a>(env: Env<'a>, pace: &Pace, input: Binary<'a>) -> NifResult<Term<'a>> {
    if_fits(env, pace, input.len(), || {
        let info = text(&input, "invalid_narinfo", "narinfo").and_then(NarInfo::parse);
        done(env, info.map(NarInfoTerm::from))
    })
}

twin_nifs! {
    /// `narinfo_parse(text)` -> `{:done, %Chunker.Nix.NarInfo{}}`.
    fn narinfo_parse / narinfo_parse_dirty(input: Binary<'a>)
        = parse_narinfo(input);
}

/// A `%Chunker.Nix.NarInfo{}` with a field of the wrong type is a `badarg` (rustler's own
/// decoding error would surface as an `ErlangError` with a message meant for developers).
fn decode_narinfo(term: Term<'_>) -> NifResult<NarInfo> {
    let info: NarInfoTerm = term.decode().map_err(|_| rustler::Error::BadArg)?;
    Ok(NarInfo::from(info))
}

/// The text a narinfo's fields make, roughly: what writing or fingerprinting it costs.
fn narinfo_size(info: &NarInfo) -> usize {
    let fields = [
        Some(&info.store_path),
        Some(&info.url),
        info.compression.as_ref(),
        info.file_hash.as_ref(),
        Some(&info.nar_hash),
        info.deriver.as_ref(),
        info.system.as_ref(),
        info.ca.as_ref(),
    ];
    let lists = info.references.iter().chain(&info.sigs).map(String::len);
    let extra = info
        .extra
        .iter()
        .map(|(key, value)| key.len() + value.len());
    fields
        .iter()
        .flatten()
        .map(|field| field.len())
        .sum::<usize>()
        + lists.sum::<usize>()
        + extra.sum::<usize>()
}

fn narinfo_text<'a>(env: Env<'a>, pace: &Pace, info: Term<'a>) -> NifResult<Term<'a>> {
    let info = decode_narinfo(info)?;
    if_fits(env, pace, narinfo_size(&info), || {
        (atoms::done(), info.to_text()).encode(env)
    })
}

twin_nifs! {
    /// `narinfo_to_text(%Chunker.Nix.NarInfo{})` -> `{:done, text}` (not validated).
    fn narinfo_to_text / narinfo_to_text_dirty(info: Term<'a>)
        = narinfo_text(info);
}

fn fingerprint<'a>(env: Env<'a>, pace: &Pace, info: Term<'a>) -> NifResult<Term<'a>> {
    let info = decode_narinfo(info)?;
    if_fits(env, pace, narinfo_size(&info), || {
        done(env, info.fingerprint())
    })
}

twin_nifs! {
    /// `narinfo_fingerprint(%Chunker.Nix.NarInfo{})` -> `{:done, fingerprint}`.
    fn narinfo_fingerprint / narinfo_fingerprint_dirty(info: Term<'a>)
        = fingerprint(info);
}
