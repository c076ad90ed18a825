//! Nix archives (NAR): writing one from a filesystem tree, parsing one as a stream.
//!
//! A NAR is a sequence of length-prefixed strings: each is its length as a little-endian
//! `u64`, its bytes, and zero padding up to a multiple of 8.
//!
//! ```text
//! nar       = str("nix-archive-1") node
//! node      = str("(") str("type") body str(")")
//! body      = str("regular") [str("executable") str("")] str("contents") str(contents)
//!           | str("symlink") str("target") str(target)
//!           | str("directory") { str("entry") str("(") str("name") str(name)
//!                                str("node") node str(")") }
//! ```
//!
//! Directory entries are sorted by the bytes of their names. [`Dump`] writes exactly what
//! `nix-store --dump` writes; [`Parser`] accepts exactly the canonical form above and reports
//! any deviation with its input offset.

mod dump;
mod parse;

pub use dump::Dump;
pub use parse::{Event, NarError, Parser};

/// The NAR's first string.
pub const MAGIC: &[u8] = b"nix-archive-1";

/// Bytes a string of `len` bytes takes in a NAR, length prefix and padding included.
pub fn string_size(len: u64) -> u64 {
    8 + len.div_ceil(8) * 8
}
