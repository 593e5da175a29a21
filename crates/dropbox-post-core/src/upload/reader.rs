//! The one-pass read of a file: read in chunks, hashed as read (the whole file's content
//! hash and each chunk's own), each chunk handed on in a buffer drawn from the byte budget.
//! The file must still be as the walk saw it before its last chunk is handed over.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;

use tokio::sync::mpsc;

use dropbox_wire::content_hash::ContentHasher;

use super::buffers::Budget;
use super::walk::LocalFile;

/// Why a file could not be read as walked.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("changed while being read ({0}); post again once it is stable")]
    Changed(String),
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot read: {0}")]
    Open(#[from] dropbox_post_files::ReadError),
    /// The file's prefix does not hash as journalled: its session cannot be continued.
    #[error("the part already on Dropbox is not this file's")]
    NotResumable,
}

/// One chunk of a file: where it starts, its bytes, the content hash of the file up to its
/// end (for the last chunk, the whole file's) and its own, which the request carrying it
/// names. A piece stands alone: pieces can go out in any order.
pub struct Piece {
    pub offset: u64,
    /// Holds its share of the budget until the request that carries it is done.
    pub data: Bytes,
    pub hash: String,
    pub own_hash: String,
    pub last: bool,
}

/// Read a file in chunks on a blocking thread, one chunk ahead of the sender; from
/// `from` = (offset, content hash of the bytes before it) when continuing an upload.
pub fn read_chunks(
    file: LocalFile,
    chunk: usize,
    budget: Arc<Budget>,
    from: Option<(u64, String)>,
) -> mpsc::Receiver<Result<Piece, ReadError>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::task::spawn_blocking(move || {
        let result = read_into(&file, chunk, &budget, from.as_ref(), |piece| {
            tx.blocking_send(Ok(piece)).is_ok()
        });
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

/// The heart of the one-pass read: read `chunk` bytes at a time, feed the content hasher,
/// hand each chunk to `sink` with the hash so far and its own (`sink` returns false to
/// stop). Before the last chunk is handed over, the file must still be exactly as the walk saw it; an
/// empty file yields one empty chunk so that it, too, is uploaded. With `from`, the bytes
/// before its offset are only hashed, and must hash as it says; chunks then end on the
/// same boundaries as if the file had been read from the start.
fn read_into(
    file: &LocalFile,
    chunk: usize,
    budget: &Arc<Budget>,
    from: Option<&(u64, String)>,
    mut sink: impl FnMut(Piece) -> bool,
) -> Result<(), ReadError> {
    let mut handle = dropbox_post_files::open_regular(&file.path)?;
    as_walked(file, &handle.metadata()?)?;
    let mut hasher = ContentHasher::new();
    let mut offset = 0;
    if let Some((start, expected)) = from {
        hash_prefix(&mut handle, &mut hasher, *start)?;
        if hasher.clone().finish() != *expected {
            return Err(ReadError::NotResumable);
        }
        offset = *start;
    }
    let mut remaining = file.size - offset;
    let mut next = chunk - (offset % chunk as u64) as usize;
    loop {
        let len = remaining.min(next as u64) as usize;
        next = chunk;
        let mut buf = budget.take(len);
        // Read into spare capacity: zeroing each chunk first cost ~10 % of a big upload's CPU.
        (&mut handle).take(len as u64).read_to_end(buf.data())?;
        if buf.data().len() < len {
            return Err(ReadError::Changed("it got shorter".into()));
        }
        let mut own = ContentHasher::new();
        hasher.update_with(&mut own, buf.data());
        let own_hash = own.finish();
        remaining -= len as u64;
        let last = remaining == 0;
        let at = offset;
        offset += len as u64;
        let hash = if last {
            if handle.read(&mut [0u8; 1])? != 0 {
                return Err(ReadError::Changed("it grew".into()));
            }
            as_walked(file, &handle.metadata()?)?;
            std::mem::take(&mut hasher).finish()
        } else {
            hasher.clone().finish()
        };
        let piece = Piece {
            offset: at,
            data: buf.freeze(),
            hash,
            own_hash,
            last,
        };
        if !sink(piece) || last {
            return Ok(());
        }
    }
}

/// Feeds the first `len` bytes of `handle` to `hasher`.
fn hash_prefix(handle: &mut File, hasher: &mut ContentHasher, len: u64) -> Result<(), ReadError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = handle.read(&mut buf[..left.min(1 << 20) as usize])?;
        if n == 0 {
            return Err(ReadError::Changed("it got shorter".into()));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

pub(super) fn as_walked(file: &LocalFile, now: &std::fs::Metadata) -> Result<(), ReadError> {
    file.change_since_walk(now)
        .map_or(Ok(()), |change| Err(ReadError::Changed(change)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::test_support::local;
    use dropbox_wire::content_hash::{BLOCK_SIZE, content_hash};
    use std::io::Write;
    use std::time::Duration;

    fn collect(file: &LocalFile, chunk: usize) -> Result<(Vec<usize>, String), ReadError> {
        let mut sizes = Vec::new();
        let mut hash = None;
        let mut next = 0;
        read_into(file, chunk, &Budget::new(chunk), None, |piece| {
            assert_eq!(piece.own_hash, content_hash(&piece.data));
            assert_eq!(piece.offset, next, "pieces follow one another");
            next += piece.data.len() as u64;
            sizes.push(piece.data.len());
            hash = Some(piece.hash).filter(|_| piece.last);
            true
        })?;
        Ok((sizes, hash.unwrap()))
    }

    /// Issue 17: a file replaced by a FIFO after the walk hung `post` in open().
    #[cfg(unix)]
    #[test]
    fn a_file_replaced_by_a_fifo_after_the_walk_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"data").unwrap();
        let walked = local(&path);
        std::fs::remove_file(&path).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let err = collect(&walked, BLOCK_SIZE).unwrap_err().to_string();
        assert!(err.contains("FIFO"), "{err}");
    }

    #[test]
    fn chunks_cover_the_file_and_the_hash_is_dropboxs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(2 * BLOCK_SIZE + 5)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let (sizes, hash) = collect(&local(&path), BLOCK_SIZE).unwrap();
        assert_eq!(sizes, vec![BLOCK_SIZE, BLOCK_SIZE, 5]);
        assert_eq!(hash, content_hash(&data));
    }

    #[test]
    fn empty_files_are_one_empty_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e");
        std::fs::write(&path, b"").unwrap();
        let (sizes, hash) = collect(&local(&path), BLOCK_SIZE).unwrap();
        assert_eq!(sizes, vec![0]);
        assert_eq!(
            hash,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_file_changed_while_read_is_refused_before_its_last_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 2 * BLOCK_SIZE]).unwrap();
        let file = local(&path);
        let mut handed = 0;
        let result = read_into(&file, BLOCK_SIZE, &Budget::new(BLOCK_SIZE), None, |_| {
            handed += 1;
            // A writer appends while the first chunk is on its way.
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(b"more").unwrap();
            true
        });
        assert!(matches!(result, Err(ReadError::Changed(_))), "{result:?}");
        assert_eq!(handed, 1, "the last chunk must not be handed over");
    }

    /// A journalled prefix hash that the file's first bytes do not have (a write its
    /// timestamps could not show): the session is not continued.
    #[test]
    fn a_prefix_that_hashes_otherwise_is_not_continued() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; BLOCK_SIZE + 1]).unwrap();
        let budget = Budget::new(BLOCK_SIZE);
        let read = |hash: String| {
            let from = (BLOCK_SIZE as u64, hash);
            read_into(&local(&path), BLOCK_SIZE, &budget, Some(&from), |piece| {
                assert_eq!(piece.offset, BLOCK_SIZE as u64, "the first piece sent");
                true
            })
        };
        assert!(read(content_hash(&vec![7u8; BLOCK_SIZE])).is_ok());
        let other = read(content_hash(&vec![8u8; BLOCK_SIZE]));
        assert!(matches!(other, Err(ReadError::NotResumable)), "{other:?}");
    }

    #[test]
    fn a_file_changed_since_the_walk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let file = local(&path);
        std::fs::write(&path, b"abcd").unwrap();
        let err = collect(&file, BLOCK_SIZE).unwrap_err();
        assert!(
            err.to_string().contains("changed while being read"),
            "{err}"
        );
        // Same size, different mtime.
        std::fs::write(&path, b"xyz").unwrap();
        let mut file = local(&path);
        file.modified -= Duration::from_secs(60);
        assert!(matches!(
            collect(&file, BLOCK_SIZE),
            Err(ReadError::Changed(_))
        ));
    }
}
