//! Request bodies streamed to a temporary file under `ROOT/tmp`, hashed while written.
//! Nothing is visible to the namespace until a commit renames the file into place, and a
//! dropped request (cut connection, client gone) deletes it.

use std::io::Write;
use std::path::Path;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use tempfile::TempPath;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use dropbox_wire::content_hash::ContentHasher;
use dropbox_wire::limits;

/// Dropbox refuses more than this many bytes in one request.
pub const MAX_REQUEST_BYTES: u64 = limits::MAX_REQUEST_BYTES as u64;

/// Bytes on disk, not yet part of the namespace, with their content hash so far (a session
/// can go on hashing where a request left off).
#[derive(Debug)]
pub struct Staged {
    pub temp: TempPath,
    pub size: u64,
    pub hasher: Box<ContentHasher>,
}

impl Staged {
    /// No bytes: what a session started without data holds.
    pub fn empty(dir: &Path) -> std::io::Result<Staged> {
        Ok(Staged {
            temp: tempfile::NamedTempFile::new_in(dir)?.into_temp_path(),
            size: 0,
            hasher: Box::new(ContentHasher::new()),
        })
    }

    pub fn content_hash(&self) -> String {
        self.hasher.clone().finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("the request body is larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("reading the request body: {0}")]
    Body(axum::Error),
    #[error("staging the request body: {0}")]
    Io(#[from] std::io::Error),
    /// The fault plan wants the connection dropped here.
    #[error("connection cut by fault injection")]
    Cut,
}

/// Streams `body` into a new file in `dir`. With `cut_after`, stops once that many bytes
/// arrived (or at the end of a shorter body) and reports `Cut` instead of finishing.
pub async fn stage(dir: &Path, body: Body, cut_after: Option<u64>) -> Result<Staged, StageError> {
    let (file, temp) = tempfile::NamedTempFile::new_in(dir)?.into_parts();
    // Its block digests are kept: a concurrent session's pieces, each hashed as it came,
    // then need no hashing again when they are put together.
    let hasher = Box::new(ContentHasher::recording());
    let (size, hasher) = write_body(file, body, cut_after, hasher).await?;
    Ok(Staged { temp, size, hasher })
}

/// What watches the bytes of a body as they are stored: content hashers.
pub trait Seen: Send + 'static {
    fn see(&mut self, bytes: &[u8]);
}

impl Seen for ContentHasher {
    fn see(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl<T: Seen> Seen for Box<T> {
    fn see(&mut self, bytes: &[u8]) {
        (**self).see(bytes);
    }
}

impl<T: Seen> Seen for Option<T> {
    fn see(&mut self, bytes: &[u8]) {
        if let Some(s) = self {
            s.see(bytes);
        }
    }
}

/// A session's running content hash (unless a restart lost it) and, when a request names
/// a `content_hash`, the hash of that request's own bytes: fed together, so that a request
/// starting on a block boundary has each block hashed once for both.
pub struct Hashers {
    pub running: Option<Box<ContentHasher>>,
    pub own: Option<Box<ContentHasher>>,
}

impl Seen for Hashers {
    fn see(&mut self, bytes: &[u8]) {
        match (&mut self.running, &mut self.own) {
            (Some(running), Some(own)) => running.update_with(own, bytes),
            (running, own) => {
                running.see(bytes);
                own.see(bytes);
            }
        }
    }
}

/// Chunks on their way to the writer thread.
const QUEUE: usize = 16;

/// Streams `body` into `file` from its current position, showing every stored byte to
/// `seen`; returns the body's length and `seen`. Bytes past `MAX_REQUEST_BYTES` or after a
/// cut may be partly written: callers own only what they record as received.
///
/// Writing and hashing run on a blocking thread while the next chunks arrive, each chunk
/// hashed and written while it is still in the CPU cache, as it came off the socket: a
/// buffered async file copied every byte twice in user space (12 % of the emulator's CPU on a
/// 1.4 GiB upload; batching chunks into one `writev` made the kernel's copy slower).
pub async fn write_body<S: Seen>(
    file: std::fs::File,
    body: Body,
    cut_after: Option<u64>,
    seen: S,
) -> Result<(u64, S), StageError> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
    let writer = tokio::task::spawn_blocking(move || {
        let (mut file, mut seen) = (file, seen);
        while let Some(chunk) = rx.blocking_recv() {
            seen.see(&chunk);
            file.write_all(&chunk)?;
        }
        Ok::<_, std::io::Error>(seen)
    });
    let received = receive(body, cut_after, &tx).await;
    drop(tx);
    let written = writer.await.expect("the body writer panicked");
    let size = received?;
    Ok((size, written?))
}

/// Hands `body`'s chunks to the writer; the length, or why the body is refused.
async fn receive(
    body: Body,
    cut_after: Option<u64>,
    writer: &mpsc::Sender<Bytes>,
) -> Result<u64, StageError> {
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(StageError::Body)?;
        size += chunk.len() as u64;
        if cut_after.is_some_and(|n| size >= n) {
            return Err(StageError::Cut);
        }
        // Past the limit, keep reading (so the client gets an answer) but store nothing.
        // A closed channel means the writer failed; its error is the one to report.
        if size <= MAX_REQUEST_BYTES && writer.send(chunk).await.is_err() {
            break;
        }
    }
    if cut_after.is_some() {
        return Err(StageError::Cut);
    }
    if size > MAX_REQUEST_BYTES {
        return Err(StageError::TooLarge);
    }
    Ok(size)
}

/// The content hasher of a file's bytes.
pub async fn hash_file(path: &Path) -> std::io::Result<ContentHasher> {
    let mut input = tokio::fs::File::open(path).await?;
    let mut hasher = ContentHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match tokio::io::AsyncReadExt::read(&mut input, &mut buf).await? {
            0 => return Ok(hasher),
            n => hasher.update(&buf[..n]),
        }
    }
}

/// Copies `parts` (in order) into one staged file whose content hash `hasher` already
/// holds (their block digests), or, without one, hashing the whole as it is copied.
pub async fn concat(
    dir: &Path,
    parts: &[std::path::PathBuf],
    hasher: Option<ContentHasher>,
) -> Result<Staged, StageError> {
    let (file, temp) = tempfile::NamedTempFile::new_in(dir)?.into_parts();
    if let Some(hasher) = hasher {
        let parts = parts.to_vec();
        // `io::copy` between files is the kernel's copy (copy_file_range on Linux).
        let copy = tokio::task::spawn_blocking(move || {
            let mut out = file;
            parts.iter().try_fold(0, |size, part| {
                let copied = std::io::copy(&mut std::fs::File::open(part)?, &mut out)?;
                Ok::<_, std::io::Error>(size + copied)
            })
        });
        let size = copy.await.map_err(std::io::Error::other)??;
        let hasher = Box::new(hasher);
        return Ok(Staged { temp, size, hasher });
    }
    let mut out = BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let mut hasher = ContentHasher::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    for part in parts {
        let mut input = tokio::fs::File::open(part).await?;
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut input, &mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).await?;
            size += n as u64;
        }
    }
    out.flush().await?;
    Ok(Staged {
        temp,
        size,
        hasher: Box::new(hasher),
    })
}

/// A copy of `staged` with its middle byte flipped (an empty one gains a byte), hashed
/// again: a commit the emulator damages on purpose (`--corrupt-commit`). A copy, because the
/// staged file may be an upload session's own bytes.
pub fn corrupted(staged: &Staged) -> std::io::Result<Staged> {
    let mut bytes = std::fs::read(&staged.temp)?;
    match bytes.len() {
        0 => bytes.push(0),
        n => bytes[n / 2] ^= 0xff,
    }
    let dir = staged.temp.parent().unwrap_or(Path::new("."));
    let mut copy = tempfile::NamedTempFile::new_in(dir)?;
    copy.write_all(&bytes)?;
    let mut hasher = ContentHasher::new();
    hasher.update(&bytes);
    Ok(Staged {
        temp: copy.into_temp_path(),
        size: bytes.len() as u64,
        hasher: Box::new(hasher),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dropbox_wire::content_hash::{BLOCK_SIZE as BLOCK, content_hash};

    #[tokio::test]
    async fn stages_and_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let s = stage(dir.path(), Body::from("abc"), None).await.unwrap();
        assert_eq!(s.size, 3);
        assert_eq!(s.content_hash(), content_hash(b"abc"));
        assert_eq!(std::fs::read(&s.temp).unwrap(), b"abc");
        let parts = [s.temp.to_path_buf(), s.temp.to_path_buf()];
        let both = concat(dir.path(), &parts, None).await.unwrap();
        assert_eq!(both.content_hash(), content_hash(b"abcabc"));
        assert_eq!(std::fs::read(&both.temp).unwrap(), b"abcabc");
    }

    /// Pieces of whole blocks, each hashed as staged, are put together without hashing
    /// again: the digests they kept make the whole's hash.
    #[tokio::test]
    async fn pieces_put_together_keep_their_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..BLOCK + 7).map(|i| (i % 251) as u8).collect();
        let first = stage(dir.path(), Body::from(data[..BLOCK].to_vec()), None)
            .await
            .unwrap();
        let last = stage(dir.path(), Body::from(data[BLOCK..].to_vec()), None)
            .await
            .unwrap();
        let blocks = [first.hasher.clone(), last.hasher.clone()].map(|h| h.into_blocks());
        let parts = [first.temp.to_path_buf(), last.temp.to_path_buf()];
        let known = ContentHasher::of_blocks(&blocks);
        let whole = concat(dir.path(), &parts, Some(known)).await.unwrap();
        assert_eq!(
            (whole.size, whole.content_hash()),
            (data.len() as u64, content_hash(&data))
        );
        assert_eq!(std::fs::read(&whole.temp).unwrap(), data);
    }

    #[tokio::test]
    async fn a_cut_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = stage(dir.path(), Body::from("abcdef"), Some(2)).await;
        assert!(matches!(r, Err(StageError::Cut)));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
