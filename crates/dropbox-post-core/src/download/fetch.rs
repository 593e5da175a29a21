//! One file: what the listing says is checked against what the download announces, the body
//! streams into a temporary file beside the destination while it is hashed, and only a file
//! of the announced size and content hash is renamed into place.
//!
//! A body is received into a [`Span`] of the temporary file, never past its end; today a
//! file is one span, fetched whole. Issue 23 fetches a big file as several spans
//! (`Range: bytes=`), each written in place at its offset, and checks the whole file's hash
//! once all are in.

use std::io::{Read, SeekFrom};
use std::path::Path;

use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::plan::Download;
use super::refused_text;
use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;
use crate::redact::untrusted;
use dropbox_post_files::Existing;
use dropbox_post_files::confine::{Folder, Missing, Refused};
use dropbox_wire::content_hash::ContentHasher;
use dropbox_wire::types::FileMetadata;

/// A file that is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Downloaded and verified: this many bytes.
    Downloaded(u64),
    /// The local file already had Dropbox's size and content hash; kept.
    Identical,
}

/// Why one file was not written; the old file, if any, is kept.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Api(ApiError),
    #[error("{0}")]
    Local(std::io::Error),
    /// A link at the file's name or on the way, or something else in the way.
    #[error("{}", refused_text(.0))]
    Refused(Refused),
    #[error(
        "Dropbox listed {listed} bytes but is sending {sent}; it changed meanwhile: run get again"
    )]
    SizeChanged { listed: u64, sent: u64 },
    #[error(
        "Dropbox listed content hash {} but is sending a file with {}; it changed meanwhile: \
         run get again",
        untrusted(.listed),
        untrusted(.sent)
    )]
    HashChanged { listed: String, sent: String },
    /// Neither the listing nor the download vouches for the bytes.
    #[error(
        "Dropbox reported no content hash, so what it sends cannot be checked; kept the old \
         file (is the endpoint really Dropbox?)"
    )]
    NoHash,
    /// The body ran past its span: a server that streams on cannot fill the disk.
    #[error(
        "Dropbox sent more than the {0} bytes it announced; stopped reading and kept the old file"
    )]
    Overlong(u64),
    #[error(
        "downloaded {written} bytes with content hash {got}, but Dropbox says {size} bytes \
         with {}; kept the old file",
        untrusted(.want)
    )]
    Corrupt {
        written: u64,
        got: String,
        size: u64,
        want: String,
    },
}

/// Bytes `start..start + len` of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub len: u64,
}

impl Span {
    pub fn whole(size: u64) -> Span {
        Span {
            start: 0,
            len: size,
        }
    }
}

/// Fetch `file` into place below `root`, unless the local file is already identical.
pub async fn fetch(
    client: &DropboxClient,
    root: &Folder,
    file: &Download,
) -> Result<Fetched, FetchError> {
    let (remote, rel) = (&file.remote, file.dest.as_path());
    // A link at the file's own name is refused here, before anything is downloaded.
    let existing = root.open_file(rel, false).map_err(FetchError::Refused)?;
    // A file replaced keeps its permissions; a new one is the user's only.
    let mode = existing.as_ref().map_or(0o600, mode_of);
    if let (Some(hash), Some(local)) = (&remote.content_hash, existing)
        && identical(local, remote.size, hash).await
    {
        return Ok(Fetched::Identical);
    }
    let id = remote.path_lower.as_deref().unwrap_or(&remote.id);
    let (sent, mut body) = client.download(id).await.map_err(FetchError::Api)?;
    let want = vouched(remote, &sent)?;
    let name = Path::new(rel.file_name().expect("a file has a name"));
    let parent = rel.parent().unwrap_or(Path::new(""));
    let mut temp = root
        .folder(parent, Missing::Create)
        .map_err(FetchError::Refused)?
        .expect("created")
        .new_file(name, mode)
        .map_err(FetchError::Refused)?;
    let mut out = tokio::fs::File::from_std(temp.file().try_clone().map_err(FetchError::Local)?);
    let mut hasher = ContentHasher::new();
    let written = receive(&mut body, &mut out, Span::whole(sent.size), &mut hasher).await?;
    drop(out);
    let got = hasher.finish();
    if written != sent.size || want != got {
        return Err(FetchError::Corrupt {
            written,
            got,
            size: sent.size,
            want,
        });
    }
    // Syncing a big file to disk takes a while: off the async threads.
    tokio::task::spawn_blocking(move || temp.commit(Existing::Replace))
        .await
        .map_err(|e| FetchError::Local(std::io::Error::other(e)))?
        .map_err(FetchError::Local)?;
    Ok(Fetched::Downloaded(written))
}

/// The content hash the bytes must have: the listing (`listed`) and the download's own
/// metadata (`sent`) must agree on size and hash, and one must carry a hash; bytes nothing
/// vouches for are not written.
fn vouched(listed: &FileMetadata, sent: &FileMetadata) -> Result<String, FetchError> {
    if sent.size != listed.size {
        return Err(FetchError::SizeChanged {
            listed: listed.size,
            sent: sent.size,
        });
    }
    match (&sent.content_hash, &listed.content_hash) {
        (Some(sent), Some(listed)) if sent != listed => Err(FetchError::HashChanged {
            listed: listed.clone(),
            sent: sent.clone(),
        }),
        (Some(hash), _) | (None, Some(hash)) => Ok(hash.clone()),
        (None, None) => Err(FetchError::NoHash),
    }
}

/// `body` written into `out` at `span`, hashed as it goes; the bytes written. More than the
/// span holds is refused before it is written.
async fn receive(
    body: &mut reqwest::Response,
    out: &mut tokio::fs::File,
    span: Span,
    hasher: &mut ContentHasher,
) -> Result<u64, FetchError> {
    let url = body.url().clone();
    let cut = |e| FetchError::Api(crate::dropbox::http::network("files/download", &url, &e));
    out.seek(SeekFrom::Start(span.start))
        .await
        .map_err(FetchError::Local)?;
    let mut written = 0u64;
    while let Some(chunk) = body.chunk().await.map_err(cut)? {
        if written + chunk.len() as u64 > span.len {
            return Err(FetchError::Overlong(span.len));
        }
        hasher.update(&chunk);
        written += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(FetchError::Local)?;
    }
    out.flush().await.map_err(FetchError::Local)?;
    Ok(written)
}

#[cfg(unix)]
fn mode_of(file: &std::fs::File) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    file.metadata()
        .map_or(0o600, |m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::File) -> u32 {
    0o600
}

/// Is the local file already `size` bytes with content hash `hash`?
async fn identical(file: std::fs::File, size: u64, hash: &str) -> bool {
    let hash = hash.to_string();
    tokio::task::spawn_blocking(move || {
        file.metadata().is_ok_and(|m| m.len() == size) && local_hash(file).is_ok_and(|h| h == hash)
    })
    .await
    .unwrap_or(false)
}

fn local_hash(mut file: std::fs::File) -> std::io::Result<String> {
    let mut hasher = ContentHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, hash: Option<&str>) -> FileMetadata {
        let dropbox_wire::types::Metadata::File(mut file) =
            crate::download::remote::tests::entry("file", "/res/a")
        else {
            unreachable!()
        };
        (file.size, file.content_hash) = (size, hash.map(str::to_string));
        file
    }

    #[test]
    fn bytes_are_written_only_when_listing_and_download_vouch_for_one_hash() {
        let (a, b) = (Some("a".repeat(64)), Some("b".repeat(64)));
        let vouch = |listed: (u64, &Option<String>), sent: (u64, &Option<String>)| {
            vouched(
                &meta(listed.0, listed.1.as_deref()),
                &meta(sent.0, sent.1.as_deref()),
            )
        };
        assert_eq!(vouch((7, &a), (7, &a)).unwrap(), "a".repeat(64));
        assert_eq!(vouch((7, &None), (7, &b)).unwrap(), "b".repeat(64));
        assert_eq!(vouch((7, &a), (7, &None)).unwrap(), "a".repeat(64));
        assert!(matches!(
            vouch((7, &a), (8, &a)),
            Err(FetchError::SizeChanged { listed: 7, sent: 8 })
        ));
        assert!(matches!(
            vouch((7, &a), (7, &b)),
            Err(FetchError::HashChanged { .. })
        ));
        assert!(matches!(
            vouch((7, &None), (7, &None)),
            Err(FetchError::NoHash)
        ));
    }

    fn body(bytes: &[u8]) -> reqwest::Response {
        axum::http::Response::new(bytes.to_vec()).into()
    }

    #[tokio::test]
    async fn a_body_lands_in_its_span_and_never_runs_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"..........").unwrap();
        let mut out = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .unwrap();
        let mut hasher = ContentHasher::new();
        let span = Span { start: 4, len: 3 };
        let n = receive(&mut body(b"abc"), &mut out, span, &mut hasher).await;
        assert_eq!(n.unwrap(), 3);
        assert_eq!(
            hasher.finish(),
            dropbox_wire::content_hash::content_hash(b"abc")
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"....abc...");
        let mut hasher = ContentHasher::new();
        let long = receive(&mut body(b"abcd"), &mut out, span, &mut hasher).await;
        assert!(matches!(long, Err(FetchError::Overlong(3))));
        assert_eq!(std::fs::read(&path).unwrap(), b"....abc...");
    }

    #[test]
    fn local_hash_matches_dropbox_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        assert_eq!(
            local_hash(std::fs::File::open(&p).unwrap()).unwrap(),
            dropbox_wire::content_hash::content_hash(&data)
        );
    }
}
