//! NAR writing and parsing as NIF resources.
//!
//! - A dump reads a tree's NAR in pieces on dirty I/O schedulers: each call returns the next
//!   piece (at most the size asked for) and stops early after about 2 ms, so a tree of many
//!   small files does not hold a scheduler thread for long.
//! - A parser is fed slices of binaries on the caller's normal scheduler (charged to it) and
//!   returns what it read as terms; file contents come back as sub-binaries of the input.

use std::io::{self, ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chunker_core::nar::{Dump, Event, NarError, Parser};
use rustler::{Atom, Binary, Encoder, Env, NifResult, OwnedBinary, Resource, ResourceArc, Term};

use crate::atoms;
use crate::exclusive::with_state;
use crate::timeslice;

/// How long one dump call keeps reading once it has something to return.
const DUMP_CALL_TIME: Duration = Duration::from_millis(2);

pub struct NarDump {
    /// `None` once the NAR has been read to its end or failed.
    state: Mutex<Option<Dump>>,
}

#[rustler::resource_impl]
impl Resource for NarDump {}

pub struct NarParser {
    state: Mutex<Parser>,
    /// Whether file contents are returned (`{:data, _}` and `:file_end` events).
    contents: bool,
}

#[rustler::resource_impl]
impl Resource for NarParser {}

/// `{reason, message}` for an I/O error: `reason` is the POSIX-style atom `File` uses where
/// one fits.
fn io_error<'a>(env: Env<'a>, error: &io::Error) -> Term<'a> {
    let reason = match error.kind() {
        ErrorKind::NotFound => "enoent",
        ErrorKind::PermissionDenied => "eacces",
        ErrorKind::NotADirectory => "enotdir",
        ErrorKind::IsADirectory => "eisdir",
        ErrorKind::InvalidFilename => "enametoolong",
        ErrorKind::OutOfMemory => "enomem",
        ErrorKind::Unsupported => "unsupported_file_type",
        ErrorKind::UnexpectedEof => "file_changed",
        _ => "eio",
    };
    let reason = Atom::from_str(env, reason).unwrap_or_else(|_| atoms::error());
    (atoms::error(), (reason, error.to_string())).encode(env)
}

/// `nar_dump_open(path)` -> `{:ok, dump}` or `{:error, {reason, message}}`; dirty I/O (it
/// reads the path's metadata).
#[rustler::nif(schedule = "DirtyIo")]
fn nar_dump_open<'a>(env: Env<'a>, path: Binary<'a>) -> Term<'a> {
    let path = std::ffi::OsStr::from_bytes(path.as_slice());
    match Dump::new(path) {
        Ok(dump) => {
            let resource = ResourceArc::new(NarDump {
                state: Mutex::new(Some(dump)),
            });
            (atoms::ok(), resource).encode(env)
        }
        Err(error) => io_error(env, &error),
    }
}

/// `nar_dump_read(dump, max)` -> `{:ok, binary}` with the next at most `max` (> 0) bytes,
/// `:eof`, or `{:error, {reason, message}}` (after which the dump is at its end). Dirty I/O.
#[rustler::nif(schedule = "DirtyIo")]
fn nar_dump_read<'a>(env: Env<'a>, dump: ResourceArc<NarDump>, max: usize) -> NifResult<Term<'a>> {
    if max == 0 {
        return Err(rustler::Error::BadArg);
    }
    with_state(env, &dump.state, |state| {
        let Some(reader) = state.as_mut() else {
            return Ok(atoms::eof().encode(env));
        };
        // Grown with realloc only: allocating a new binary aborts the VM when memory runs out.
        let mut binary = OwnedBinary::new(0);
        if !binary.realloc(max) {
            return Ok((atoms::error(), atoms::enomem()).encode(env));
        }
        let started = Instant::now();
        let mut filled = 0;
        while filled < max && (filled == 0 || started.elapsed() < DUMP_CALL_TIME) {
            let buf = binary.as_mut_slice().get_mut(filled..).unwrap_or_default();
            match reader.read(buf) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    *state = None;
                    return Ok(io_error(env, &error));
                }
            }
        }
        if filled == 0 {
            *state = None;
            return Ok(atoms::eof().encode(env));
        }
        if filled < max && !binary.realloc(filled) {
            return Ok((atoms::error(), atoms::enomem()).encode(env));
        }
        Ok((atoms::ok(), binary.release(env)).encode(env))
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
    })
}

/// `{:error, {:invalid_nar, offset, message}}`.
fn nar_error<'a>(env: Env<'a>, error: &NarError) -> Term<'a> {
    (
        atoms::error(),
        (atoms::invalid_nar(), error.offset, error.to_string()),
    )
        .encode(env)
}

/// `nar_parser_feed(parser, binary, from, len)` -> `{:ok, events}` for `binary[from..from+len]`,
/// or `{:error, {:invalid_nar, offset, message}}`. Events: `{:directory, path}`,
/// `{:symlink, path, target}`, `{:file, path, executable, size, offset}`, `{:data, binary}`
/// (a sub-binary of `binary`), `:file_end`. Normal scheduler, charged for its time; callers
/// feed slices small enough for that (see `Chunker.NAR`).
#[rustler::nif]
fn nar_parser_feed<'a>(
    env: Env<'a>,
    parser: ResourceArc<NarParser>,
    binary: Binary<'a>,
    from: usize,
    len: usize,
) -> NifResult<Term<'a>> {
    let input = binary.as_slice();
    let slice = from
        .checked_add(len)
        .and_then(|end| input.get(from..end))
        .ok_or(rustler::Error::BadArg)?;
    let contents = parser.contents;
    timeslice::charged(env, || {
        with_state(env, &parser.state, |parser| {
            let mut events = Vec::new();
            if let Err(error) = parser.feed(slice, &mut events) {
                return Ok(nar_error(env, &error));
            }
            let base = input.as_ptr() as usize;
            let mut terms = Vec::with_capacity(events.len());
            for event in events {
                if !contents && matches!(event, Event::Data(_) | Event::FileEnd) {
                    continue;
                }
                terms.push(match event {
                    Event::Directory { path } => {
                        (atoms::directory(), bytes(env, &path)).encode(env)
                    }
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
            Ok((atoms::ok(), terms).encode(env))
        })
    })
}

/// `nar_parser_finish(parser)` -> `:ok` if the NAR is complete, else
/// `{:error, {:invalid_nar, offset, message}}`.
#[rustler::nif]
fn nar_parser_finish(env: Env<'_>, parser: ResourceArc<NarParser>) -> NifResult<Term<'_>> {
    with_state(env, &parser.state, |parser| match parser.finish() {
        Ok(()) => Ok(atoms::ok().encode(env)),
        Err(error) => Ok(nar_error(env, &error)),
    })
}

fn bytes<'a>(env: Env<'a>, data: &[u8]) -> Term<'a> {
    let binary: Binary<'a> = rustler::NewBinary::from_slice(env, data).into();
    binary.to_term(env)
}
