//! Local files by name: opened without trusting what the name leads to, replaced whole.
//!
//! Every file dropbox-post opens by name (password file, sealed and cleartext keys, study
//! config and git files, the files it posts or compares, its own caches and the emulator's
//! state) goes through [`open_regular`], and every one it reads whole through
//! [`read_bounded`]: a FIFO would block `open()` until some writer came along, and
//! `/dev/zero` or a growing file would be read until memory ran out. The file is opened
//! without blocking, and its type is checked on the opened descriptor (not on the name,
//! which could be swapped in between).
//!
//! Every file it writes whole (sealed keys, study files, caches, journals, the emulator's
//! state, downloads) goes through [`AtomicFile`]: a crash or a failure leaves the old file
//! or the new one, never a part of one.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub mod confine;
pub mod journal;

/// Why a file could not be opened or read. The message names no path: callers say which
/// file it was. `Io` quotes the OS error once and has no `source()`, so a context chain
/// never shows the same text twice.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}", io_text(.0))]
    Io(std::io::Error),
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is larger than {}", size(*.0))]
    TooLarge(u64),
}

impl ReadError {
    /// The OS error kind (`Other` for the checks made here).
    pub fn kind(&self) -> std::io::ErrorKind {
        match self {
            ReadError::Io(e) => e.kind(),
            _ => std::io::ErrorKind::Other,
        }
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// The OS error in the words of the messages it ends up in ("cannot read X (…)").
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "it does not exist".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// Opens `path` for reading if it is a regular file (symlinks followed). Never blocks on a
/// FIFO and never hands out a device, socket or folder.
pub fn open_regular(path: &Path) -> Result<File, ReadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK makes opening a FIFO return at once; on a regular file it changes
        // nothing. O_NOCTTY: a terminal device never becomes our controlling terminal.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind_of(&meta.file_type())));
    }
    Ok(file)
}

/// The whole of the regular file `path`, refused when longer than `max` bytes. At most
/// `max + 1` bytes are read, into a buffer sized once from the file's length (so a secret
/// is not left behind in a reallocated copy) and wiped when dropped.
pub fn read_bounded(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    read_open(open_regular(path)?, max)
}

/// [`read_bounded`] of a file already opened (by [`confine::Folder::open_file`], say).
pub fn read_open(file: File, max: u64) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let len = file.metadata()?.len();
    read_to_limit(file, len, max)
}

/// At most `max` bytes of `reader` (a stream that is not a named file: stdin); `len` is
/// the expected length, to size the buffer.
pub fn read_to_limit(
    reader: impl Read,
    len: u64,
    max: u64,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let mut bytes = Zeroizing::new(Vec::with_capacity((len.min(max) + 1) as usize));
    reader.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(bytes)
}

/// Fills `buf` from `file` at `offset` without moving its cursor, so that several pieces of
/// one open file can be read at once from several threads.
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => (buf, offset) = (&mut buf[n..], offset + n as u64),
            }
        }
        Ok(())
    }
}

/// Writes all of `buf` into `file` at `offset` without moving its cursor, so that several
/// parts of one file can be written at once from several threads.
pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_write(file, buf, offset)? {
                0 => return Err(std::io::ErrorKind::WriteZero.into()),
                n => (buf, offset) = (&buf[n..], offset + n as u64),
            }
        }
        Ok(())
    }
}

/// A file being written beside `target` (a hidden temporary file in the same folder, so
/// that the rename is atomic), put in its place by [`AtomicFile::commit`]; dropped
/// uncommitted, it is deleted.
#[derive(Debug)]
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

/// Whether [`AtomicFile::commit`] may replace a file already at the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    Replace,
    /// Fail with `AlreadyExists`, even when another writer got there in between.
    Keep,
}

impl AtomicFile {
    /// Private (0600 on Unix) until the caller says otherwise.
    pub fn new(target: &Path) -> std::io::Result<AtomicFile> {
        Self::with(target, tempfile::Builder::new())
    }

    /// With the permissions any new file gets (0666 less the umask on Unix).
    pub fn public(target: &Path) -> std::io::Result<AtomicFile> {
        #[allow(unused_mut)]
        let mut builder = tempfile::Builder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        Self::with(target, builder)
    }

    fn with(target: &Path, mut builder: tempfile::Builder) -> std::io::Result<AtomicFile> {
        let dir = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let temp = builder
            .prefix(".dropbox-post-")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            temp,
            target: target.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Where the bytes are until the commit (to copy permissions onto, say).
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the bytes to disk: a caller that puts several files in place can make sure
    /// all are whole before the first rename.
    pub fn sync(&self) -> std::io::Result<()> {
        self.temp.as_file().sync_all()
    }

    /// Flushes the bytes to disk and renames the file over the target.
    pub fn commit(self, existing: Existing) -> std::io::Result<()> {
        self.sync()?;
        let persisted = match existing {
            Existing::Replace => self.temp.persist(&self.target),
            Existing::Keep => self.temp.persist_noclobber(&self.target),
        };
        persisted.map(drop).map_err(|e| e.error)
    }
}

/// Writes `bytes` at `target` as one [`AtomicFile`] (private, see [`AtomicFile::new`]);
/// a file already there is replaced or, with [`Existing::Keep`], an `AlreadyExists` error.
pub fn write_atomically(target: &Path, bytes: &[u8], existing: Existing) -> std::io::Result<()> {
    let mut file = AtomicFile::new(target)?;
    file.file().write_all(bytes)?;
    file.commit(existing)
}

/// What a non-regular file is, for messages.
pub fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn positioned_writes_leave_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        write_all_at(&file, b"ab", 8).unwrap();
        write_all_at(&file, b"xyz", 10).unwrap();
        let mut first = [0u8; 2];
        file.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"01");
        assert_eq!(std::fs::read(&path).unwrap(), b"01234567abxyz");
    }

    #[test]
    fn positioned_reads_leave_the_cursor_and_stop_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut file = File::open(&path).unwrap();
        let mut buf = [0u8; 4];
        read_exact_at(&file, &mut buf, 3).unwrap();
        assert_eq!(&buf, b"3456");
        let mut first = [0u8; 2];
        file.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"01");
        let err = read_exact_at(&file, &mut buf, 8).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn regular_files_are_read_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(&read_bounded(&file, 5).unwrap()[..], b"12345");
        let err = read_bounded(&file, 4).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge(4)), "{err:?}");
        assert_eq!(err.to_string(), "it is larger than 4 bytes");
        assert_eq!(
            ReadError::TooLarge(64 << 10).to_string(),
            "it is larger than 64 KiB"
        );
        let missing = read_bounded(&dir.path().join("nope"), 5).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(missing.to_string(), "it does not exist");
        assert!(std::error::Error::source(&missing).is_none());
        let folder = read_bounded(dir.path(), 5).unwrap_err();
        assert_eq!(folder.to_string(), "it is a folder, not a regular file");
    }

    #[test]
    fn atomic_files_replace_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        write_atomically(&target, b"one", Existing::Replace).unwrap();
        write_atomically(&target, b"two", Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let mut kept = AtomicFile::new(&target).unwrap();
        kept.file().write_all(b"three").unwrap();
        let err = kept.commit(Existing::Keep).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        let mut dropped = AtomicFile::new(&target).unwrap();
        dropped.file().write_all(b"four").unwrap();
        drop(dropped);
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        // Nothing but the target is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn fifos_and_devices_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = Instant::now();
        for (path, what) in [
            (fifo.as_path(), "a FIFO (named pipe)"),
            (Path::new("/dev/zero"), "a device"),
            (Path::new("/dev/null"), "a device"),
        ] {
            let err = read_bounded(path, 1 << 20).unwrap_err();
            assert_eq!(err.to_string(), format!("it is {what}, not a regular file"));
        }
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
