//! A streaming NAR parser: fed pieces of any size, it reports each node as it is read and a
//! regular file's contents as they pass, in constant memory.
//!
//! It validates what current Nix validates, and accepts only the canonical form
//! `nix-store --dump` writes: the magic, zero padding, the order of fields, names that are
//! non-empty, not `.` or `..`, without `/` or NUL, strictly increasing (so no duplicates)
//! within a directory, an empty `executable` marker, known node types, and nothing after
//! the root node. Every error names the problem and the offset of the string at fault.

use crate::observe::{count, span};
use std::borrow::Cow;
use std::fmt;

use super::MAGIC;

/// Longest name accepted. Nix sets no limit; file systems do (255 bytes on Linux), and a
/// bound keeps a hostile NAR from making the parser hold an unbounded name.
const NAME_MAX: u64 = 4096;
/// Longest symlink target accepted (for the same reason; Linux's PATH_MAX is 4096).
const TARGET_MAX: u64 = 65536;
/// Longest path of an entry below the root. Nix sets no limit, but could not restore a
/// deeper one (a path longer than Linux's PATH_MAX, 4096, cannot be created), and each event
/// carries its path: without a bound, a NAR of deeply nested long names costs memory and
/// time quadratic in its size.
const PATH_MAX: usize = 4096;
/// What input that does not start with a NAR's magic string is told.
const NOT_A_NAR: &str = "not a NAR: it does not start with the string \"nix-archive-1\"";

/// Longest tag: "nix-archive-1".
const TAG_MAX: u64 = 16;

/// Something the parser read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A directory; its entries follow.
    Directory {
        /// Path relative to the root, `/`-separated; empty for the root.
        path: Vec<u8>,
    },
    /// A symbolic link.
    Symlink {
        /// Path relative to the root.
        path: Vec<u8>,
        /// The link's target, as stored.
        target: Vec<u8>,
    },
    /// A regular file; its contents follow as [`Event::Data`], then [`Event::FileEnd`].
    File {
        /// Path relative to the root.
        path: Vec<u8>,
        /// True if the file is executable.
        executable: bool,
        /// Length of the contents.
        size: u64,
        /// NAR offset of the contents' first byte.
        offset: u64,
    },
    /// The next bytes of the current file's contents.
    Data(&'a [u8]),
    /// The end of the current file's contents.
    FileEnd,
}

/// A NAR that is not valid: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarError {
    /// Offset in the NAR of the string (or byte) at fault.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for NarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid NAR at offset {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for NarError {}

/// The string the parser reads next, by its role in the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Magic,
    Open,
    TypeTag,
    Type,
    RegularTag,
    ExecutableMarker,
    ContentsTag,
    Contents,
    Close,
    TargetTag,
    Target,
    DirectoryItem,
    EntryOpen,
    NameTag,
    Name,
    NodeTag,
    EntryClose,
    End,
}

/// Where in reading the current string the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Length,
    Token { len: u64 },
    Content { left: u64 },
    Padding { len: u8 },
}

/// One directory being read: the last entry name seen in it.
#[derive(Debug, Clone, Default)]
struct Dir {
    previous: Option<Vec<u8>>,
}

/// The streaming parser; see the module documentation.
///
/// ```
/// use chunker_core::nar::{Event, Parser};
/// fn string(s: &[u8]) -> Vec<u8> {
///     let mut out = (s.len() as u64).to_le_bytes().to_vec();
///     out.extend_from_slice(s);
///     out.resize(out.len().div_ceil(8) * 8, 0);
///     out
/// }
/// let nar: Vec<u8> = [&b"nix-archive-1"[..], b"(", b"type", b"regular", b"contents", b"hi", b")"]
///     .iter().flat_map(|s| string(s)).collect();
/// let mut parser = Parser::new();
/// let mut events = Vec::new();
/// parser.feed(&nar, &mut events).unwrap();
/// parser.finish().unwrap();
/// assert_eq!(events[0], Event::File { path: vec![], executable: false, size: 2, offset: 96 });
/// assert_eq!(events[1], Event::Data(b"hi"));
/// ```
#[derive(Debug, Clone)]
pub struct Parser {
    expect: Expect,
    stage: Stage,
    /// Bytes of the current length field, token or padding gathered so far.
    gathered: Vec<u8>,
    /// Input offset of the next byte.
    offset: u64,
    /// Input offset where the current string began.
    string_start: u64,
    path: Vec<u8>,
    /// Path lengths to restore when the current entries end, innermost last.
    entries: Vec<usize>,
    dirs: Vec<Dir>,
    executable: bool,
    /// Length of the file whose contents are being read.
    content_len: u64,
    name: Vec<u8>,
    failed: Option<NarError>,
    /// Whether events carry paths (they are empty otherwise).
    paths: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser at the start of a NAR.
    pub fn new() -> Self {
        Self {
            expect: Expect::Magic,
            stage: Stage::Length,
            gathered: Vec::with_capacity(16),
            offset: 0,
            string_start: 0,
            path: Vec::new(),
            entries: Vec::new(),
            dirs: Vec::new(),
            executable: false,
            content_len: 0,
            name: Vec::new(),
            failed: None,
            paths: true,
        }
    }

    /// A parser whose events carry empty paths, for callers that need only the layout: the
    /// same validation, without copying each entry's path.
    pub fn without_paths() -> Self {
        Self {
            paths: false,
            ..Self::new()
        }
    }

    /// The current path for an event.
    fn event_path(&self) -> Vec<u8> {
        if self.paths {
            self.path.clone()
        } else {
            Vec::new()
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True once the root node is complete.
    pub fn is_complete(&self) -> bool {
        self.expect == Expect::End
    }

    /// Parses the next piece of the NAR, appending what it read to `events` (file contents
    /// as slices of `input`). After an error, every call returns the same error.
    pub fn feed<'a>(
        &mut self,
        input: &'a [u8],
        events: &mut Vec<Event<'a>>,
    ) -> Result<(), NarError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        span!("chunker.nar.parse", bytes = input.len());
        count!("chunker.nar.parse.bytes", input.len());
        let result = self.run(input, events);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    /// Declares the end of the NAR: an error unless the root node is complete.
    pub fn finish(&mut self) -> Result<(), NarError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.expect == Expect::End && self.stage == Stage::Length && self.gathered.is_empty() {
            Ok(())
        } else {
            Err(NarError {
                offset: self.offset,
                message: "the NAR ends before its root node does (truncated)".to_string(),
            })
        }
    }

    fn run<'a>(&mut self, input: &'a [u8], events: &mut Vec<Event<'a>>) -> Result<(), NarError> {
        let mut rest = input;
        while !rest.is_empty() {
            match self.stage {
                Stage::Length => {
                    if self.expect == Expect::End {
                        return Err(self.error_here("data after the end of the NAR"));
                    }
                    if self.gathered.is_empty() {
                        self.string_start = self.offset;
                    }
                    let Some(bytes) = self.take(&mut rest, 8) else {
                        continue;
                    };
                    let len = u64::from_le_bytes(bytes.as_ref().try_into().unwrap_or([0; 8]));
                    self.recycle(bytes);
                    self.start_string(len, events)?;
                }
                Stage::Token { len } => {
                    let need = usize::try_from(len).unwrap_or(usize::MAX);
                    let Some(token) = self.take(&mut rest, need) else {
                        continue;
                    };
                    self.stage = padding(len);
                    let handled = self.token(&token, events);
                    self.recycle(token);
                    handled?;
                }
                Stage::Content { left } => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    let (data, tail) = rest.split_at(take);
                    rest = tail;
                    self.offset += take as u64;
                    events.push(Event::Data(data));
                    let left = left - take as u64;
                    self.stage = Stage::Content { left };
                    if left == 0 {
                        self.stage = padding(self.content_len);
                        events.push(Event::FileEnd);
                        self.expect = Expect::Close;
                    }
                }
                Stage::Padding { len } => {
                    let Some(bytes) = self.take(&mut rest, usize::from(len)) else {
                        continue;
                    };
                    let zero = bytes.iter().all(|&b| b == 0);
                    self.recycle(bytes);
                    if !zero {
                        return Err(NarError {
                            offset: self.offset - u64::from(len),
                            message: "non-zero padding".to_string(),
                        });
                    }
                    self.stage = Stage::Length;
                }
            }
        }
        Ok(())
    }

    /// Takes the next `need` bytes; `None` until they have all arrived. They are borrowed
    /// from the input when it holds them all (the usual case: no copy, no allocation), and
    /// gathered across pieces otherwise.
    fn take<'i>(&mut self, rest: &mut &'i [u8], need: usize) -> Option<Cow<'i, [u8]>> {
        if self.gathered.is_empty() {
            if let Some((now, tail)) = rest.split_at_checked(need) {
                *rest = tail;
                self.offset += need as u64;
                return Some(Cow::Borrowed(now));
            }
        }
        let take = (need - self.gathered.len()).min(rest.len());
        let (now, tail) = rest.split_at(take);
        self.gathered.extend_from_slice(now);
        *rest = tail;
        self.offset += take as u64;
        (self.gathered.len() == need).then(|| Cow::Owned(std::mem::take(&mut self.gathered)))
    }

    /// Gives a gathered buffer back, keeping its capacity for the next string.
    fn recycle(&mut self, bytes: Cow<'_, [u8]>) {
        if let Cow::Owned(mut buffer) = bytes {
            buffer.clear();
            self.gathered = buffer;
        }
    }

    fn error_at_string(&self, message: impl Into<String>) -> NarError {
        NarError {
            offset: self.string_start,
            message: message.into(),
        }
    }

    fn error_here(&self, message: &str) -> NarError {
        NarError {
            offset: self.offset,
            message: message.to_string(),
        }
    }

    /// A string's length has been read: decide how to read its bytes.
    fn start_string<'a>(&mut self, len: u64, events: &mut Vec<Event<'a>>) -> Result<(), NarError> {
        let max = match self.expect {
            Expect::Contents => {
                events.push(Event::File {
                    path: self.event_path(),
                    executable: self.executable,
                    size: len,
                    offset: self.offset,
                });
                self.content_len = len;
                if len == 0 {
                    events.push(Event::FileEnd);
                    self.expect = Expect::Close;
                    self.stage = Stage::Length;
                } else {
                    self.stage = Stage::Content { left: len };
                }
                return Ok(());
            }
            Expect::Name => NAME_MAX,
            Expect::Target => TARGET_MAX,
            _ => TAG_MAX,
        };
        if len > max {
            return Err(self.error_at_string(match self.expect {
                Expect::Name => format!("file name of {len} bytes (at most {NAME_MAX})"),
                Expect::Target => format!("symlink target of {len} bytes (at most {TARGET_MAX})"),
                Expect::Magic => NOT_A_NAR.to_string(),
                _ => format!("expected {}, got a string of {len} bytes", self.expected()),
            }));
        }
        if len == 0 {
            self.stage = Stage::Length;
            self.token(&[], events)
        } else {
            self.stage = Stage::Token { len };
            Ok(())
        }
    }

    fn expected(&self) -> &'static str {
        match self.expect {
            Expect::Magic => "\"nix-archive-1\"",
            Expect::Open | Expect::EntryOpen => "\"(\"",
            Expect::TypeTag => "\"type\"",
            Expect::Type => "\"regular\", \"directory\" or \"symlink\"",
            Expect::RegularTag => "\"executable\" or \"contents\"",
            Expect::ExecutableMarker => "\"\" (the executable marker)",
            Expect::ContentsTag => "\"contents\"",
            Expect::Contents => "file contents",
            Expect::Close | Expect::EntryClose => "\")\"",
            Expect::TargetTag => "\"target\"",
            Expect::Target => "a symlink target",
            Expect::DirectoryItem => "\"entry\" or \")\"",
            Expect::NameTag => "\"name\"",
            Expect::Name => "an entry name",
            Expect::NodeTag => "\"node\"",
            Expect::End => "the end of the NAR",
        }
    }

    fn unexpected(&self, token: &[u8]) -> NarError {
        if self.expect == Expect::Magic {
            return self.error_at_string(format!(
                "{NOT_A_NAR} (its first string is {:?})",
                String::from_utf8_lossy(token)
            ));
        }
        self.error_at_string(format!(
            "expected {}, got {:?}",
            self.expected(),
            String::from_utf8_lossy(token)
        ))
    }

    /// Handles a complete bounded string.
    fn token<'a>(&mut self, t: &[u8], events: &mut Vec<Event<'a>>) -> Result<(), NarError> {
        self.expect = match self.expect {
            Expect::Magic if t == MAGIC => Expect::Open,
            Expect::Open if t == b"(" => Expect::TypeTag,
            Expect::TypeTag if t == b"type" => Expect::Type,
            Expect::Type if t == b"regular" => {
                self.executable = false;
                Expect::RegularTag
            }
            Expect::Type if t == b"symlink" => Expect::TargetTag,
            Expect::Type if t == b"directory" => {
                events.push(Event::Directory {
                    path: self.event_path(),
                });
                self.dirs.push(Dir::default());
                Expect::DirectoryItem
            }
            Expect::Type => {
                return Err(self.error_at_string(format!(
                    "unknown node type {:?}",
                    String::from_utf8_lossy(t)
                )))
            }
            Expect::RegularTag if t == b"executable" => Expect::ExecutableMarker,
            Expect::RegularTag if t == b"contents" => Expect::Contents,
            Expect::ExecutableMarker if t.is_empty() => {
                self.executable = true;
                Expect::ContentsTag
            }
            Expect::ExecutableMarker => {
                return Err(self.error_at_string("executable marker has a non-empty value"))
            }
            Expect::ContentsTag if t == b"contents" => Expect::Contents,
            Expect::TargetTag if t == b"target" => Expect::Target,
            Expect::Target => {
                events.push(Event::Symlink {
                    path: self.event_path(),
                    target: t.to_vec(),
                });
                Expect::Close
            }
            Expect::Close if t == b")" => self.node_done(),
            Expect::DirectoryItem if t == b"entry" => Expect::EntryOpen,
            Expect::DirectoryItem if t == b")" => {
                self.dirs.pop();
                self.node_done()
            }
            Expect::EntryOpen if t == b"(" => Expect::NameTag,
            Expect::NameTag if t == b"name" => Expect::Name,
            Expect::Name => {
                self.check_name(t)?;
                let separator = usize::from(!self.path.is_empty());
                if self.path.len() + separator + t.len() > PATH_MAX {
                    return Err(self.error_at_string(format!(
                        "path of more than {PATH_MAX} bytes (deeper than any file system takes)"
                    )));
                }
                self.name.clear();
                self.name.extend_from_slice(t);
                Expect::NodeTag
            }
            Expect::NodeTag if t == b"node" => {
                self.entries.push(self.path.len());
                if !self.path.is_empty() {
                    self.path.push(b'/');
                }
                self.path.extend_from_slice(&self.name);
                Expect::Open
            }
            Expect::EntryClose if t == b")" => {
                let len = self.entries.pop().unwrap_or(0);
                self.path.truncate(len);
                Expect::DirectoryItem
            }
            _ => return Err(self.unexpected(t)),
        };
        Ok(())
    }

    /// A node's `)` was read: the enclosing entry closes next, or the NAR ends.
    fn node_done(&mut self) -> Expect {
        if self.entries.is_empty() {
            Expect::End
        } else {
            Expect::EntryClose
        }
    }

    fn check_name(&mut self, name: &[u8]) -> Result<(), NarError> {
        if name.is_empty()
            || name == b"."
            || name == b".."
            || name.contains(&b'/')
            || name.contains(&0)
        {
            return Err(self.error_at_string(format!(
                "invalid file name {:?}",
                String::from_utf8_lossy(name)
            )));
        }
        let dir = self.dirs.last_mut().ok_or_else(|| NarError {
            offset: self.string_start,
            message: "entry outside a directory".to_string(),
        })?;
        if let Some(previous) = &dir.previous {
            if name <= previous.as_slice() {
                let what = if name == previous.as_slice() {
                    "duplicate"
                } else {
                    "unsorted"
                };
                return Err(NarError {
                    offset: self.string_start,
                    message: format!(
                        "{what} directory entry {:?} after {:?}",
                        String::from_utf8_lossy(name),
                        String::from_utf8_lossy(previous)
                    ),
                });
            }
        }
        let previous = dir.previous.get_or_insert_with(Vec::new);
        previous.clear();
        previous.extend_from_slice(name);
        Ok(())
    }
}

/// The padding stage after `len` bytes of string data (none when `len` is a multiple of 8).
fn padding(len: u64) -> Stage {
    let pad = ((8 - len % 8) % 8) as u8;
    if pad == 0 {
        Stage::Length
    } else {
        Stage::Padding { len: pad }
    }
}
