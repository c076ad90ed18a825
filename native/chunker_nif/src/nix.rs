//! Nix's text formats: nix-base32, ed25519 keys and signatures, narinfo.
//!
//! Every function returns `{:ok, value}` or `{:error, {reason, message}}` for bad input (a
//! wrong term type is a `badarg`). Inputs are small (hashes, keys, narinfo text), so these
//! run on the caller's normal scheduler, charged for their time; base32 of a large binary
//! has a dirty twin, picked by `Chunker.Nix.Base32`.

use chunker_core::nix::narinfo::NarInfo;
use chunker_core::nix::signing::{self, PublicKey, SecretKey};
use chunker_core::nix::{base32, NixError};
use rustler::{Atom, Binary, Encoder, Env, NewBinary, NifResult, NifStruct, Term};

use crate::atoms;
use crate::timeslice;

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

impl From<NarInfo> for NarInfoTerm {
    fn from(info: NarInfo) -> Self {
        Self {
            store_path: info.store_path,
            url: info.url,
            compression: info.compression,
            file_hash: info.file_hash,
            file_size: info.file_size,
            nar_hash: info.nar_hash,
            nar_size: info.nar_size,
            references: info.references,
            deriver: info.deriver,
            system: info.system,
            sigs: info.sigs,
            ca: info.ca,
            extra: info.extra,
        }
    }
}

impl From<NarInfoTerm> for NarInfo {
    fn from(info: NarInfoTerm) -> Self {
        Self {
            store_path: info.store_path,
            url: info.url,
            compression: info.compression,
            file_hash: info.file_hash,
            file_size: info.file_size,
            nar_hash: info.nar_hash,
            nar_size: info.nar_size,
            references: info.references,
            deriver: info.deriver,
            system: info.system,
            sigs: info.sigs,
            ca: info.ca,
            extra: info.extra,
        }
    }
}

fn error<'a>(env: Env<'a>, error: &NixError) -> Term<'a> {
    let reason = Atom::from_str(env, error.reason).unwrap_or_else(|_| atoms::error());
    (atoms::error(), (reason, error.message.as_str())).encode(env)
}

fn ok_or_error<'a, T: Encoder>(env: Env<'a>, result: Result<T, NixError>) -> Term<'a> {
    match result {
        Ok(value) => (atoms::ok(), value).encode(env),
        Err(e) => error(env, &e),
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

fn encode_base32<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    base32::encode(data.as_slice()).encode(env)
}

fn decode_base32<'a>(env: Env<'a>, encoded: Binary<'a>) -> Term<'a> {
    let decoded = text(&encoded, "invalid_base32", "input").and_then(base32::decode);
    match decoded {
        Ok(decoded) => (atoms::ok(), bytes(env, &decoded)).encode(env),
        Err(e) => error(env, &e),
    }
}

/// `base32_encode(binary)` -> the nix-base32 string.
#[rustler::nif]
fn base32_encode<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    timeslice::charged(env, || encode_base32(env, data))
}

/// `base32_encode/1` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn base32_encode_dirty<'a>(env: Env<'a>, data: Binary<'a>) -> Term<'a> {
    encode_base32(env, data)
}

/// `base32_decode(string)` -> `{:ok, binary}` or `{:error, {:invalid_base32, message}}`.
#[rustler::nif]
fn base32_decode<'a>(env: Env<'a>, encoded: Binary<'a>) -> Term<'a> {
    timeslice::charged(env, || decode_base32(env, encoded))
}

/// `base32_decode/1` on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn base32_decode_dirty<'a>(env: Env<'a>, encoded: Binary<'a>) -> Term<'a> {
    decode_base32(env, encoded)
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

/// `signing_sign(message, secret_key_text)` -> `{:ok, "name:base64"}`.
#[rustler::nif]
fn signing_sign<'a>(env: Env<'a>, message: Binary<'a>, secret: Binary<'a>) -> Term<'a> {
    timeslice::charged(env, || {
        let key = text(&secret, "invalid_key", "secret key").and_then(SecretKey::parse);
        ok_or_error(env, key.map(|key| key.sign(message.as_slice())))
    })
}

/// `signing_check(message, signature, [public_key_text])` -> `:ok`, or
/// `{:error, {reason, message}}`: `invalid_key` for a malformed key, and the reasons of
/// `chunker_core::nix::signing::check`.
#[rustler::nif]
fn signing_check<'a>(
    env: Env<'a>,
    message: Binary<'a>,
    signature: Binary<'a>,
    keys: Vec<Binary<'a>>,
) -> Term<'a> {
    timeslice::charged(env, || {
        let checked = keys
            .iter()
            .map(|key| text(key, "invalid_key", "public key").and_then(PublicKey::parse))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|keys| {
                let signature = text(&signature, "invalid_signature", "signature")?;
                signing::check(message.as_slice(), signature, &keys)
            });
        match checked {
            Ok(()) => atoms::ok().encode(env),
            Err(e) => error(env, &e),
        }
    })
}

fn parse_narinfo<'a>(env: Env<'a>, input: Binary<'a>) -> Term<'a> {
    let info = text(&input, "invalid_narinfo", "narinfo").and_then(NarInfo::parse);
    ok_or_error(env, info.map(NarInfoTerm::from))
}

/// `narinfo_parse(text)` -> `{:ok, %Chunker.Nix.NarInfo{}}`.
#[rustler::nif]
fn narinfo_parse<'a>(env: Env<'a>, input: Binary<'a>) -> Term<'a> {
    timeslice::charged(env, || parse_narinfo(env, input))
}

/// `narinfo_parse/1` on a dirty CPU scheduler, for large (e.g. hostile) text.
#[rustler::nif(schedule = "DirtyCpu")]
fn narinfo_parse_dirty<'a>(env: Env<'a>, input: Binary<'a>) -> Term<'a> {
    parse_narinfo(env, input)
}

/// A `%Chunker.Nix.NarInfo{}` with a field of the wrong type is a `badarg` (rustler's own
/// decoding error would surface as an `ErlangError` with a message meant for developers).
fn decode_narinfo(term: Term<'_>) -> NifResult<NarInfo> {
    let info: NarInfoTerm = term.decode().map_err(|_| rustler::Error::BadArg)?;
    Ok(NarInfo::from(info))
}

/// `narinfo_to_text(%Chunker.Nix.NarInfo{})` -> the narinfo text (not validated).
#[rustler::nif]
fn narinfo_to_text<'a>(env: Env<'a>, info: Term<'a>) -> NifResult<Term<'a>> {
    timeslice::charged(env, || Ok(decode_narinfo(info)?.to_text().encode(env)))
}

/// `narinfo_fingerprint(%Chunker.Nix.NarInfo{})` -> `{:ok, fingerprint}`.
#[rustler::nif]
fn narinfo_fingerprint<'a>(env: Env<'a>, info: Term<'a>) -> NifResult<Term<'a>> {
    timeslice::charged(env, || {
        Ok(ok_or_error(env, decode_narinfo(info)?.fingerprint()))
    })
}
