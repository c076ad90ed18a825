//! Zstandard, through `zstd-safe` (the reference C library).
//!
//! One-shot compression reuses one compression context per thread: creating a context
//! allocates its tables, which costs more than compressing a small chunk. Worker threads and
//! long windows get a context of their own (their threads and 128 MiB windows are not worth
//! keeping for the next small chunk).

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd_safe::{CCtx, CDict, CParameter, DCtx, InBuffer, OutBuffer, ResetDirective};

use super::codec::{Output, Progress, Step};
use super::dictionary::{Dictionary, ZstdOptions};
use super::error::CompressionError;
use super::format::{is_skippable_magic, is_zstd_magic};
use super::sink::Sink;

/// Output granule for streaming compression.
const OUT_STEP: usize = 1 << 17;
/// Largest output region asked for in one decompression step.
const DECODE_STEP: usize = 1 << 22;

thread_local! {
    static CCTX: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
}

/// Contexts of finished streaming encoders and decoders, kept for the next ones: a context
/// allocates megabytes of tables, and on the reference machine allocating them per item made
/// batches scale worse than one core's worth of work (page faults serialize threads).
static CCTX_POOL: Mutex<Vec<CCtx<'static>>> = Mutex::new(Vec::new());
static DCTX_POOL: Mutex<Vec<DCtx<'static>>> = Mutex::new(Vec::new());
/// Contexts kept per pool; more than the cores that could use them at once is waste.
const POOL_SIZE: usize = 16;

fn take<T>(
    pool: &Mutex<Vec<T>>,
    create: impl FnOnce() -> Option<T>,
) -> Result<T, CompressionError> {
    let pooled = pool.lock().ok().and_then(|mut contexts| contexts.pop());
    pooled.or_else(create).ok_or(CompressionError::OutOfMemory)
}

fn give_back<T>(pool: &Mutex<Vec<T>>, context: T) {
    if let Ok(mut contexts) = pool.lock() {
        if contexts.len() < POOL_SIZE {
            contexts.push(context);
        }
    }
}

/// The content size the zstd frame at the start of `data` declares, if it declares one.
pub(crate) fn declared_size(data: &[u8]) -> Option<u64> {
    zstd_safe::get_frame_content_size(data).ok().flatten()
}

fn error(code: usize) -> CompressionError {
    CompressionError::Corrupt(zstd_safe::get_error_name(code).to_string())
}

/// The window `zstd --long` uses: 128 MiB, the largest decoders accept without being told.
const LONG_WINDOW_LOG: u32 = 27;

fn configure(
    cctx: &mut CCtx<'_>,
    level: i32,
    options: &ZstdOptions,
) -> Result<(), CompressionError> {
    let mut params = vec![
        CParameter::CompressionLevel(level),
        // The zstd tool writes a content checksum by default; so do we.
        CParameter::ChecksumFlag(true),
    ];
    if options.long {
        params.push(CParameter::EnableLongDistanceMatching(true));
        params.push(CParameter::WindowLog(LONG_WINDOW_LOG));
    }
    if options.workers > 0 {
        params.push(CParameter::NbWorkers(options.workers));
    }
    for param in params {
        cctx.set_parameter(param).map_err(|code| {
            CompressionError::InvalidOptions(zstd_safe::get_error_name(code).to_string())
        })?;
    }
    Ok(())
}

/// Attaches a prepared dictionary to a context of the shared pools (whose lifetime is
/// `'static`).
///
/// # Safety
///
/// zstd keeps a pointer to the CDict in the context, which is why `ref_cdict` asks for a
/// borrow as long as the context's lifetime. The caller must keep `cdict`'s `Arc` alive until
/// it has reset the context with `ResetDirective::SessionAndParameters` (which drops zstd's
/// pointer, and waits for worker threads) or freed the context. Neither a reset nor freeing a
/// context reads a referenced CDict, so a context left attached by an unwinding panic is only
/// ever reset (before its next use) or freed.
unsafe fn attach(
    cctx: &mut CCtx<'static>,
    cdict: &Arc<CDict<'static>>,
) -> Result<(), CompressionError> {
    // SAFETY: the `Arc` keeps the CDict at a stable address for as long as the caller keeps
    // it, which the caller promises outlasts zstd's pointer (see above).
    let cdict: &'static CDict<'static> = unsafe { &*Arc::as_ptr(cdict) };
    cctx.ref_cdict(cdict).map(drop).map_err(error)
}

/// The prepared dictionary for `level`, if `options` name a dictionary.
fn cdict_for(
    options: &ZstdOptions,
    level: i32,
) -> Result<Option<Arc<CDict<'static>>>, CompressionError> {
    options
        .dictionary
        .as_ref()
        .map(|dictionary| dictionary.cdict(level))
        .transpose()
}

/// Compresses all of `data` as one frame (with its content size) into `sink`.
pub(crate) fn compress_oneshot(
    data: &[u8],
    level: i32,
    options: &ZstdOptions,
    sink: &mut dyn Sink,
) -> Result<(), CompressionError> {
    let cdict = cdict_for(options, level)?;
    if options.needs_own_context() {
        let mut cctx = CCtx::try_create().ok_or(CompressionError::OutOfMemory)?;
        return compress_with(&mut cctx, data, level, options, cdict.as_ref(), sink);
    }
    CCTX.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| CompressionError::OutOfMemory)?;
        let cctx = slot.get_or_insert_with(CCtx::create);
        let result = compress_with(cctx, data, level, options, cdict.as_ref(), sink);
        if cdict.is_some() {
            // Drops zstd's pointer to the dictionary (see `attach`).
            cctx.reset(ResetDirective::SessionAndParameters)
                .map_err(error)?;
        }
        result
    })
}

fn compress_with(
    cctx: &mut CCtx<'static>,
    data: &[u8],
    level: i32,
    options: &ZstdOptions,
    cdict: Option<&Arc<CDict<'static>>>,
    sink: &mut dyn Sink,
) -> Result<(), CompressionError> {
    cctx.reset(ResetDirective::SessionAndParameters)
        .map_err(error)?;
    configure(cctx, level, options)?;
    if let Some(cdict) = cdict {
        // SAFETY: `compress_oneshot` holds the `Arc` until it has reset the thread's context
        // after this call, or freed its own context (declared after the `Arc`, so dropped
        // first).
        unsafe { attach(cctx, cdict)? };
    }
    let bound = zstd_safe::compress_bound(data.len());
    let start = sink.written();
    let room = sink.spare(bound, start.saturating_add(bound))?;
    let written = cctx.compress2(room, data).map_err(error)?;
    sink.commit(written);
    Ok(())
}

/// A streaming zstd compressor.
pub(crate) struct ZstdEncoder {
    /// Always `Some` until dropped (then returned to the pool, or freed).
    cctx: Option<CCtx<'static>>,
    /// Whether the context goes back to the pool (not one with worker threads or a long
    /// window).
    pooled: bool,
    /// The dictionary the context refers to, kept alive as long as it does (see `attach`).
    _cdict: Option<Arc<CDict<'static>>>,
}

/// A context and the dictionary it may refer to, freed in that order (struct fields drop in
/// declaration order).
struct Owned {
    _cctx: CCtx<'static>,
    _cdict: Option<Arc<CDict<'static>>>,
}

impl Drop for ZstdEncoder {
    fn drop(&mut self) {
        let Some(mut cctx) = self.cctx.take() else {
            return;
        };
        if !self.pooled {
            // Abandoning a frame with worker threads finishes its jobs first (zstd-safe drains
            // them before a reset or a free), which can take seconds; whoever drops the encoder
            // (the BEAM's garbage collector, on a normal scheduler) must not wait for that.
            let owned = Owned {
                _cctx: cctx,
                _cdict: self._cdict.take(),
            };
            // Without a thread the closure, and so `owned`, is dropped here: freed, not leaked.
            let _ = std::thread::Builder::new()
                .name("chunker-zstd-free".to_owned())
                .spawn(move || drop(owned));
            return;
        }
        // Resetting drops zstd's pointer to the dictionary before `_cdict` goes.
        if cctx.reset(ResetDirective::SessionAndParameters).is_ok() {
            give_back(&CCTX_POOL, cctx);
        }
    }
}

impl ZstdEncoder {
    /// `size`, when known, goes into the frame header and tunes the parameters, as one-shot
    /// compression does.
    pub(crate) fn new(
        level: i32,
        size: Option<u64>,
        options: &ZstdOptions,
    ) -> Result<Self, CompressionError> {
        let cdict = cdict_for(options, level)?;
        let pooled = !options.needs_own_context();
        let cctx = if pooled {
            take(&CCTX_POOL, CCtx::try_create)?
        } else {
            CCtx::try_create().ok_or(CompressionError::OutOfMemory)?
        };
        // The encoder owns the context from here on, so an error below resets it in `drop`
        // (see `attach`).
        let mut encoder = Self {
            cctx: Some(cctx),
            pooled,
            _cdict: cdict,
        };
        let cctx = encoder.cctx.as_mut().ok_or(CompressionError::Finished)?;
        configure(cctx, level, options)?;
        if let Some(cdict) = &encoder._cdict {
            // SAFETY: the encoder keeps the `Arc` in `_cdict` and resets or frees the context
            // in its `Drop` before the field goes.
            unsafe { attach(cctx, cdict)? };
        }
        if size.is_some() {
            cctx.set_pledged_src_size(size).map_err(error)?;
        }
        Ok(encoder)
    }

    pub(crate) fn update(
        &mut self,
        input: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<(), CompressionError> {
        let mut inb = InBuffer::around(input);
        while inb.pos() < input.len() {
            self.step(&mut inb, sink, ZSTD_EndDirective::ZSTD_e_continue)?;
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), CompressionError> {
        let mut inb = InBuffer::around(&[]);
        while self.step(&mut inb, sink, ZSTD_EndDirective::ZSTD_e_end)? != 0 {}
        Ok(())
    }

    fn step(
        &mut self,
        inb: &mut InBuffer<'_>,
        sink: &mut dyn Sink,
        directive: ZSTD_EndDirective,
    ) -> Result<usize, CompressionError> {
        let cctx = self.cctx.as_mut().ok_or(CompressionError::Finished)?;
        let room = sink.spare(OUT_STEP, usize::MAX)?;
        let mut outb = OutBuffer::around(room);
        let remaining = cctx
            .compress_stream2(&mut outb, inb, directive)
            .map_err(error)?;
        let produced = outb.pos();
        sink.commit(produced);
        Ok(remaining)
    }
}

/// A streaming zstd decompressor for concatenated frames (skippable frames included).
pub(crate) struct ZstdDecoder {
    /// Always `Some` until dropped (then returned to the pool).
    dctx: Option<DCtx<'static>>,
    /// Inside a frame: bytes of it were given to the context and it has not ended.
    in_frame: bool,
    /// The start of the next frame, gathered up to the end of its header before zstd sees
    /// it: the header names the dictionary to decode it with.
    head: Vec<u8>,
    /// The dictionaries frames may name.
    dictionaries: Vec<Arc<Dictionary>>,
    /// The id of the dictionary attached to the context, if any.
    attached: Option<u32>,
    frames: u64,
    consumed: u64,
}

/// The bytes of a zstd frame that say how long its header is: the magic number and the
/// frame header descriptor.
const HEAD_PREFIX: usize = 5;

/// The length of a zstd frame header, magic number included, from its first five bytes
/// (RFC 8878, 3.1.1.1): the descriptor says which optional fields follow.
fn header_len(head: &[u8]) -> Option<usize> {
    let descriptor = *head.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    let dictionary_id = [0, 1, 2, 4].get(usize::from(descriptor & 3)).copied()?;
    let content_size = match descriptor >> 6 {
        0 => usize::from(single_segment),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    Some(HEAD_PREFIX + usize::from(!single_segment) + dictionary_id + content_size)
}

/// The dictionary id a whole zstd frame header records (0: none).
fn header_dictionary_id(header: &[u8]) -> u32 {
    let Some(&descriptor) = header.get(4) else {
        return 0;
    };
    let at = HEAD_PREFIX + usize::from(descriptor & 0x20 == 0);
    let size = [0, 1, 2, 4]
        .get(usize::from(descriptor & 3))
        .copied()
        .unwrap_or(0);
    header
        .get(at..at + size)
        .unwrap_or_default()
        .iter()
        .rev()
        .fold(0u32, |id, &byte| (id << 8) | u32::from(byte))
}

impl ZstdDecoder {
    /// A decoder that decodes frames naming a dictionary with the one of `dictionaries` that
    /// has its id.
    pub(crate) fn new(dictionaries: Vec<Arc<Dictionary>>) -> Result<Self, CompressionError> {
        Ok(Self {
            dctx: Some(take(&DCTX_POOL, DCtx::try_create)?),
            in_frame: false,
            head: Vec::new(),
            dictionaries,
            attached: None,
            frames: 0,
            consumed: 0,
        })
    }

    /// Gathers the next frame's header from `rest` (`pos` bytes of this call's input were
    /// used before it) and, once it is whole, attaches the dictionary it names and hands it
    /// to zstd. Returns the bytes of `rest` it took, and whether the frame has begun.
    fn begin_frame(
        &mut self,
        rest: &[u8],
        pos: usize,
        out: &mut Output<'_>,
    ) -> Result<(usize, bool), CompressionError> {
        let start = (self.consumed + pos as u64).saturating_sub(self.head.len() as u64);
        if self.head.is_empty() {
            if !could_start_frame(rest) {
                return Err(CompressionError::TrailingData { offset: start });
            }
            // The usual case, the whole header at hand: zstd then gets the frame in one piece
            // (with room for all of it, it decodes straight into the output, no window copy).
            if is_skippable_magic(rest) {
                return Ok((0, true));
            }
            if let Some(len) = header_len(rest).filter(|&len| len <= rest.len()) {
                self.prepare_frame(rest.get(..len).unwrap_or_default(), out)?;
                return Ok((0, true));
            }
        }
        let mut taken = 0;
        let mut top_up = |head: &mut Vec<u8>, to: usize| {
            let more = to.saturating_sub(head.len()).min(rest.len() - taken);
            head.extend_from_slice(rest.get(taken..taken + more).unwrap_or_default());
            taken += more;
            head.len() >= to
        };
        if !top_up(&mut self.head, HEAD_PREFIX) {
            return Ok((taken, false));
        }
        let skippable = is_skippable_magic(&self.head);
        if !skippable {
            if !is_zstd_magic(&self.head) {
                return Err(CompressionError::TrailingData { offset: start });
            }
            let len = header_len(&self.head).unwrap_or(HEAD_PREFIX);
            if !top_up(&mut self.head, len) {
                return Ok((taken, false));
            }
        }
        // A header (or a skippable frame's first bytes) produces no output: zstd takes it
        // all into its own buffer.
        let head = std::mem::take(&mut self.head);
        if !skippable {
            self.prepare_frame(&head, out)?;
        }
        let dctx = self.dctx.as_mut().ok_or(CompressionError::Finished)?;
        let mut inb = InBuffer::around(&head);
        let mut nothing = [0u8; 0];
        let mut outb = OutBuffer::around(&mut nothing[..]);
        while inb.pos() < head.len() {
            let before = inb.pos();
            dctx.decompress_stream(&mut outb, &mut inb).map_err(error)?;
            if inb.pos() == before {
                return Err(CompressionError::Corrupt(
                    "zstd made no progress".to_string(),
                ));
            }
        }
        Ok((taken, true))
    }

    /// Gets ready for the frame whose whole header is `header`: the dictionary it names
    /// attached, and room reserved for the content size it records, if it does.
    fn prepare_frame(
        &mut self,
        header: &[u8],
        out: &mut Output<'_>,
    ) -> Result<(), CompressionError> {
        self.select(header_dictionary_id(header))?;
        if let Ok(Some(size)) = zstd_safe::get_frame_content_size(header) {
            out.reserve(size)?;
        }
        Ok(())
    }

    /// Attaches the dictionary with `id` (none for 0) to the context for the next frame.
    fn select(&mut self, id: u32) -> Result<(), CompressionError> {
        if self.attached == Some(id) || (id == 0 && self.attached.is_none()) {
            return Ok(());
        }
        let dctx = self.dctx.as_mut().ok_or(CompressionError::Finished)?;
        // Between frames: this drops any dictionary attached before.
        dctx.reset(ResetDirective::SessionAndParameters)
            .map_err(error)?;
        self.attached = None;
        if id == 0 {
            return Ok(());
        }
        let Some(dictionary) = self.dictionaries.iter().find(|d| d.id() == id) else {
            return Err(if self.dictionaries.is_empty() {
                CompressionError::DictionaryRequired { id }
            } else {
                CompressionError::UnknownDictionary { id }
            });
        };
        // SAFETY: as in `attach`: the DDict lives inside an `Arc<Dictionary>` this decoder
        // holds in `dictionaries` for as long as it holds the context, and the context is
        // reset (dropping zstd's pointer) before it goes back to the pool in `drop`, or
        // here before another dictionary is attached.
        let ddict: &'static zstd_safe::DDict<'static> =
            unsafe { &*(dictionary.ddict() as *const _) };
        dctx.ref_ddict(ddict).map_err(error)?;
        self.attached = Some(id);
        Ok(())
    }

    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Output<'_>) -> Progress {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            if !self.in_frame {
                if rest.is_empty() {
                    return Ok(self.step_done(pos, false));
                }
                let (taken, begun) = self.begin_frame(rest, pos, out)?;
                pos += taken;
                if !begun {
                    return Ok(self.step_done(pos, false));
                }
                self.in_frame = true;
                continue;
            }
            if out.budget_spent() {
                return Ok(self.step_done(pos, true));
            }
            let room = out.room(out.budget_left().min(DECODE_STEP))?;
            let room_len = room.len();
            let mut inb = InBuffer::around(rest);
            let mut outb = OutBuffer::around(room);
            let dctx = self.dctx.as_mut().ok_or(CompressionError::Finished)?;
            let hint = dctx.decompress_stream(&mut outb, &mut inb).map_err(error)?;
            let (taken, produced) = (inb.pos(), outb.pos());
            pos += taken;
            out.commit(produced)?;
            out.spend(taken);
            if hint == 0 {
                self.in_frame = false;
                self.frames += 1;
            }
            // Input used up and the output not filled: nothing is pending inside zstd.
            if pos == input.len() && produced < room_len {
                return Ok(self.step_done(pos, false));
            }
            if taken == 0 && produced == 0 {
                return Err(CompressionError::Corrupt(
                    "zstd made no progress".to_string(),
                ));
            }
        }
    }

    pub(crate) fn finish(&mut self, out: &mut Output<'_>) -> Result<(), CompressionError> {
        if !self.head.is_empty() {
            return Err(CompressionError::Truncated);
        }
        // Flush what the context may still hold for a frame whose input was all given.
        while self.in_frame {
            let room = out.room(DECODE_STEP)?;
            let room_len = room.len();
            let mut inb = InBuffer::around(&[]);
            let mut outb = OutBuffer::around(room);
            let dctx = self.dctx.as_mut().ok_or(CompressionError::Finished)?;
            let hint = dctx.decompress_stream(&mut outb, &mut inb).map_err(error)?;
            let produced = outb.pos();
            out.commit(produced)?;
            if hint == 0 {
                self.in_frame = false;
                self.frames += 1;
            } else if produced < room_len {
                return Err(CompressionError::Truncated);
            }
        }
        if self.frames == 0 {
            return Err(CompressionError::Truncated);
        }
        Ok(())
    }

    fn step_done(&mut self, consumed: usize, pending: bool) -> Step {
        self.consumed += consumed as u64;
        Step { consumed, pending }
    }
}

impl Drop for ZstdDecoder {
    fn drop(&mut self) {
        if let Some(mut dctx) = self.dctx.take() {
            if dctx
                .reset(zstd_safe::ResetDirective::SessionAndParameters)
                .is_ok()
            {
                give_back(&DCTX_POOL, dctx);
            }
        }
    }
}

/// True if `rest` begins like a zstd or skippable frame (or is too short to tell yet).
fn could_start_frame(rest: &[u8]) -> bool {
    if rest.len() >= 4 {
        return is_zstd_magic(rest) || is_skippable_magic(rest);
    }
    let zstd = [0x28, 0xB5, 0x2F, 0xFD];
    let skippable_tail = [0x2A, 0x4D, 0x18];
    zstd.starts_with(rest)
        || match rest.split_first() {
            Some((first, tail)) => first & 0xF0 == 0x50 && skippable_tail.starts_with(tail),
            None => true,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame header: the magic number, `descriptor`, then `fields` (RFC 8878, 3.1.1.1).
    fn header(descriptor: u8, fields: &[u8]) -> Vec<u8> {
        let mut header = vec![0x28, 0xB5, 0x2F, 0xFD, descriptor];
        header.extend_from_slice(fields);
        header
    }

    #[test]
    fn header_lengths_and_dictionary_ids_follow_the_descriptor() {
        // Single segment, a 4-byte id, a 1-byte content size: no window byte.
        let h = header(0x23, &[0x78, 0x56, 0x34, 0x12, 9]);
        assert_eq!(header_len(&h), Some(h.len()));
        assert_eq!(header_dictionary_id(&h), 0x1234_5678);
        // A window byte, a 2-byte id, an 8-byte content size.
        let h = header(0xC2, &[0x50, 0x34, 0x12, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(header_len(&h), Some(h.len()));
        assert_eq!(header_dictionary_id(&h), 0x1234);
        // A window byte, a 1-byte id, no content size.
        let h = header(0x01, &[0x50, 0xAB]);
        assert_eq!(header_len(&h), Some(h.len()));
        assert_eq!(header_dictionary_id(&h), 0xAB);
        // No id at all.
        let h = header(0x20, &[7]);
        assert_eq!(header_len(&h), Some(h.len()));
        assert_eq!(header_dictionary_id(&h), 0);
        // Too short to tell.
        assert_eq!(header_len(&h[..4]), None);
        assert_eq!(header_dictionary_id(&h[..4]), 0);
    }
}
