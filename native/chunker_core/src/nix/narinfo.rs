//! `.narinfo` files: what a binary cache says about a store path, and the fingerprint its
//! signatures sign.

use std::collections::{BTreeSet, HashSet};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{base32, NixError};

/// The contents of a `.narinfo` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NarInfo {
    /// `StorePath`: the full store path, e.g. `/nix/store/<hash>-hello-2.12`.
    pub store_path: String,
    /// `URL`: where the (compressed) NAR is, relative to the cache.
    pub url: String,
    /// `Compression`: `xz`, `zstd`, `bzip2`, `none`, ...
    pub compression: Option<String>,
    /// `FileHash`: hash of the compressed file, `sha256:<nix32>`.
    pub file_hash: Option<String>,
    /// `FileSize`: size of the compressed file.
    pub file_size: Option<u64>,
    /// `NarHash`: hash of the NAR, usually `sha256:<nix32>`.
    pub nar_hash: String,
    /// `NarSize`: size of the NAR.
    pub nar_size: u64,
    /// `References`: store paths this one refers to, as base names, in the file's order.
    pub references: Vec<String>,
    /// `Deriver`: the derivation's base name.
    pub deriver: Option<String>,
    /// `System`.
    pub system: Option<String>,
    /// `Sig` lines: `name:base64` signatures.
    pub sigs: Vec<String>,
    /// `CA`: content address.
    pub ca: Option<String>,
    /// Other keys, in the order they came: kept so that writing the file back loses nothing.
    pub extra: Vec<(String, String)>,
}

fn invalid(message: impl Into<String>) -> NixError {
    NixError::new("invalid_narinfo", message)
}

/// Checks a store path base name: 32 nix-base32 characters, `-`, a name.
fn check_base_name(name: &str) -> Result<(), NixError> {
    let (hash, rest) = name.split_at_checked(32).unwrap_or((name, ""));
    let valid_hash = hash.len() == 32 && hash.bytes().all(|c| base32::ALPHABET.contains(&c));
    match rest.strip_prefix('-') {
        Some(tail) if valid_hash && !tail.is_empty() => Ok(()),
        _ => Err(invalid(format!(
            "{name:?} is not a store path name (32 nix-base32 characters, `-`, a name)"
        ))),
    }
}

fn parse_u64(key: &str, value: &str) -> Result<u64, NixError> {
    value.parse().map_err(|_| {
        invalid(format!(
            "{key} must be a non-negative integer, got {value:?}"
        ))
    })
}

impl NarInfo {
    /// Parses narinfo text: `Key: value` lines. `StorePath`, `URL`, `NarHash` and `NarSize`
    /// are required, as in Nix; `Sig` may repeat, other keys may not; unknown keys are kept.
    ///
    /// ```
    /// use chunker_core::nix::narinfo::NarInfo;
    /// let text = "StorePath: /nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello\n\
    ///             URL: nar/abc.nar.xz\nCompression: xz\n\
    ///             NarHash: sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73\n\
    ///             NarSize: 226560\nReferences: 0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello\n";
    /// let info = NarInfo::parse(text).unwrap();
    /// assert_eq!(info.nar_size, 226560);
    /// assert_eq!(info.to_text(), text);
    /// ```
    pub fn parse(text: &str) -> Result<Self, NixError> {
        let mut info = NarInfo::default();
        let mut seen: HashSet<&str> = HashSet::new();
        let body = text.strip_suffix('\n').unwrap_or(text);
        for (number, line) in body.split('\n').enumerate() {
            let (key, value) = line.split_once(": ").ok_or_else(|| {
                invalid(format!("line {} is not `Key: value`: {line:?}", number + 1))
            })?;
            if key != "Sig" && !seen.insert(key) {
                return Err(invalid(format!("{key} is given more than once")));
            }
            let text = value.to_string();
            match key {
                "StorePath" => info.store_path = text,
                "URL" => info.url = text,
                "Compression" => info.compression = Some(text),
                "FileHash" => info.file_hash = Some(text),
                "FileSize" => info.file_size = Some(parse_u64(key, value)?),
                "NarHash" => info.nar_hash = text,
                "NarSize" => info.nar_size = parse_u64(key, value)?,
                "References" => {
                    info.references = value
                        .split(' ')
                        .filter(|r| !r.is_empty())
                        .map(String::from)
                        .collect();
                }
                // What Nix writes when it does not know the deriver; it reads it as none.
                "Deriver" if value == "unknown-deriver" => info.deriver = None,
                "Deriver" => info.deriver = Some(text),
                "System" => info.system = Some(text),
                "Sig" => info.sigs.push(text),
                "CA" => info.ca = Some(text),
                _ => info.extra.push((key.to_string(), text)),
            }
        }
        info.validate()?;
        Ok(info)
    }

    /// Checks what every narinfo needs: the required fields, a store path and reference
    /// names of the right form.
    pub fn validate(&self) -> Result<(), NixError> {
        for (key, missing) in [
            ("StorePath", self.store_path.is_empty()),
            ("URL", self.url.is_empty()),
            ("NarHash", self.nar_hash.is_empty()),
            ("NarSize", self.nar_size == 0),
        ] {
            if missing {
                return Err(invalid(format!("{key} is missing")));
            }
        }
        self.store_dir()?;
        for reference in &self.references {
            check_base_name(reference)?;
        }
        if let Some(deriver) = &self.deriver {
            check_base_name(deriver)?;
        }
        Ok(())
    }

    /// The store directory, from `StorePath` (e.g. `/nix/store`).
    pub fn store_dir(&self) -> Result<&str, NixError> {
        let (dir, name) = self
            .store_path
            .rsplit_once('/')
            .filter(|(dir, _)| dir.starts_with('/'))
            .ok_or_else(|| {
                invalid(format!(
                    "StorePath {:?} is not an absolute path",
                    self.store_path
                ))
            })?;
        check_base_name(name)?;
        Ok(dir)
    }

    /// The narinfo text, fields in the order Nix writes them, unknown keys last.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |key: &str, value: &str| {
            out.push_str(key);
            out.push_str(": ");
            out.push_str(value);
            out.push('\n');
        };
        line("StorePath", &self.store_path);
        line("URL", &self.url);
        if let Some(v) = &self.compression {
            line("Compression", v);
        }
        if let Some(v) = &self.file_hash {
            line("FileHash", v);
        }
        if let Some(v) = self.file_size {
            line("FileSize", &v.to_string());
        }
        line("NarHash", &self.nar_hash);
        line("NarSize", &self.nar_size.to_string());
        line("References", &self.references.join(" "));
        if let Some(v) = &self.deriver {
            line("Deriver", v);
        }
        if let Some(v) = &self.system {
            line("System", v);
        }
        for sig in &self.sigs {
            line("Sig", sig);
        }
        if let Some(v) = &self.ca {
            line("CA", v);
        }
        for (key, value) in &self.extra {
            line(key, value);
        }
        out
    }

    /// What a signature of this path signs:
    /// `1;<store path>;sha256:<nix32 NAR hash>;<NAR size>;<references, full paths, comma-separated>`.
    /// References are sorted and deduplicated, as Nix does (it holds them as a set): a
    /// narinfo that lists them in another order has the same fingerprint, and a signature
    /// Nix verifies. A NAR hash given in hex (`sha256:<64 hex digits>`) or in SRI form
    /// (`sha256-<base64>`) is written in nix32.
    pub fn fingerprint(&self) -> Result<String, NixError> {
        self.validate()?;
        let dir = self.store_dir()?;
        let hash = nix32_sha256(&self.nar_hash)?;
        let references: BTreeSet<String> = self
            .references
            .iter()
            .map(|name| format!("{dir}/{name}"))
            .collect();
        let references: Vec<String> = references.into_iter().collect();
        Ok(format!(
            "1;{};sha256:{};{};{}",
            self.store_path,
            hash,
            self.nar_size,
            references.join(",")
        ))
    }
}

/// A SHA-256 hash in any of Nix's notations, as nix32.
fn nix32_sha256(hash: &str) -> Result<String, NixError> {
    let bad = |why: &str| NixError::new("invalid_hash", format!("NarHash {hash:?}: {why}"));
    let digest: Vec<u8> = if let Some(rest) = hash.strip_prefix("sha256:") {
        match rest.len() {
            52 => base32::decode(rest).map_err(|e| bad(&e.message))?,
            64 => decode_hex(rest).ok_or_else(|| bad("not hexadecimal"))?,
            _ => return Err(bad("a sha256 hash is 52 nix32 or 64 hex characters")),
        }
    } else if let Some(rest) = hash.strip_prefix("sha256-") {
        STANDARD.decode(rest).map_err(|_| bad("not base64"))?
    } else {
        return Err(bad(
            "a fingerprint needs a sha256 NAR hash (sha256:... or sha256-...)",
        ));
    };
    if digest.len() != 32 {
        return Err(bad("a sha256 hash is 32 bytes"));
    }
    Ok(base32::encode(&digest))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| match *pair {
            [high, low] => Some(digit(high)? << 4 | digit(low)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello";

    fn info() -> NarInfo {
        NarInfo {
            store_path: PATH.into(),
            url: "nar/x.nar".into(),
            nar_hash: "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73".into(),
            nar_size: 120,
            references: vec![
                "1mdqa9w1p6cmli6976v4wi0sw9r4p5pr-b".into(),
                "0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-a".into(),
            ],
            ..NarInfo::default()
        }
    }

    #[test]
    fn fingerprint_sorts_references_and_normalizes_the_hash() {
        let want = "1;/nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-hello;\
                    sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73;120;\
                    /nix/store/0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-a,/nix/store/1mdqa9w1p6cmli6976v4wi0sw9r4p5pr-b";
        assert_eq!(info().fingerprint().unwrap(), want);
        let hex = NarInfo {
            nar_hash: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .into(),
            ..info()
        };
        assert_eq!(hex.fingerprint().unwrap(), want);
        let sri = NarInfo {
            nar_hash: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".into(),
            ..info()
        };
        assert_eq!(sri.fingerprint().unwrap(), want);
        let mut repeated = info();
        repeated
            .references
            .push("0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-a".into());
        assert_eq!(repeated.fingerprint().unwrap(), want);
    }

    #[test]
    fn malformed_narinfos_are_refused() {
        for text in [
            "",
            "StorePath /nix/store/x\n",
            "URL: a\nNarHash: sha256:x\nNarSize: 1\n",
            &format!("StorePath: {PATH}\nURL: a\nNarHash: sha256:x\nNarSize: -1\n"),
            &format!("StorePath: {PATH}\nURL: a\nURL: b\nNarHash: sha256:x\nNarSize: 1\n"),
            &format!("StorePath: {PATH}\nURL: a\nNarHash: sha256:x\nNarSize: 1\nReferences: nope\n"),
            "StorePath: relative-0mdqa9w1p6cmli6976v4wi0sw9r4p5pr-a\nURL: a\nNarHash: sha256:x\nNarSize: 1\n",
        ] {
            assert!(NarInfo::parse(text).is_err(), "{text:?}");
        }
        let md5 = NarInfo {
            nar_hash: "md5:abc".into(),
            ..info()
        };
        assert_eq!(md5.fingerprint().unwrap_err().reason, "invalid_hash");
    }
}
