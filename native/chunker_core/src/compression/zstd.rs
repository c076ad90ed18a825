//! Zstandard, through `zstd-safe` (the reference C library).
//!
//! One-shot compression reuses one compression context per thread: creating a context
//! allocates its tables, which costs more than compressing a small chunk.

use std::cell::RefCell;
use std::sync::Mutex;

use zstd_safe::zstd_sys::ZSTD_EndDirective;
use zstd_safe::{CCtx, CParameter, DCtx, InBuffer, OutBuffer};

use super::codec::{Output, Progress, Step};
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

fn configure(cctx: &mut CCtx<'_>, level: i32) -> Result<(), CompressionError> {
    let params = [
        CParameter::CompressionLevel(level),
        // The zstd tool writes a content checksum by default; so do we.
        CParameter::ChecksumFlag(true),
    ];
    for param in params {
        cctx.set_parameter(param).map_err(|code| {
            CompressionError::InvalidOptions(zstd_safe::get_error_name(code).to_string())
        })?;
    }
    Ok(())
}

/// Compresses all of `data` as one frame (with its content size) into `sink`.
pub(crate) fn compress_oneshot(
    data: &[u8],
    level: i32,
    sink: &mut dyn Sink,
) -> Result<(), CompressionError> {
    CCTX.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| CompressionError::OutOfMemory)?;
        let cctx = slot.get_or_insert_with(CCtx::create);
        cctx.reset(zstd_safe::ResetDirective::SessionAndParameters)
            .map_err(error)?;
        configure(cctx, level)?;
        let bound = zstd_safe::compress_bound(data.len());
        let start = sink.written();
        let room = sink.spare(bound, start.saturating_add(bound))?;
        let written = cctx.compress2(room, data).map_err(error)?;
        sink.commit(written);
        Ok(())
    })
}

/// A streaming zstd compressor.
pub(crate) struct ZstdEncoder {
    /// Always `Some` until dropped (then returned to the pool).
    cctx: Option<CCtx<'static>>,
}

impl Drop for ZstdEncoder {
    fn drop(&mut self) {
        if let Some(mut cctx) = self.cctx.take() {
            if cctx
                .reset(zstd_safe::ResetDirective::SessionAndParameters)
                .is_ok()
            {
                give_back(&CCTX_POOL, cctx);
            }
        }
    }
}

impl ZstdEncoder {
    /// `size`, when known, goes into the frame header and tunes the parameters, as one-shot
    /// compression does.
    pub(crate) fn new(level: i32, size: Option<u64>) -> Result<Self, CompressionError> {
        let mut cctx = take(&CCTX_POOL, CCtx::try_create)?;
        configure(&mut cctx, level)?;
        if size.is_some() {
            cctx.set_pledged_src_size(size).map_err(error)?;
        }
        Ok(Self { cctx: Some(cctx) })
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
    frames: u64,
    consumed: u64,
}

impl ZstdDecoder {
    pub(crate) fn new() -> Result<Self, CompressionError> {
        Ok(Self {
            dctx: Some(take(&DCTX_POOL, DCtx::try_create)?),
            in_frame: false,
            frames: 0,
            consumed: 0,
        })
    }

    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Output<'_>) -> Progress {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            if !self.in_frame {
                if rest.is_empty() {
                    return Ok(self.step_done(pos, false));
                }
                if !could_start_frame(rest) {
                    return Err(CompressionError::TrailingData {
                        offset: self.consumed + pos as u64,
                    });
                }
                if let Ok(Some(size)) = zstd_safe::get_frame_content_size(rest) {
                    out.reserve(size)?;
                }
                self.in_frame = true;
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
