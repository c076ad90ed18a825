//! The one shape of every error the NIF returns: `{:error, {reason, message, details}}`,
//! where `reason` is an atom to match on, `message` says what is wrong in the user's terms and
//! `details` is a map of what a caller can act on (`offset`, `option`, `path`, ...), often
//! empty. `Chunker.Error.from_native/1` is its one decoder on the Elixir side.

use chunker_core::compression::{CompressionError, Detected};
use chunker_core::file::FsError;
use chunker_core::nar::NarError;
use chunker_core::nix::NixError;
use chunker_core::{ConfigError, FinishedError, NarChunkError};
use rustler::{Atom, Encoder, Env, Term};

use crate::atoms;

/// A value in an error's details.
pub enum Detail {
    Integer(u64),
    Atom(&'static str),
    Text(String),
}

/// An error on its way to becoming `{:error, {reason, message, details}}`.
pub struct NativeError {
    reason: &'static str,
    message: String,
    details: Vec<(&'static str, Detail)>,
}

impl NativeError {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds `key => value` to the details.
    pub fn with(mut self, key: &'static str, value: Detail) -> Self {
        self.details.push((key, value));
        self
    }

    /// A resource used by another call at the same moment (waiting would block a scheduler).
    pub fn busy() -> Self {
        Self::new(
            "stream_busy",
            "the stream is in use by another call at the same moment",
        )
    }

    /// A resource used after it was finished or closed, or after a call on it panicked.
    pub fn finished() -> Self {
        Self::new(
            "stream_finished",
            "the stream is already finished or closed",
        )
    }

    /// `{:error, {reason, message, details}}`
    /// Counted by reason in `Chunker.stats/0`: every error returned is built here.
    pub fn term<'a>(&self, env: Env<'a>) -> Term<'a> {
        crate::stats::STATS.error(self.reason);
        let reason = atom(env, self.reason);
        let mut details = Term::map_new(env);
        for (key, value) in &self.details {
            let value = match value {
                Detail::Integer(n) => n.encode(env),
                Detail::Atom(name) => atom(env, name).encode(env),
                Detail::Text(text) => text.encode(env),
            };
            details = details
                .map_put(atom(env, key).encode(env), value)
                .unwrap_or(details);
        }
        (atoms::error(), (reason, self.message.as_str(), details)).encode(env)
    }
}

/// Every reason is a fixed name from this crate or the core; `error` only if one were not a
/// valid atom name.
fn atom(env: Env<'_>, name: &str) -> Atom {
    Atom::from_str(env, name).unwrap_or_else(|_| atoms::error())
}

fn format_name(found: Detected) -> &'static str {
    match found {
        Detected::Format(format) => format.name(),
        Detected::Gzip => "gzip",
        Detected::Unknown => "unknown",
    }
}

impl From<&CompressionError> for NativeError {
    fn from(error: &CompressionError) -> Self {
        let base = Self::new(error.reason(), error.to_string());
        match error {
            CompressionError::TrailingData { offset } => {
                base.with("offset", Detail::Integer(*offset))
            }
            CompressionError::SizeExceeded { limit } => base.with("limit", Detail::Integer(*limit)),
            CompressionError::FormatMismatch {
                expected,
                found,
                offset,
            } => base
                .with("format", Detail::Atom(expected.name()))
                .with("found", Detail::Atom(format_name(*found)))
                .with("offset", Detail::Integer(*offset)),
            CompressionError::DictionaryRequired { id }
            | CompressionError::UnknownDictionary { id } => {
                base.with("id", Detail::Integer(u64::from(*id)))
            }
            CompressionError::Finished => Self::finished(),
            _ => base,
        }
    }
}

impl From<CompressionError> for NativeError {
    fn from(error: CompressionError) -> Self {
        Self::from(&error)
    }
}

impl From<&NarError> for NativeError {
    fn from(error: &NarError) -> Self {
        Self::new("invalid_nar", error.to_string()).with("offset", Detail::Integer(error.offset))
    }
}

impl From<NarChunkError> for NativeError {
    fn from(error: NarChunkError) -> Self {
        match error {
            NarChunkError::Nar(error) => Self::from(&error),
            NarChunkError::Finished => Self::finished(),
        }
    }
}

impl From<FinishedError> for NativeError {
    fn from(_: FinishedError) -> Self {
        Self::finished()
    }
}

impl From<NixError> for NativeError {
    fn from(error: NixError) -> Self {
        Self::new(error.reason, error.message)
    }
}

impl From<&ConfigError> for NativeError {
    fn from(error: &ConfigError) -> Self {
        Self::new("invalid_options", error.message.as_str())
            .with("option", Detail::Atom(error.option.name()))
    }
}

impl From<FsError> for NativeError {
    fn from(error: FsError) -> Self {
        let path = error.path.to_string_lossy().into_owned();
        Self::new(error.reason, error.message).with("path", Detail::Text(path))
    }
}

/// An option the NIF checks itself (for example a format or level), named in `details`.
pub fn invalid_option(option: &'static str, message: impl Into<String>) -> NativeError {
    NativeError::new("invalid_options", message).with("option", Detail::Atom(option))
}

/// The option a compression `InvalidOptions` error is about.
pub fn compression_option(error: CompressionError, option: &'static str) -> NativeError {
    match error {
        CompressionError::InvalidOptions(message) => invalid_option(option, message),
        other => NativeError::from(&other),
    }
}
