//! Opening local files by name without trusting what the name leads to.
//!
//! Every file dropbox-post opens by name (password file, sealed and cleartext keys, study
//! config, the files it posts or compares, its own caches and the emulator's state) goes
//! through [`open_regular`], and every one it reads whole through [`read_bounded`]: a FIFO
//! would block `open()` until some writer came along, and `/dev/zero` or a growing file
//! would be read until memory ran out. The file is opened without blocking, and its type
//! is checked on the opened descriptor (not on the name, which could be swapped in between).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

/// Why a file could not be opened or read. The message names no path: callers say which
/// file it was. `Io` quotes the OS error once and has no `source()`, so a context chain
/// never shows the same text twice.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
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
    let file = open_regular(path)?;
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
        assert!(std::error::Error::source(&missing).is_none());
        let folder = read_bounded(dir.path(), 5).unwrap_err();
        assert_eq!(folder.to_string(), "it is a folder, not a regular file");
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
