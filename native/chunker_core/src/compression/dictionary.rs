//! zstd dictionaries: training one from samples, and preparing one once for many frames.
//!
//! A chunk store compresses each chunk on its own, so every small chunk starts with an empty
//! window; a dictionary trained on earlier chunks gives it one. [`train`] is zstd's own
//! trainer (`ZDICT_trainFromBuffer`: fastCover with the parameters `zstd --train` uses), so
//! the dictionaries it makes are the CLI's. A [`Dictionary`] holds the digested forms zstd
//! works with: one `DDict` for decoding, made when it is loaded, and one `CDict` per
//! compression level, made the first time that level is asked for and then shared.
//!
//! Only dictionaries in zstd's format (the magic number and a non-zero dictionary id, what
//! `zstd --train` writes) are accepted: a frame records the id of the dictionary it needs,
//! which is how [`ZstdOptions`]' decoder side picks among several, and how a frame that needs
//! one nobody gave is told apart from corrupt data.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use zstd_safe::{CDict, DDict};

use super::error::CompressionError;

/// The size `zstd --train` makes by default (`--maxdict=112640`).
pub const DEFAULT_DICTIONARY_SIZE: usize = 112_640;

/// The first four bytes of a dictionary in zstd's format.
const DICTIONARY_MAGIC: [u8; 4] = [0x37, 0xA4, 0x30, 0xEC];

/// The fewest samples zstd's trainer works with: it keeps a quarter of them aside to test
/// the candidates on, and needs at least five to train on (`FASTCOVER_ctx_init`).
pub const MIN_SAMPLES: usize = 7;

/// A zstd dictionary, prepared for compressing and decompressing.
pub struct Dictionary {
    bytes: Box<[u8]>,
    id: NonZeroU32,
    ddict: DDict<'static>,
    /// One prepared compression dictionary per level asked for.
    cdicts: Mutex<Vec<(i32, Arc<CDict<'static>>)>>,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionary")
            .field("id", &self.id)
            .field("size", &self.bytes.len())
            .finish()
    }
}

impl Dictionary {
    /// Loads a dictionary in zstd's format (for example one `zstd --train` wrote, or
    /// [`train`] made). Anything else, or a dictionary whose tables do not load, is
    /// [`CompressionError::InvalidDictionary`].
    pub fn new(bytes: &[u8]) -> Result<Self, CompressionError> {
        if !bytes.starts_with(&DICTIONARY_MAGIC) {
            return Err(CompressionError::InvalidDictionary(
                "not a zstd dictionary: it does not start with zstd's dictionary magic number \
                 (raw-content dictionaries are not supported)"
                    .to_owned(),
            ));
        }
        let id = zstd_safe::get_dict_id_from_dict(bytes).ok_or_else(|| {
            CompressionError::InvalidDictionary("the dictionary's id is 0".to_owned())
        })?;
        let ddict = DDict::try_create(bytes).ok_or_else(|| {
            CompressionError::InvalidDictionary(
                "zstd could not load the dictionary: its tables are corrupt".to_owned(),
            )
        })?;
        Ok(Self {
            bytes: bytes.into(),
            id,
            ddict,
            cdicts: Mutex::new(Vec::new()),
        })
    }

    /// The dictionary's id, which every frame compressed with it records.
    pub fn id(&self) -> u32 {
        self.id.get()
    }

    /// The dictionary as zstd's format has it (what the CLI's `-D` reads).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True when the compression dictionary for `level` is prepared already (false while
    /// another thread is adding one: this never waits).
    pub fn is_prepared(&self, level: i32) -> bool {
        self.cdicts
            .try_lock()
            .is_ok_and(|cdicts| cdicts.iter().any(|(at, _)| *at == level))
    }

    /// Prepares the compression dictionary for `level` now, if it was not yet (it digests the
    /// whole dictionary: milliseconds at high levels), so that compressing at that level
    /// later only refers to it.
    pub fn prepare(&self, level: i32) -> Result<(), CompressionError> {
        self.cdict(level).map(drop)
    }

    /// The compression dictionary for `level`, prepared now if it was not yet (which digests
    /// the whole dictionary: milliseconds at high levels).
    pub(crate) fn cdict(&self, level: i32) -> Result<Arc<CDict<'static>>, CompressionError> {
        let poisoned =
            || CompressionError::InvalidDictionary("the dictionary was poisoned".to_owned());
        let find = |cdicts: &[(i32, Arc<CDict<'static>>)]| {
            cdicts
                .iter()
                .find(|(at, _)| *at == level)
                .map(|(_, cdict)| Arc::clone(cdict))
        };
        if let Some(cdict) = find(&self.cdicts.lock().map_err(|_| poisoned())?) {
            return Ok(cdict);
        }
        // Made outside the lock: it takes milliseconds at high levels, and the lock is what
        // every compression with a prepared level takes.
        let made = CDict::try_create(&self.bytes, level).ok_or_else(|| {
            CompressionError::InvalidDictionary(
                "zstd could not prepare the dictionary for compressing".to_owned(),
            )
        })?;
        let mut cdicts = self.cdicts.lock().map_err(|_| poisoned())?;
        // Another thread may have made the same one meanwhile: keep the first.
        if let Some(cdict) = find(&cdicts) {
            return Ok(cdict);
        }
        let cdict = Arc::new(made);
        cdicts.push((level, Arc::clone(&cdict)));
        Ok(cdict)
    }

    pub(crate) fn ddict(&self) -> &DDict<'static> {
        &self.ddict
    }
}

/// zstd's options beyond the level. The default is none of them: what every other call
/// does.
#[derive(Debug, Clone, Default)]
pub struct ZstdOptions {
    /// Compress with this dictionary (the frame records its id).
    pub dictionary: Option<Arc<Dictionary>>,
    /// Worker threads of zstd's own compressing one frame's jobs at once; 0 compresses on
    /// the calling thread.
    pub workers: u32,
    /// Long-distance matching with a 128 MiB window, as `zstd --long` (the CLI decodes such
    /// frames without `--long`: 128 MiB is the largest window decoders accept by default).
    pub long: bool,
}

impl ZstdOptions {
    /// True when nothing is asked beyond the level.
    pub fn is_plain(&self) -> bool {
        self.dictionary.is_none() && self.workers == 0 && !self.long
    }

    /// True when a compression context of its own is needed (worker threads and large
    /// windows are not kept in the shared contexts).
    pub(crate) fn needs_own_context(&self) -> bool {
        self.workers > 0 || self.long
    }
}

/// Trains a dictionary of at most `size` bytes on `samples` with zstd's trainer (what
/// `zstd --train --maxdict=size` does with one file per sample).
///
/// Fewer than [`MIN_SAMPLES`] samples, or samples too small to learn from, are
/// [`CompressionError::NotEnoughSamples`]; zstd's own refusals are
/// [`CompressionError::TrainingFailed`].
pub fn train(samples: &[&[u8]], size: usize) -> Result<Vec<u8>, CompressionError> {
    if size < 256 {
        return Err(CompressionError::InvalidOptions(format!(
            "size must be at least 256 bytes, got {size}"
        )));
    }
    let total: usize = samples.iter().map(|sample| sample.len()).sum();
    let useful = samples.iter().filter(|sample| sample.len() >= 8).count();
    if useful < MIN_SAMPLES {
        return Err(CompressionError::NotEnoughSamples(format!(
            "zstd's trainer needs at least {MIN_SAMPLES} samples of 8 bytes or more, got {useful} \
             ({} samples, {total} bytes in all)",
            samples.len()
        )));
    }
    // zstd's trainer counts sizes in 32 bits and refuses more than ~2 GB of samples.
    if samples.len() > u32::MAX as usize || total > (1 << 31) {
        return Err(CompressionError::InvalidOptions(format!(
            "samples must be at most 2 GiB in all, got {total} bytes"
        )));
    }
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(total)
        .map_err(|_| CompressionError::OutOfMemory)?;
    let mut sizes = Vec::with_capacity(samples.len());
    for sample in samples {
        buffer.extend_from_slice(sample);
        sizes.push(sample.len());
    }
    // A dictionary is never larger than its samples: no allocation past what they hold.
    let mut dictionary = Vec::new();
    dictionary
        .try_reserve_exact(size.min(total))
        .map_err(|_| CompressionError::OutOfMemory)?;
    zstd_safe::train_from_buffer(&mut dictionary, &buffer, &sizes).map_err(|code| {
        CompressionError::TrainingFailed(format!(
            "zstd's trainer refused the samples ({}): {} samples, {total} bytes; give it more \
             data, about 100 times the dictionary size",
            zstd_safe::get_error_name(code),
            samples.len()
        ))
    })?;
    Ok(dictionary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chunker_testdata::text_bytes;

    fn samples() -> Vec<Vec<u8>> {
        (0..200).map(|seed| text_bytes(4096, seed)).collect()
    }

    #[test]
    #[cfg_attr(miri, ignore = "calls zstd's C library")]
    fn trained_dictionaries_load_and_carry_an_id() {
        let samples = samples();
        let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        let bytes = train(&refs, 16 * 1024).unwrap();
        assert!(bytes.len() <= 16 * 1024);
        let dictionary = Dictionary::new(&bytes).unwrap();
        assert_ne!(dictionary.id(), 0);
        assert_eq!(dictionary.bytes(), &bytes[..]);
        assert!(!dictionary.is_prepared(3));
        dictionary.cdict(3).unwrap();
        assert!(dictionary.is_prepared(3));
    }

    #[test]
    #[cfg_attr(miri, ignore = "calls zstd's C library")]
    fn too_few_samples_and_bad_dictionaries_are_errors() {
        let samples = samples();
        let few: Vec<&[u8]> = samples.iter().take(3).map(Vec::as_slice).collect();
        assert_eq!(
            train(&few, 16 * 1024).unwrap_err().reason(),
            "not_enough_samples"
        );
        let tiny: Vec<&[u8]> = vec![b"abc"; 100];
        assert_eq!(
            train(&tiny, 16 * 1024).unwrap_err().reason(),
            "not_enough_samples"
        );
        assert_eq!(
            Dictionary::new(b"just some bytes").unwrap_err().reason(),
            "invalid_dictionary"
        );
        let refs: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        let mut bytes = train(&refs, 16 * 1024).unwrap();
        // The entropy tables follow the 8-byte header: ruin them.
        for byte in bytes.iter_mut().skip(8).take(64) {
            *byte = 0xFF;
        }
        assert_eq!(
            Dictionary::new(&bytes).unwrap_err().reason(),
            "invalid_dictionary"
        );
    }
}
