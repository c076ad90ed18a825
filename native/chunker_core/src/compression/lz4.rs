//! The LZ4 frame format (as written and read by the `lz4` tool), over `lz4_flex`'s block
//! codec.
//!
//! The frame layer is written here rather than taken from `lz4_flex::frame` because its
//! decoder pulls input through `io::Read`; this one is pushed pieces of any size, stops at an
//! output budget between blocks, and checks every header field, block size and checksum.
//!
//! Frame layout: magic `04 22 4D 18`, FLG, BD, optional content size (8 bytes) and dictionary
//! id (4), header checksum; blocks, each a 4-byte size (high bit: stored uncompressed), the
//! data and an optional block checksum; a zero end mark; an optional content checksum.
//! Checksums are xxHash32 with seed 0.

use std::hash::Hasher as _;

use lz4_flex::block::{self, CompressTable};
use twox_hash::XxHash32;

use super::codec::{Output, Progress, Step};
use super::error::CompressionError;
use super::format::{is_lz4_magic, is_skippable_magic, read_u32_le};
use super::sink::Sink;

const MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
const LEGACY_MAGIC: [u8; 4] = [0x02, 0x21, 0x4C, 0x18];
/// FLG: version 01, independent blocks, content checksum.
const FLG_DEFAULT: u8 = 0b0110_0100;
const FLG_CONTENT_SIZE: u8 = 0b0000_1000;
/// How far back a linked block may refer.
const WINDOW: usize = 64 * 1024;

/// Block maximum sizes by BD code 4 to 7.
fn block_max_for(code: u8) -> Option<usize> {
    match code {
        4 => Some(64 * 1024),
        5 => Some(256 * 1024),
        6 => Some(1024 * 1024),
        7 => Some(4 * 1024 * 1024),
        _ => None,
    }
}

/// The smallest block size that holds `len` bytes (4 MiB at most).
fn code_for(len: usize) -> u8 {
    (4..=7)
        .find(|&code| block_max_for(code).is_some_and(|max| len <= max))
        .unwrap_or(7)
}

fn header_checksum(descriptor: &[u8]) -> u8 {
    (XxHash32::oneshot(0, descriptor) >> 8) as u8
}

/// A streaming LZ4 frame compressor: independent blocks, content checksum.
pub(crate) struct Lz4Encoder {
    block_max: usize,
    code: u8,
    content_size: Option<u64>,
    fed: u64,
    header_written: bool,
    pending: Vec<u8>,
    content: XxHash32,
    table: CompressTable,
}

impl Lz4Encoder {
    /// The size of its blocks: input is gathered and compressed a block at a time.
    pub(crate) fn block_max(&self) -> usize {
        self.block_max
    }

    /// A compressor with 4 MiB blocks, for input of unknown size.
    pub(crate) fn new() -> Self {
        Self::with_code(7, None)
    }

    /// A compressor for exactly `len` bytes: the smallest block size that holds them, and
    /// the content size in the header.
    pub(crate) fn for_length(len: usize) -> Self {
        Self::with_code(code_for(len), Some(len as u64))
    }

    fn with_code(code: u8, content_size: Option<u64>) -> Self {
        Self {
            block_max: block_max_for(code).unwrap_or(4 * 1024 * 1024),
            code,
            content_size,
            fed: 0,
            header_written: false,
            pending: Vec::new(),
            content: XxHash32::with_seed(0),
            table: CompressTable::large(),
        }
    }

    pub(crate) fn update(
        &mut self,
        mut input: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<(), CompressionError> {
        self.write_header(sink)?;
        self.content.write(input);
        self.fed += input.len() as u64;
        while !input.is_empty() {
            if self.pending.is_empty() && input.len() >= self.block_max {
                // Whole blocks straight from the input, without copying them first.
                let (block, rest) = input.split_at(self.block_max);
                self.write_block(block, sink)?;
                input = rest;
                continue;
            }
            let take = (self.block_max - self.pending.len()).min(input.len());
            let (now, rest) = input.split_at(take);
            self.pending.extend_from_slice(now);
            input = rest;
            if self.pending.len() == self.block_max {
                let block = std::mem::take(&mut self.pending);
                self.write_block(&block, sink)?;
                self.pending = block;
                self.pending.clear();
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, sink: &mut dyn Sink) -> Result<(), CompressionError> {
        self.write_header(sink)?;
        if let Some(size) = self.content_size {
            if size != self.fed {
                return Err(CompressionError::InvalidOptions(format!(
                    "the lz4 frame was declared {size} bytes long but was given {}",
                    self.fed
                )));
            }
        }
        if !self.pending.is_empty() {
            let block = std::mem::take(&mut self.pending);
            self.write_block(&block, sink)?;
        }
        let checksum = self.content.finish_32();
        let mut tail = [0u8; 8];
        tail[4..].copy_from_slice(&checksum.to_le_bytes());
        write_bytes(sink, &tail)
    }

    fn write_header(&mut self, sink: &mut dyn Sink) -> Result<(), CompressionError> {
        if self.header_written {
            return Ok(());
        }
        self.header_written = true;
        let mut header = Vec::with_capacity(15);
        header.extend_from_slice(&MAGIC);
        let flg = FLG_DEFAULT
            | if self.content_size.is_some() {
                FLG_CONTENT_SIZE
            } else {
                0
            };
        header.push(flg);
        header.push(self.code << 4);
        if let Some(size) = self.content_size {
            header.extend_from_slice(&size.to_le_bytes());
        }
        let checksum = header_checksum(header.get(4..).unwrap_or_default());
        header.push(checksum);
        write_bytes(sink, &header)
    }

    fn write_block(&mut self, block: &[u8], sink: &mut dyn Sink) -> Result<(), CompressionError> {
        let bound = 4 + block::get_maximum_output_size(block.len());
        let room = sink.spare(bound, usize::MAX)?;
        let (size_field, body) = room.split_at_mut(4);
        let compressed = block::compress_into_with_table(block, body, &mut self.table)
            .map_err(|e| CompressionError::Corrupt(format!("lz4 block compression: {e}")))?;
        let (len, word) = if compressed < block.len() {
            (compressed, compressed as u32)
        } else {
            // Incompressible: store the block as it is, as the format allows.
            let dst = body
                .get_mut(..block.len())
                .ok_or(CompressionError::OutOfMemory)?;
            dst.copy_from_slice(block);
            (block.len(), block.len() as u32 | 0x8000_0000)
        };
        size_field.copy_from_slice(&word.to_le_bytes());
        sink.commit(4 + len);
        Ok(())
    }
}

fn write_bytes(sink: &mut dyn Sink, bytes: &[u8]) -> Result<(), CompressionError> {
    let room = sink.spare(bytes.len(), usize::MAX)?;
    room.copy_from_slice(bytes);
    sink.commit(bytes.len());
    Ok(())
}

/// The block size of the frame `data` starts with, if it starts with a valid frame header.
pub(crate) fn first_block_max(data: &[u8]) -> Option<usize> {
    if !is_lz4_magic(data) {
        return None;
    }
    block_max_for(data.get(5)? >> 4)
}

/// The content size the LZ4 frame at the start of `data` declares, if it declares one (flag
/// bit 3 of its descriptor; the size follows the block descriptor byte).
pub(crate) fn declared_size(data: &[u8]) -> Option<u64> {
    if !is_lz4_magic(data) || data.get(4)? & 0x08 == 0 {
        return None;
    }
    let size: [u8; 8] = data.get(6..14)?.try_into().ok()?;
    Some(u64::from_le_bytes(size))
}

/// Compresses all of `data` as one frame into `sink`.
pub(crate) fn compress_oneshot(data: &[u8], sink: &mut dyn Sink) -> Result<(), CompressionError> {
    let mut encoder = Lz4Encoder::for_length(data.len());
    encoder.update(data, sink)?;
    encoder.finish(sink)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames: a frame magic (or the end of the input) comes next.
    Magic,
    SkipSize,
    Skip(u64),
    Flags,
    DescriptorRest(usize),
    BlockSize,
    Block {
        size: usize,
        stored: bool,
    },
    ContentChecksum,
}

#[derive(Debug, Clone, Copy, Default)]
struct Frame {
    flags: [u8; 2],
    block_max: usize,
    block_checksum: bool,
    content_checksum: bool,
    independent: bool,
    content_size: Option<u64>,
    produced: u64,
}

/// A push-style LZ4 frame decoder for concatenated frames (skippable frames included).
pub(crate) struct Lz4Decoder {
    state: State,
    frame: Frame,
    /// Bytes of the current unit (header field, block) gathered across pieces.
    pending: Vec<u8>,
    content: XxHash32,
    /// The last 64 KiB of output, for frames whose blocks refer to earlier ones.
    history: Vec<u8>,
    /// Where a block is decoded when the output may not take a whole block at once.
    scratch: Vec<u8>,
    frames: u64,
    consumed: u64,
    /// Input offset where the unit being read began.
    unit_offset: u64,
    /// A frame's declared content size, to reserve output for before its first block.
    reserve_hint: Option<u64>,
}

/// A unit of input: borrowed from the piece, or gathered in `pending`.
enum Unit {
    Direct(std::ops::Range<usize>),
    Gathered(Vec<u8>),
}

impl Lz4Decoder {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Magic,
            frame: Frame::default(),
            pending: Vec::new(),
            content: XxHash32::with_seed(0),
            history: Vec::new(),
            scratch: Vec::new(),
            frames: 0,
            consumed: 0,
            unit_offset: 0,
            reserve_hint: None,
        }
    }

    /// Takes the next `need` bytes of the unit being read, or gathers what there is and
    /// returns `None` (the whole input is then consumed).
    fn gather(&mut self, input: &[u8], pos: &mut usize, need: usize) -> Option<Unit> {
        let rest = input.get(*pos..).unwrap_or_default();
        if self.pending.is_empty() && rest.len() >= need {
            let start = *pos;
            *pos += need;
            return Some(Unit::Direct(start..start + need));
        }
        let take = (need - self.pending.len()).min(rest.len());
        self.pending
            .extend_from_slice(rest.get(..take).unwrap_or_default());
        *pos += take;
        (self.pending.len() == need).then(|| Unit::Gathered(std::mem::take(&mut self.pending)))
    }

    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Output<'_>) -> Progress {
        let mut pos = 0;
        let mut progressed = false;
        loop {
            // Units (input read and output written alike) count against the budget; one
            // unit per call at least, so that every call makes progress.
            if progressed && out.budget_spent() {
                break;
            }
            if self.pending.is_empty() {
                self.unit_offset = self.consumed + pos as u64;
            }
            if self.state == State::Magic {
                let rest = input.get(pos..).unwrap_or_default();
                if self.pending.is_empty() && rest.is_empty() {
                    break;
                }
                if self.pending.is_empty() && !could_start_frame(rest) {
                    return Err(self.trailing_at_unit());
                }
            }
            let need = self.unit_size();
            let Some(unit) = self.gather(input, &mut pos, need) else {
                break;
            };
            let bytes = match &unit {
                Unit::Direct(range) => input.get(range.clone()).unwrap_or_default(),
                Unit::Gathered(bytes) => bytes.as_slice(),
            };
            let result = self.process(bytes, out);
            if let Unit::Gathered(mut buffer) = unit {
                buffer.clear();
                self.pending = buffer;
            }
            result?;
            out.spend(need);
            progressed = true;
        }
        self.consumed += pos as u64;
        Ok(Step {
            consumed: pos,
            pending: false,
        })
    }

    fn unit_size(&self) -> usize {
        match self.state {
            State::Magic | State::SkipSize | State::BlockSize | State::ContentChecksum => 4,
            State::Skip(left) => usize::try_from(left).unwrap_or(usize::MAX).min(1 << 20),
            State::Flags => 2,
            State::DescriptorRest(len) => len,
            State::Block { size, .. } => size + if self.frame.block_checksum { 4 } else { 0 },
        }
    }

    /// Trailing data starting where the current unit (a would-be frame magic) began.
    fn trailing_at_unit(&self) -> CompressionError {
        CompressionError::TrailingData {
            offset: self.unit_offset,
        }
    }

    /// Handles one complete unit.
    fn process(&mut self, bytes: &[u8], out: &mut Output<'_>) -> Result<(), CompressionError> {
        match self.state {
            State::Magic => {
                if is_lz4_magic(bytes) {
                    self.state = State::Flags;
                } else if is_skippable_magic(bytes) {
                    self.state = State::SkipSize;
                } else if bytes == LEGACY_MAGIC {
                    return Err(CompressionError::UnsupportedFormat(
                        "lz4 legacy frames (lz4 -l)".to_string(),
                    ));
                } else {
                    return Err(self.trailing_at_unit());
                }
            }
            State::SkipSize => {
                let size = read_u32_le(bytes, 0).unwrap_or(0);
                self.state = if size == 0 {
                    self.end_frame_unit()
                } else {
                    State::Skip(u64::from(size))
                };
            }
            State::Skip(left) => {
                let left = left - bytes.len() as u64;
                self.state = if left == 0 {
                    self.end_frame_unit()
                } else {
                    State::Skip(left)
                };
            }
            State::Flags => self.read_flags(bytes)?,
            State::DescriptorRest(_) => self.read_descriptor_rest(bytes)?,
            State::BlockSize => {
                let word = read_u32_le(bytes, 0).unwrap_or(0);
                let size = (word & 0x7FFF_FFFF) as usize;
                if word == 0 {
                    self.state = if self.frame.content_checksum {
                        State::ContentChecksum
                    } else {
                        self.end_frame()?
                    };
                } else if size > self.frame.block_max {
                    return Err(CompressionError::Corrupt(format!(
                        "lz4 block of {size} bytes in a frame of {}-byte blocks",
                        self.frame.block_max
                    )));
                } else {
                    self.state = State::Block {
                        size,
                        stored: word & 0x8000_0000 != 0,
                    };
                }
            }
            State::Block { size, stored } => {
                if let Some(hint) = self.reserve_hint.take() {
                    out.reserve(hint)?;
                }
                let (data, checksum) = bytes.split_at(size.min(bytes.len()));
                if self.frame.block_checksum
                    && read_u32_le(checksum, 0) != Some(XxHash32::oneshot(0, data))
                {
                    return Err(CompressionError::Corrupt(
                        "lz4 block checksum mismatch".to_string(),
                    ));
                }
                self.write_block(data, stored, out)?;
                self.state = State::BlockSize;
            }
            State::ContentChecksum => {
                if read_u32_le(bytes, 0) != Some(self.content.finish_32()) {
                    return Err(CompressionError::Corrupt(
                        "lz4 content checksum mismatch".to_string(),
                    ));
                }
                self.state = self.end_frame()?;
            }
        }
        Ok(())
    }

    fn read_flags(&mut self, bytes: &[u8]) -> Result<(), CompressionError> {
        let [flg, bd] = <[u8; 2]>::try_from(bytes).map_err(|_| CompressionError::Truncated)?;
        if flg >> 6 != 0b01 {
            return Err(CompressionError::Corrupt(format!(
                "lz4 frame version {} (only 1 exists)",
                flg >> 6
            )));
        }
        if flg & 0b10 != 0 || bd & 0b1000_1111 != 0 {
            return Err(CompressionError::Corrupt(
                "lz4 frame header has reserved bits set".to_string(),
            ));
        }
        if flg & 0b1 != 0 {
            return Err(CompressionError::UnsupportedFormat(
                "lz4 frames that need a dictionary".to_string(),
            ));
        }
        let block_max = block_max_for(bd >> 4).ok_or_else(|| {
            CompressionError::Corrupt(format!("lz4 block size code {} is invalid", bd >> 4))
        })?;
        self.frame = Frame {
            flags: [flg, bd],
            block_max,
            independent: flg & 0b0010_0000 != 0,
            block_checksum: flg & 0b0001_0000 != 0,
            content_checksum: flg & 0b0000_0100 != 0,
            content_size: None,
            produced: 0,
        };
        let rest = if flg & FLG_CONTENT_SIZE != 0 { 8 } else { 0 } + 1;
        self.state = State::DescriptorRest(rest);
        Ok(())
    }

    fn read_descriptor_rest(&mut self, bytes: &[u8]) -> Result<(), CompressionError> {
        let (fields, checksum) = bytes.split_at(bytes.len().saturating_sub(1));
        let mut descriptor = self.frame.flags.to_vec();
        descriptor.extend_from_slice(fields);
        if checksum.first() != Some(&header_checksum(&descriptor)) {
            return Err(CompressionError::Corrupt(
                "lz4 header checksum mismatch".to_string(),
            ));
        }
        if let Ok(size) = <[u8; 8]>::try_from(fields) {
            self.frame.content_size = Some(u64::from_le_bytes(size));
        }
        self.reserve_hint = self.frame.content_size;
        self.content = XxHash32::with_seed(0);
        self.history.clear();
        self.state = State::BlockSize;
        Ok(())
    }

    fn write_block(
        &mut self,
        data: &[u8],
        stored: bool,
        out: &mut Output<'_>,
    ) -> Result<(), CompressionError> {
        let block_max = self.frame.block_max;
        if stored {
            self.account(data);
            return out.write_all(data);
        }
        if out.allowed() > block_max {
            // Far from the size limit: decode straight into the output.
            let room = out.room(block_max)?;
            let n = decompress_block(data, room, self.frame.independent, &self.history)?;
            let decoded = room.get(..n).unwrap_or_default();
            self.account(decoded);
            return out.commit(n);
        }
        // Near the limit: decode aside, then copy out what the limit allows.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(block_max, 0);
        let result = decompress_block(data, &mut scratch, self.frame.independent, &self.history)
            .and_then(|n| {
                let decoded = scratch.get(..n).unwrap_or_default();
                self.account(decoded);
                out.write_all(decoded)
            });
        self.scratch = scratch;
        result
    }

    /// Counts decoded bytes into the frame's size, checksum and history.
    fn account(&mut self, decoded: &[u8]) {
        self.frame.produced += decoded.len() as u64;
        if self.frame.content_checksum {
            self.content.write(decoded);
        }
        if !self.frame.independent {
            self.history.extend_from_slice(decoded);
            let excess = self.history.len().saturating_sub(WINDOW);
            self.history.drain(..excess);
        }
    }

    fn end_frame(&mut self) -> Result<State, CompressionError> {
        if let Some(expected) = self.frame.content_size {
            if expected != self.frame.produced {
                return Err(CompressionError::Corrupt(format!(
                    "lz4 frame declares {expected} bytes of content but holds {}",
                    self.frame.produced
                )));
            }
        }
        Ok(self.end_frame_unit())
    }

    fn end_frame_unit(&mut self) -> State {
        self.frames += 1;
        State::Magic
    }

    pub(crate) fn finish(&mut self, _out: &mut Output<'_>) -> Result<(), CompressionError> {
        if self.state != State::Magic || !self.pending.is_empty() || self.frames == 0 {
            return Err(CompressionError::Truncated);
        }
        Ok(())
    }
}

fn decompress_block(
    data: &[u8],
    output: &mut [u8],
    independent: bool,
    history: &[u8],
) -> Result<usize, CompressionError> {
    if independent {
        block::decompress_into(data, output)
    } else {
        block::decompress_into_with_dict(data, output, history)
    }
    .map_err(|e| CompressionError::Corrupt(format!("lz4 block: {e}")))
}

/// True if `rest` begins like an LZ4 or skippable frame (or is too short to tell yet).
fn could_start_frame(rest: &[u8]) -> bool {
    if rest.len() >= 4 {
        return is_lz4_magic(rest) || is_skippable_magic(rest) || rest.starts_with(&LEGACY_MAGIC);
    }
    let skippable_tail = [0x2A, 0x4D, 0x18];
    MAGIC.starts_with(rest)
        || LEGACY_MAGIC.starts_with(rest)
        || match rest.split_first() {
            Some((first, tail)) => first & 0xF0 == 0x50 && skippable_tail.starts_with(tail),
            None => true,
        }
}
