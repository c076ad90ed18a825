//! Ed25519 keys and detached signatures in Nix's formats.
//!
//! - secret key: `name:` + base64 of 64 bytes (the 32-byte seed, then the public key), as
//!   `nix key generate-secret` writes it (libsodium's layout);
//! - public key: `name:` + base64 of the 32-byte key, as `nix key
//!   convert-secret-to-public` writes it;
//! - signature: `name:` + base64 of the 64-byte signature of a store path's fingerprint.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::NixError;

/// A secret key with its name.
#[derive(Clone)]
pub struct SecretKey {
    name: String,
    key: SigningKey,
}

/// A public key with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

fn split<'t>(
    text: &'t str,
    what: &str,
    reason: &'static str,
) -> Result<(&'t str, Vec<u8>), NixError> {
    let (name, encoded) = text
        .split_once(':')
        .ok_or_else(|| NixError::new(reason, format!("a {what} is `name:base64`; no `:` found")))?;
    check_name(name, reason)?;
    let bytes = STANDARD
        .decode(encoded.trim_end())
        .map_err(|e| NixError::new(reason, format!("the {what} is not valid base64: {e}")))?;
    Ok((name, bytes))
}

fn check_name(name: &str, reason: &'static str) -> Result<(), NixError> {
    if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
        return Err(NixError::new(
            reason,
            format!("key name {name:?} must be non-empty, without `:` or white space"),
        ));
    }
    Ok(())
}

impl SecretKey {
    /// A new key named `name`, from 32 random bytes of the operating system.
    pub fn generate(name: &str) -> Result<Self, NixError> {
        check_name(name, "invalid_key")?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| NixError::new("invalid_key", format!("no randomness: {e}")))?;
        Ok(Self {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads `name:base64(seed ++ public key)`. The public half must match the seed.
    pub fn parse(text: &str) -> Result<Self, NixError> {
        let (name, bytes) = split(text, "secret key", "invalid_key")?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            NixError::new(
                "invalid_key",
                format!("a secret key is 64 bytes, this one is {}", bytes.len()),
            )
        })?;
        let (seed, public) = bytes.split_at(32);
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NixError::new("invalid_key", "seed"))?;
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().as_bytes() != public {
            return Err(NixError::new(
                "invalid_key",
                "the secret key's public half does not match its seed",
            ));
        }
        Ok(Self {
            name: name.to_string(),
            key,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `name:base64(seed ++ public key)`.
    pub fn to_text(&self) -> String {
        let mut bytes = self.key.to_bytes().to_vec();
        bytes.extend_from_slice(self.key.verifying_key().as_bytes());
        format!("{}:{}", self.name, STANDARD.encode(bytes))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The detached signature of `message`, as `name:base64(signature)`.
    ///
    /// ```
    /// use chunker_core::nix::signing::{SecretKey, verify};
    /// let key = SecretKey::generate("cache.example.org-1").unwrap();
    /// let sig = key.sign(b"1;/nix/store/...");
    /// assert!(sig.starts_with("cache.example.org-1:"));
    /// assert!(verify(b"1;/nix/store/...", &sig, &[key.public_key()]));
    /// assert!(!verify(b"1;/nix/store/.!.", &sig, &[key.public_key()]));
    /// ```
    pub fn sign(&self, message: &[u8]) -> String {
        let signature: Signature = self.key.sign(message);
        format!("{}:{}", self.name, STANDARD.encode(signature.to_bytes()))
    }
}

impl PublicKey {
    /// Reads `name:base64(32-byte key)`.
    pub fn parse(text: &str) -> Result<Self, NixError> {
        let (name, bytes) = split(text, "public key", "invalid_key")?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            NixError::new(
                "invalid_key",
                format!("a public key is 32 bytes, this one is {}", bytes.len()),
            )
        })?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| NixError::new("invalid_key", "not a valid ed25519 public key"))?;
        Ok(Self {
            name: name.to_string(),
            key,
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `name:base64(key)`.
    pub fn to_text(&self) -> String {
        format!("{}:{}", self.name, STANDARD.encode(self.key.as_bytes()))
    }
}

/// Reads a signature `name:base64(64 bytes)` into its key name and signature.
pub fn parse_signature(text: &str) -> Result<(String, Signature), NixError> {
    let (name, bytes) = split(text, "signature", "invalid_signature")?;
    let signature = Signature::from_slice(&bytes).map_err(|_| {
        NixError::new(
            "invalid_signature",
            format!("a signature is 64 bytes, this one is {}", bytes.len()),
        )
    })?;
    Ok((name.to_string(), signature))
}

/// True if `signature` (`name:base64`) is a valid signature of `message` by the key of
/// that name among `keys`. A malformed signature, or one by a key not listed, is not valid.
pub fn verify(message: &[u8], signature: &str, keys: &[PublicKey]) -> bool {
    check(message, signature, keys).is_ok()
}

/// Like [`verify`], but says why a signature is not valid: `invalid_signature` (malformed),
/// `untrusted_key` (no key of its name among `keys`) or `bad_signature` (it does not verify:
/// the message or the signature was altered, or another key of that name made it).
pub fn check(message: &[u8], signature: &str, keys: &[PublicKey]) -> Result<(), NixError> {
    let (name, signature) = parse_signature(signature)?;
    let mut named = keys.iter().filter(|key| key.name == name).peekable();
    if named.peek().is_none() {
        return Err(NixError::new(
            "untrusted_key",
            format!("no trusted key is named {name:?}"),
        ));
    }
    if named.any(|key| key.key.verify_strict(message, &signature).is_ok()) {
        Ok(())
    } else {
        Err(NixError::new(
            "bad_signature",
            format!("the signature by {name:?} does not match the message"),
        ))
    }
}
