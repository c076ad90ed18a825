//! NAR writing and parsing as NIF resources.
//!
//! - A dump reads a tree's NAR in pieces on dirty I/O schedulers: each call returns the next
//!   piece (at most the size asked for) and stops early at its deadline (`pace.rs`), so a tree
//!   of many small files does not hold a scheduler thread for long.
//! - A parser is fed binaries in steps against the deadline and returns what it read as
//!   terms; file contents come back as sub-binaries of the input.

use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use chunker_core::file::FsError;
use chunker_core::nar::{Dump, Event, Parser};
use rustler::{Atom, Binary, Encoder, Env, NifResult, Resource, ResourceArc, Term};

use crate::atoms;
use crate::error::NativeError;
use crate::exclusive::with_state;
use crate::file::read_piece;
use crate::pace::{twin_nifs, Pace, Steps, Work};
use crate::stats::{CallTimer, Live, NarRead, ResourceKind, Scheduler, STATS};

pub struct NarDump {
    /// `None` once the NAR has been read to its end or failed.
    state: Mutex<Option<Dump>>,
    _live: Live,
}

#[rustler::resource_impl]
impl Resource for NarDump {}

pub struct NarParser {
    state: Mutex<Parser>,
    /// Whether file contents are returned (`{:data, _}` and `:file_end` events).
    contents: bool,
    _live: Live,
}

#[rustler::resource_impl]
impl Resource for NarParser {}

/// `nar_dump_open(path)` -> `{:ok, dump}` or `{:error, {reason, message, %{path: path}}}`;
/// dirty I/O (it reads the path's metadata).
#[rustler::nif(schedule = "DirtyIo")]
fn nar_dump_open<'a>(env: Env<'a>, path: Binary<'a>) -> Term<'a> {
    let _timer = CallTimer::start(Scheduler::DirtyIo);
    let path = Path::new(std::ffi::OsStr::from_bytes(path.as_slice()));
    match Dump::new(path) {
        Ok(dump) => {
            let resource = ResourceArc::new(NarDump {
                state: Mutex::new(Some(dump)),
                _live: Live::new(ResourceKind::NarDump),
            });
            (atoms::ok(), resource).encode(env)
        }
        Err(error) => NativeError::from(FsError::io("read", path, &error)).term(env),
    }
}

/// `nar_dump_read(dump, max)` -> `{:ok, binary}` with the next at most `max` (> 0) bytes,
/// `:eof`, or `{:error, {reason, message, %{path: path}}}` (after which the dump is at its
/// end). Dirty I/O.
#[rustler::nif(schedule = "DirtyIo")]
fn nar_dump_read<'a>(env: Env<'a>, dump: ResourceArc<NarDump>, max: usize) -> NifResult<Term<'a>> {
    with_state(env, &dump.state, |state| {
        read_piece(env, state, max, |reader, buf| loop {
            match reader.read(buf) {
                Ok(read) => {
                    STATS.nar_dumped(read);
                    return Ok(read);
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                // The dump's errors carry their paths (`FsError::io` takes them back out).
                other => {
                    return other.map_err(|error| {
                        NativeError::from(FsError::io("read", Path::new("."), &error))
                    })
                }
            }
        })
    })
}

/// `nar_dump_close(dump)` -> `:ok`: closes the file being read and frees the buffers now
/// rather than when the resource is garbage collected. A dump in use by a call is left to
/// the garbage collector.
#[rustler::nif]
fn nar_dump_close(dump: ResourceArc<NarDump>) -> Atom {
    if let Ok(mut state) = dump.state.try_lock() {
        *state = None;
    }
    atoms::ok()
}

/// `nar_parser_new(contents)` -> a parser at the start of a NAR; with `contents` false it
/// returns the entries only.
#[rustler::nif]
fn nar_parser_new(contents: bool) -> ResourceArc<NarParser> {
    ResourceArc::new(NarParser {
        state: Mutex::new(Parser::new()),
        contents,
        _live: Live::new(ResourceKind::NarParser),
    })
}

/// Feeds `binary[from..]` to the parser in steps until it is used up or the deadline passes.
fn feed<'a>(
    env: Env<'a>,
    pace: &Pace,
    parser: ResourceArc<NarParser>,
    binary: Binary<'a>,
    from: usize,
) -> NifResult<Term<'a>> {
    let input = binary.as_slice();
    if from > input.len() {
        return Err(rustler::Error::BadArg);
    }
    let contents = parser.contents;
    let read = if contents {
        NarRead::Restore
    } else {
        NarRead::Entries
    };
    with_state(env, &parser.state, |state| {
        let mut terms = Vec::new();
        let stepped =
            Steps::new(pace, Work::NarParse, 4096).over(from, input.len(), 0, |at, end| {
                let mut events = Vec::new();
                state
                    .feed(input.get(at..end).unwrap_or_default(), &mut events)
                    .map_err(|error| Ok(NativeError::from(&error)))?;
                STATS.nar_parsed(read, end - at);
                event_terms(env, &binary, events, contents, &mut terms).map_err(Err)?;
                Ok(0)
            });
        Ok(match stepped {
            Ok(at) if at == input.len() => (atoms::done(), terms).encode(env),
            Ok(at) => (atoms::cont(), terms, at).encode(env),
            Err(Ok(error)) => error.term(env),
            Err(Err(badarg)) => return Err(badarg),
        })
    })
}

/// Appends the terms of `events` (read from `binary`) to `terms`.
fn event_terms<'a>(
    env: Env<'a>,
    binary: &Binary<'a>,
    events: Vec<Event<'_>>,
    contents: bool,
    terms: &mut Vec<Term<'a>>,
) -> NifResult<()> {
    let base = binary.as_slice().as_ptr() as usize;
    for event in events {
        if !contents && matches!(event, Event::Data(_) | Event::FileEnd) {
            continue;
        }
        terms.push(match event {
            Event::Directory { path } => (atoms::directory(), bytes(env, &path)).encode(env),
            Event::Symlink { path, target } => {
                (atoms::symlink(), bytes(env, &path), bytes(env, &target)).encode(env)
            }
            Event::File {
                path,
                executable,
                size,
                offset,
            } => (atoms::file(), bytes(env, &path), executable, size, offset).encode(env),
            Event::Data(data) => {
                let start = (data.as_ptr() as usize)
                    .checked_sub(base)
                    .ok_or(rustler::Error::BadArg)?;
                let data = binary.make_subbinary(start, data.len())?;
                (atoms::data(), data).encode(env)
            }
            Event::FileEnd => atoms::file_end().encode(env),
        });
    }
    Ok(())
}

twin_nifs! {
    /// `nar_parser_feed(parser, binary, from)` -> `{:done, events}` once `binary[from..]` is
    /// read, `{:cont, events, next_from}` when the deadline came first, or
    /// `{:error, {:invalid_nar, message, %{offset: offset}}}`. Events: `{:directory, path}`,
    /// `{:symlink, path, target}`, `{:file, path, executable, size, offset}`, `{:data, binary}`
    /// (a sub-binary of `binary`), `:file_end`.
    fn nar_parser_feed / nar_parser_feed_dirty(parser: ResourceArc<NarParser>, binary: Binary<'a>, from: usize)
        = feed(parser, binary, from);
}

/// `nar_parser_finish(parser)` -> `:ok` if the NAR is complete, else the `invalid_nar` error.
#[rustler::nif]
fn nar_parser_finish(env: Env<'_>, parser: ResourceArc<NarParser>) -> NifResult<Term<'_>> {
    with_state(env, &parser.state, |parser| match parser.finish() {
        Ok(()) => Ok(atoms::ok().encode(env)),
        Err(error) => Ok(NativeError::from(&error).term(env)),
    })
}

fn bytes<'a>(env: Env<'a>, data: &[u8]) -> Term<'a> {
    let binary: Binary<'a> = rustler::NewBinary::from_slice(env, data).into();
    binary.to_term(env)
}
