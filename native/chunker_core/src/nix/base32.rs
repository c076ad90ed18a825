//! Nix's base32: its own alphabet (no `e`, `o`, `t`, `u`) and bit order, in which store
//! paths and hashes are printed.

use super::NixError;

/// The 32 digits, by value.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

const INVALID: u8 = 0xff;

/// The value of each byte as a digit, or `INVALID`.
// Evaluated at compile time: an index out of bounds would fail the build, not a call.
#[allow(clippy::indexing_slicing)]
const DIGITS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut digit = 0;
    while digit < ALPHABET.len() {
        table[ALPHABET[digit] as usize] = digit as u8;
        digit += 1;
    }
    table
};

/// Characters needed for `bytes` bytes: `(8 * bytes - 1) / 5 + 1` (none for none).
pub fn encoded_len(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        (bytes * 8 - 1) / 5 + 1
    }
}

/// Encodes `bytes` as Nix does: the last character holds the lowest bits of the first byte.
///
/// ```
/// use chunker_core::nix::base32;
/// // sha256("") as nix32, as `nix-hash --type sha256 --to-base32` prints it.
/// let digest = [0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
///     0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95,
///     0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55];
/// assert_eq!(base32::encode(&digest), "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
/// assert_eq!(base32::decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").unwrap(), digest);
/// ```
pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        let low = bytes.get(i).map_or(0, |&byte| u16::from(byte) >> j);
        let high = bytes
            .get(i + 1)
            .map_or(0, |&byte| u16::from(byte) << (8 - j));
        let digit = ((low | high) & 0x1f) as usize;
        out.push(char::from(ALPHABET.get(digit).copied().unwrap_or(b'0')));
    }
    out
}

/// Decodes a nix-base32 string. Fails on characters outside the alphabet, on a length no
/// byte count encodes to, and on set bits beyond the last byte (Nix rejects those too).
pub fn decode(text: &str) -> Result<Vec<u8>, NixError> {
    let chars = text.as_bytes();
    let size = chars.len() * 5 / 8;
    if encoded_len(size) != chars.len() {
        return Err(NixError::new(
            "invalid_base32",
            format!(
                "{} characters is not the length of any nix-base32 string",
                chars.len()
            ),
        ));
    }
    let mut bytes = vec![0u8; size];
    for (n, &c) in chars.iter().rev().enumerate() {
        let digit = match DIGITS.get(usize::from(c)) {
            Some(&d) if d != INVALID => u16::from(d),
            _ => {
                let what = if c.is_ascii() {
                    format!("{:?}", char::from(c))
                } else {
                    "a non-ASCII character".to_string()
                };
                return Err(NixError::new(
                    "invalid_base32",
                    format!("{what} is not a nix-base32 character"),
                ));
            }
        };
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        if let Some(byte) = bytes.get_mut(i) {
            *byte |= (digit << j) as u8;
        }
        let carry = digit >> (8 - j);
        match bytes.get_mut(i + 1) {
            Some(byte) => *byte |= carry as u8,
            None if carry != 0 => {
                return Err(NixError::new(
                    "invalid_base32",
                    "the first character sets bits beyond the encoded bytes",
                ))
            }
            None => {}
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length() {
        for len in 0..70 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = encode(&bytes);
            assert_eq!(text.len(), encoded_len(len));
            assert_eq!(decode(&text).unwrap(), bytes, "length {len}");
        }
    }

    #[test]
    fn rejects_foreign_characters_lengths_and_overflow() {
        let good = encode(&[0xff; 20]);
        assert!(decode(&good.replace('z', "e")).is_err());
        assert!(decode(&good[1..]).is_err());
        // 20 bytes = 160 bits in 32 characters: the first character has no spare bits, so
        // take 16 bytes (26 characters, 130 bits): its top 2 bits must be clear.
        let text = encode(&[0xff; 16]);
        assert_eq!(&text[..1], "7");
        assert!(decode(&format!("z{}", &text[1..])).is_err());
    }
}
