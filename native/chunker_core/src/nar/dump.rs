//! Writing the NAR of a file, symlink or directory tree, as `nix-store --dump` does.

use crate::observe::count;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::file::{ConsistentFile, Follow, FsError};

use super::MAGIC;

/// What is left to write, innermost last.
enum Work {
    /// The node for a path.
    Node(PathBuf),
    /// The remaining entries of a directory (sorted by name bytes, consumed from the back).
    Entries(PathBuf, Vec<OsString>),
    /// `)` closing an entry.
    CloseEntry,
    /// `)` closing a node.
    CloseNode,
    /// The rest of a regular file's contents, then its padding.
    Contents {
        file: ConsistentFile,
        left: u64,
        padding: usize,
    },
}

/// The NAR of a path, produced as a [`Read`] stream in bounded memory: a small buffer for
/// headers, and each directory's sorted entry names while it is being written. File
/// contents are read straight into the caller's buffer.
///
/// The output is byte-identical to `nix-store --dump`: entries sorted by the bytes of their
/// names, a file executable when its owner-execute bit is set, symlink targets as stored.
/// Other file types (sockets, devices, FIFOs) are errors, as in Nix. A file that changes while
/// it is read (see [`ConsistentFile`]), or is replaced by another kind of file between being
/// listed and being opened, is an error; one that grows is read up to the size it had. Errors
/// are [`FsError`]s inside [`io::Error`]s ([`FsError::io`] takes them back out).
///
/// ```no_run
/// use std::io::Read;
/// let mut nar = Vec::new();
/// chunker_core::nar::Dump::new("/nix/store/...-hello")?.read_to_end(&mut nar)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Dump {
    stack: Vec<Work>,
    pending: Vec<u8>,
    at: usize,
}

impl Dump {
    /// Starts the NAR of `path` (which must exist; it is not followed if it is a symlink).
    pub fn new(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        std::fs::symlink_metadata(&path).map_err(|e| at(&path, e))?;
        let mut pending = Vec::with_capacity(4096);
        put_string(&mut pending, MAGIC);
        Ok(Self {
            stack: vec![Work::Node(path)],
            pending,
            at: 0,
        })
    }

    /// Writes the headers of the next unit of work into `pending`, pushing what follows it.
    fn expand(&mut self, work: Work) -> io::Result<()> {
        let out = &mut self.pending;
        match work {
            Work::Node(path) => {
                let metadata = std::fs::symlink_metadata(&path).map_err(|e| at(&path, e))?;
                let kind = metadata.file_type();
                put_string(out, b"(");
                put_string(out, b"type");
                if kind.is_file() {
                    let file =
                        ConsistentFile::open(&path, Follow::Nothing).map_err(FsError::into_io)?;
                    put_string(out, b"regular");
                    if file.mode() & 0o100 != 0 {
                        put_string(out, b"executable");
                        put_string(out, b"");
                    }
                    put_string(out, b"contents");
                    let size = file.size().unwrap_or_default();
                    out.extend_from_slice(&size.to_le_bytes());
                    self.stack.push(Work::CloseNode);
                    self.stack.push(Work::Contents {
                        file,
                        left: size,
                        padding: padding(size),
                    });
                } else if kind.is_symlink() {
                    put_string(out, b"symlink");
                    put_string(out, b"target");
                    let target = std::fs::read_link(&path).map_err(|e| at(&path, e))?;
                    put_string(out, target.as_os_str().as_bytes());
                    put_string(out, b")");
                } else if kind.is_dir() {
                    put_string(out, b"directory");
                    let mut names = std::fs::read_dir(&path)
                        .and_then(|entries| {
                            entries
                                .map(|entry| entry.map(|e| e.file_name()))
                                .collect::<io::Result<Vec<OsString>>>()
                        })
                        .map_err(|e| at(&path, e))?;
                    // Sorted by bytes, largest first: entries are taken from the back.
                    names.sort_unstable_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
                    self.stack.push(Work::CloseNode);
                    self.stack.push(Work::Entries(path, names));
                } else {
                    return Err(FsError::unsupported(&path).into_io());
                }
            }
            Work::Entries(path, mut names) => {
                if let Some(name) = names.pop() {
                    put_string(out, b"entry");
                    put_string(out, b"(");
                    put_string(out, b"name");
                    put_string(out, name.as_bytes());
                    put_string(out, b"node");
                    let child = path.join(&name);
                    self.stack.push(Work::Entries(path, names));
                    self.stack.push(Work::CloseEntry);
                    self.stack.push(Work::Node(child));
                }
            }
            Work::CloseEntry | Work::CloseNode => put_string(out, b")"),
            Work::Contents { .. } => {}
        }
        Ok(())
    }
}

impl Read for Dump {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_next(buf)?;
        count!("chunker.nar.dump.bytes", n);
        Ok(n)
    }
}

impl Dump {
    fn read_next(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(rest) = self.pending.get(self.at..).filter(|rest| !rest.is_empty()) {
                let n = rest.len().min(buf.len());
                buf.get_mut(..n)
                    .ok_or_else(|| io::Error::other("buffer"))?
                    .copy_from_slice(rest.get(..n).unwrap_or_default());
                self.at += n;
                return Ok(n);
            }
            self.pending.clear();
            self.at = 0;
            if buf.is_empty() {
                return Ok(0);
            }
            match self.stack.pop() {
                None => return Ok(0),
                Some(Work::Contents {
                    mut file,
                    left,
                    padding,
                }) => {
                    if left == 0 {
                        // The end: the file must still be what was listed and opened.
                        file.read(&mut [0u8; 1]).map_err(FsError::into_io)?;
                        self.pending.resize(padding, 0);
                        continue;
                    }
                    let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let n = file
                        .read(buf.get_mut(..want).unwrap_or_default())
                        .map_err(FsError::into_io)?;
                    self.stack.push(Work::Contents {
                        file,
                        left: left - n as u64,
                        padding,
                    });
                    return Ok(n);
                }
                Some(work) => self.expand(work)?,
            }
        }
    }
}

/// The error with the path it happened at.
fn at(path: &Path, error: io::Error) -> io::Error {
    FsError::io("read", path, &error).into_io()
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s);
    out.resize(out.len() + padding(s.len() as u64), 0);
}

fn padding(len: u64) -> usize {
    ((8 - len % 8) % 8) as usize
}
