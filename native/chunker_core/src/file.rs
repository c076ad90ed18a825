//! Reading files whole, so that a file that changes while it is read is an error rather than
//! a result that matches neither version, and file-system errors that name their path.
//!
//! [`ConsistentFile`] notes a regular file's identity, size and times when it is opened, reads
//! exactly the size it had then, and at the end compares what the path names now: another
//! file, a smaller size, or the same size with other times is [`FsError`] `file_changed`, as
//! tar, borg and restic report "file changed as we read it". A file that only grew is read up
//! to its size at open: that is the file as it was when opened if it was appended to. Pipes
//! and devices have no size to hold them to, and are read to their end.

use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A file-system operation that failed, with the path it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsError {
    /// A short stable name: the POSIX error name (`enoent`, `eacces`, `eisdir`, ...; `eio`
    /// for one without a name here), `file_changed` or `unsupported_file_type`.
    pub reason: &'static str,
    /// The path.
    pub path: PathBuf,
    /// What happened, in words, naming the path.
    pub message: String,
}

impl FsError {
    /// The failure of `action` (e.g. "open", "read") on `path`.
    pub fn io(action: &str, path: &Path, error: &io::Error) -> Self {
        if let Some(inner) = error.get_ref().and_then(|e| e.downcast_ref::<FsError>()) {
            return inner.clone();
        }
        // std's text is "No such file or directory (os error 2)"; the number says nothing a
        // reader needs.
        let text = error.to_string();
        let text = text.split(" (os error ").next().unwrap_or_default();
        let mut chars = text.chars();
        let text: String = match chars.next() {
            Some(first) => first.to_lowercase().chain(chars).collect(),
            None => String::new(),
        };
        Self {
            reason: errno_name(error),
            path: path.to_path_buf(),
            message: format!("could not {action} {}: {text}", quoted(path)),
        }
    }

    /// `path` changed while it was read; `how` says in what way.
    pub fn changed(path: &Path, how: &str) -> Self {
        Self {
            reason: "file_changed",
            path: path.to_path_buf(),
            message: format!("{} changed while it was read: {how}", quoted(path)),
        }
    }

    /// `path` is of a type that cannot be used here (a socket, device or FIFO in a NAR).
    pub fn unsupported(path: &Path) -> Self {
        Self {
            reason: "unsupported_file_type",
            path: path.to_path_buf(),
            message: format!(
                "{} is not a regular file, directory or symlink",
                quoted(path)
            ),
        }
    }

    /// As an [`io::Error`] (of a kind that fits), for [`Read`] implementations; [`FsError::io`]
    /// gets this error back out.
    pub fn into_io(self) -> io::Error {
        let kind = match self.reason {
            "enoent" => io::ErrorKind::NotFound,
            "eacces" | "eperm" => io::ErrorKind::PermissionDenied,
            "file_changed" => io::ErrorKind::UnexpectedEof,
            "unsupported_file_type" => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FsError {}

/// The path as Elixir's `inspect/1` shows a string, so that messages read the same on both
/// sides.
fn quoted(path: &Path) -> String {
    format!("{:?}", path.to_string_lossy())
}

/// The POSIX name of an I/O error's code, as Erlang's `file` module reports it.
fn errno_name(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::ENOENT) => "enoent",
        Some(libc::EACCES) => "eacces",
        Some(libc::EPERM) => "eperm",
        Some(libc::EISDIR) => "eisdir",
        Some(libc::ENOTDIR) => "enotdir",
        Some(libc::ELOOP) => "eloop",
        Some(libc::ENAMETOOLONG) => "enametoolong",
        Some(libc::EMFILE) => "emfile",
        Some(libc::ENFILE) => "enfile",
        Some(libc::ENOMEM) => "enomem",
        Some(libc::ENXIO) => "enxio",
        Some(libc::ENODEV) => "enodev",
        Some(libc::EAGAIN) => "eagain",
        Some(libc::EINVAL) => "einval",
        Some(libc::EBUSY) => "ebusy",
        Some(libc::EFBIG) => "efbig",
        Some(libc::EOVERFLOW) => "eoverflow",
        _ => match error.kind() {
            io::ErrorKind::NotFound => "enoent",
            io::ErrorKind::PermissionDenied => "eacces",
            io::ErrorKind::OutOfMemory => "enomem",
            _ => "eio",
        },
    }
}

/// What is compared at the end of a read: which file, its size, and its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    fn of(metadata: &Metadata) -> Self {
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// How `now` differs from this stamp in a way that makes the bytes read suspect.
    fn difference(&self, now: &Stamp) -> Option<&'static str> {
        if (now.device, now.inode) != (self.device, self.inode) {
            Some("the path now names another file")
        } else if now.size < self.size {
            Some("it shrank")
        } else if now.size == self.size
            && (now.modified, now.changed) != (self.modified, self.changed)
        {
            Some("it was modified")
        } else {
            None
        }
    }
}

/// How [`ConsistentFile::open`] treats a symlink at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Open what the symlink points to (as `File.read/1` does).
    Symlinks,
    /// Refuse a symlink, and do not wait on a FIFO (a NAR dump, which lists the tree first:
    /// what it opens must still be the regular file it listed).
    Nothing,
}

/// A file being read from its start to its end; see the [module docs](self).
///
/// ```
/// use std::io::Write;
/// use chunker_core::file::{ConsistentFile, Follow};
/// let path = std::env::temp_dir().join(format!("chunker-doc-{}", std::process::id()));
/// std::fs::write(&path, b"hello")?;
/// let mut file = ConsistentFile::open(&path, Follow::Symlinks).unwrap();
/// let mut buf = [0u8; 16];
/// assert_eq!(file.read(&mut buf).unwrap(), 5);
/// std::fs::OpenOptions::new().append(true).open(&path)?.write_all(b" world")?;
/// // Grown since it was opened: read up to the size it had.
/// assert_eq!(file.read(&mut buf).unwrap(), 0);
/// std::fs::write(&path, b"HELLO")?;
/// let mut again = ConsistentFile::open(&path, Follow::Symlinks).unwrap();
/// assert_eq!(again.size(), Some(5));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ConsistentFile {
    file: File,
    path: PathBuf,
    follow: Follow,
    /// For a regular file: its stamp at open and the bytes still to read.
    regular: Option<(Stamp, u64)>,
    /// The file's mode bits at open.
    mode: u32,
    /// Set once the end was reached and checked.
    ended: bool,
}

impl ConsistentFile {
    /// Opens `path` for reading. With [`Follow::Nothing`], anything but a regular file is an
    /// error (`unsupported_file_type`, or `file_changed` for a symlink).
    pub fn open(path: impl AsRef<Path>, follow: Follow) -> Result<Self, FsError> {
        let path = path.as_ref();
        let mut options = OpenOptions::new();
        options.read(true);
        if follow == Follow::Nothing {
            options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let file = options.open(path).map_err(|error| {
            if follow == Follow::Nothing && error.raw_os_error() == Some(libc::ELOOP) {
                FsError::changed(path, "it is now a symlink")
            } else {
                FsError::io("open", path, &error)
            }
        })?;
        let metadata = file
            .metadata()
            .map_err(|error| FsError::io("read", path, &error))?;
        let regular = metadata.is_file().then(|| {
            let stamp = Stamp::of(&metadata);
            (stamp, stamp.size)
        });
        if regular.is_none() {
            if metadata.is_dir() {
                let error = io::Error::from_raw_os_error(libc::EISDIR);
                return Err(FsError::io("read", path, &error));
            }
            if follow == Follow::Nothing {
                return Err(FsError::changed(path, "it is no longer a regular file"));
            }
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
            follow,
            regular,
            mode: metadata.mode(),
            ended: false,
        })
    }

    /// The file's mode bits (type and permissions) when it was opened.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The size of a regular file when it was opened: what will be read in all.
    pub fn size(&self) -> Option<u64> {
        self.regular.map(|(stamp, _)| stamp.size)
    }

    /// The path it was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the next bytes into `buf`; 0 at the end, once the file was found unchanged.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, FsError> {
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        let Some((stamp, left)) = self.regular else {
            let n = read_retrying(&mut self.file, buf).map_err(|e| self.io_error(&e))?;
            self.ended = n == 0;
            return Ok(n);
        };
        if left == 0 {
            self.ended = true;
            self.check_unchanged(&stamp)?;
            return Ok(0);
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = read_retrying(&mut self.file, buf.get_mut(..want).unwrap_or_default())
            .map_err(|e| self.io_error(&e))?;
        if n == 0 {
            self.ended = true;
            return Err(FsError::changed(&self.path, "it shrank"));
        }
        self.regular = Some((stamp, left - n as u64));
        Ok(n)
    }

    fn io_error(&self, error: &io::Error) -> FsError {
        FsError::io("read", &self.path, error)
    }

    /// Compares what the path names now with the file as it was opened.
    fn check_unchanged(&self, stamp: &Stamp) -> Result<(), FsError> {
        let now = match self.follow {
            Follow::Symlinks => std::fs::metadata(&self.path),
            Follow::Nothing => std::fs::symlink_metadata(&self.path),
        };
        match now {
            Ok(metadata) => match stamp.difference(&Stamp::of(&metadata)) {
                Some(how) => Err(FsError::changed(&self.path, how)),
                None => Ok(()),
            },
            Err(_) => Err(FsError::changed(&self.path, "it was removed")),
        }
    }
}

fn read_retrying(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("chunker-file-{}-{name}", std::process::id()))
    }

    fn read_all(file: &mut ConsistentFile) -> Result<Vec<u8>, FsError> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4];
        loop {
            match file.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "uses the file system")]
    fn changes_while_reading_are_errors() {
        let path = temp("changes");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut file = ConsistentFile::open(&path, Follow::Symlinks).unwrap();
        assert_eq!(read_all(&mut file).unwrap(), b"0123456789");

        // Truncated: the reads end early.
        let mut file = ConsistentFile::open(&path, Follow::Symlinks).unwrap();
        std::fs::write(&path, b"0123").unwrap();
        assert_eq!(read_all(&mut file).unwrap_err().reason, "file_changed");

        // Replaced by another file of the same size.
        std::fs::write(&path, b"0123456789").unwrap();
        let mut file = ConsistentFile::open(&path, Follow::Symlinks).unwrap();
        let other = temp("changes-other");
        std::fs::write(&other, b"abcdefghij").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let error = read_all(&mut file).unwrap_err();
        assert_eq!(error.reason, "file_changed");
        assert!(error.message.contains("another file"), "{error}");

        // Grown: read up to the size at open.
        let mut file = ConsistentFile::open(&path, Follow::Symlinks).unwrap();
        let mut appended = std::fs::read(&path).unwrap();
        appended.extend_from_slice(b"klmno");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| io::Write::write_all(&mut f, b"klmno"))
            .unwrap();
        assert_eq!(read_all(&mut file).unwrap(), &appended[..10]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore = "uses the file system")]
    fn errors_name_the_path_without_os_error_numbers() {
        let error = ConsistentFile::open("/nonexistent/chunker", Follow::Symlinks)
            .err()
            .unwrap();
        assert_eq!(error.reason, "enoent");
        assert_eq!(
            error.message,
            "could not open \"/nonexistent/chunker\": no such file or directory"
        );
        let dir = ConsistentFile::open(std::env::temp_dir(), Follow::Symlinks)
            .err()
            .unwrap();
        assert_eq!(dir.reason, "eisdir");
    }
}
