//! Nix's text formats: nix-base32, signing keys and signatures, narinfo files.

pub mod base32;
pub mod narinfo;
pub mod signing;

use std::fmt;

/// A Nix value that could not be read or used; the message says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NixError {
    /// Short stable name of the kind of problem, e.g. `invalid_base32`, `invalid_key`,
    /// `invalid_signature`, `invalid_narinfo`, `invalid_hash`.
    pub reason: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

impl NixError {
    /// An error of kind `reason`.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for NixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NixError {}
