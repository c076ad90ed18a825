//! Reading a file for `Chunker.chunk_file/2` and `Chunker.stream_file/2` through
//! `chunker_core::file::ConsistentFile`: a file that changes while it is read is a
//! `file_changed` error naming it, never a result that matches neither version. Reads run on
//! dirty I/O schedulers, each until its deadline once it has something to return.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;

use chunker_core::file::{ConsistentFile, Follow};
use rustler::{Binary, Encoder, Env, NifResult, OwnedBinary, Resource, ResourceArc, Term};

use crate::atoms;
use crate::error::NativeError;
use crate::exclusive::with_state;
use crate::pace::Pace;
use crate::stats::{CallTimer, Live, ResourceKind, Scheduler, STATS};

pub struct FileResource {
    /// `None` once read to its end, failed, or closed.
    state: Mutex<Option<ConsistentFile>>,
    /// The binary `file_read_all/1` fills, and how much of it is filled.
    whole: Mutex<Option<(OwnedBinary, usize)>>,
    _live: Live,
}

#[rustler::resource_impl]
impl Resource for FileResource {}

/// `file_open(path)` -> `{:ok, file, size | nil}` (the size a regular file had when opened,
/// which is what will be read of it), or `{:error, {reason, message, %{path: path}}}`. Dirty
/// I/O.
#[rustler::nif(schedule = "DirtyIo")]
fn file_open<'a>(env: Env<'a>, path: Binary<'a>) -> Term<'a> {
    let _timer = CallTimer::start(Scheduler::DirtyIo);
    let path = Path::new(std::ffi::OsStr::from_bytes(path.as_slice()));
    match ConsistentFile::open(path, Follow::Symlinks) {
        Ok(file) => {
            let size = file.size();
            let resource = ResourceArc::new(FileResource {
                state: Mutex::new(Some(file)),
                whole: Mutex::new(None),
                _live: Live::new(ResourceKind::File),
            });
            (atoms::ok(), resource, size).encode(env)
        }
        Err(error) => NativeError::from(error).term(env),
    }
}

/// `file_read(file, max)` -> `{:ok, binary}` with the next at most `max` (> 0) bytes, `:eof`
/// once the file was read to its end and found unchanged, or the error (after which the file
/// is closed). Dirty I/O.
#[rustler::nif(schedule = "DirtyIo")]
fn file_read<'a>(env: Env<'a>, file: ResourceArc<FileResource>, max: usize) -> NifResult<Term<'a>> {
    with_state(env, &file.state, |state| {
        // No more than the file holds: a whole file read in one call gets a binary its size.
        let max = match state.as_ref().and_then(ConsistentFile::size) {
            Some(size) => max.min(usize::try_from(size).unwrap_or(max).max(1)),
            None => max,
        };
        read_piece(env, state, max, |reader, buf| {
            let read = reader.read(buf).map_err(NativeError::from)?;
            STATS.file_read(read);
            Ok(read)
        })
    })
}

/// `file_read_all(file)` -> `{:done, binary}` with the whole of a regular file (checked
/// unchanged at its end) once it is read, `{:cont, nil, nil}` until then (each call reads
/// until its deadline), or the error. A file without a size (a pipe, a device) is a `badarg`:
/// read it with `file_read/2`. Dirty I/O.
#[rustler::nif(schedule = "DirtyIo")]
fn file_read_all<'a>(env: Env<'a>, file: ResourceArc<FileResource>) -> NifResult<Term<'a>> {
    with_state(env, &file.state, |state| {
        let mut whole = file.whole.try_lock().map_err(|_| rustler::Error::BadArg)?;
        let size = state.as_ref().and_then(ConsistentFile::size);
        let (binary, filled) = match (&mut *whole, size) {
            (Some(filling), _) => filling,
            (None, Some(size)) => {
                let size = usize::try_from(size).map_err(|_| rustler::Error::BadArg)?;
                // Grown with realloc only: allocating a new binary aborts the VM when memory
                // runs out.
                let mut binary = OwnedBinary::new(0);
                if !binary.realloc(size) {
                    return Ok(out_of_memory(env, size));
                }
                whole.insert((binary, 0))
            }
            (None, None) => return Err(rustler::Error::BadArg),
        };
        let Some(reader) = state.as_mut() else {
            return Ok(NativeError::finished().term(env));
        };
        let pace = Pace::dirty_io();
        loop {
            let buf = binary.as_mut_slice().get_mut(*filled..).unwrap_or_default();
            // Past the end, a read checks that the file is unchanged and returns 0.
            let read = if buf.is_empty() {
                reader.read(&mut [0u8; 1])
            } else {
                reader.read(buf)
            };
            match read {
                Ok(0) => break,
                Ok(n) => {
                    STATS.file_read(n);
                    *filled += n;
                }
                Err(error) => {
                    *state = None;
                    *whole = None;
                    return Ok(NativeError::from(error).term(env));
                }
            }
            if pace.expired() {
                return Ok((atoms::cont(), atoms::nil(), atoms::nil()).encode(env));
            }
        }
        *state = None;
        let Some((binary, _)) = whole.take() else {
            return Ok(NativeError::finished().term(env));
        };
        Ok((atoms::done(), binary.release(env)).encode(env))
    })
}

/// The next piece of at most `max` (> 0) bytes from the reader in `state`, read until the
/// piece is full or the dirty-I/O deadline passes once it holds something: `{:ok, binary}`,
/// `:eof` at the end, or the error. After the end or an error `state` is `None`.
pub fn read_piece<'a, R>(
    env: Env<'a>,
    state: &mut Option<R>,
    max: usize,
    mut read: impl FnMut(&mut R, &mut [u8]) -> Result<usize, NativeError>,
) -> NifResult<Term<'a>> {
    if max == 0 {
        return Err(rustler::Error::BadArg);
    }
    let Some(reader) = state.as_mut() else {
        return Ok(atoms::eof().encode(env));
    };
    // Grown with realloc only: allocating a new binary aborts the VM when memory runs out.
    let mut binary = OwnedBinary::new(0);
    if !binary.realloc(max) {
        return Ok(out_of_memory(env, max));
    }
    let pace = Pace::dirty_io();
    let mut filled = 0;
    while filled < max && (filled == 0 || !pace.expired()) {
        let buf = binary.as_mut_slice().get_mut(filled..).unwrap_or_default();
        match read(reader, buf) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) => {
                *state = None;
                return Ok(error.term(env));
            }
        }
    }
    if filled == 0 {
        *state = None;
        return Ok(atoms::eof().encode(env));
    }
    if filled < max && !binary.realloc(filled) {
        return Ok(out_of_memory(env, filled));
    }
    Ok((atoms::ok(), binary.release(env)).encode(env))
}

fn out_of_memory(env: Env<'_>, bytes: usize) -> Term<'_> {
    NativeError::new("out_of_memory", format!("could not allocate {bytes} bytes")).term(env)
}

/// `file_close(file)` -> `:ok`: closes the file now rather than when the resource is garbage
/// collected. A file in use by a call is left to the garbage collector.
#[rustler::nif]
fn file_close(file: ResourceArc<FileResource>) -> rustler::Atom {
    if let Ok(mut state) = file.state.try_lock() {
        *state = None;
    }
    if let Ok(mut whole) = file.whole.try_lock() {
        *whole = None;
    }
    atoms::ok()
}
