//! One file: what the listing says is checked against what the download announces, the body
//! streams into a temporary file beside the destination while it is hashed, and only a file
//! of the announced size and content hash is renamed into place.
//!
//! Every request names the listed revision (`rev:…`), so all the bytes of one file come from
//! one version, whatever happens to it on Dropbox meanwhile. A body is received into a
//! [`Span`] of the temporary file, written at its offset and never past its end. A file of
//! two [`RANGE`]s or more is fetched as that many spans (`Range: bytes=`), several at once;
//! each is hashed block by block as it arrives (ranges begin on 4 MiB blocks, so their block
//! digests are the file's), and the whole file's hash is checked once all are in. A body cut
//! short is asked again for the rest of its span, as long as the pacer allows retries.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::plan::Download;
use super::refused_text;
use super::run::PARALLEL;
use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;
use crate::dropbox::pacer::Decision;
use crate::dropbox::route_error::RouteError;
use crate::redact::untrusted;
use dropbox_post_files::Existing;
use dropbox_post_files::confine::{Folder, Missing, Refused};
use dropbox_wire::content_hash::{BLOCK_SIZE, BlockDigests, ContentHasher};
use dropbox_wire::types::FileMetadata;

/// Bytes per range of a big file: 4 blocks, so that a range hashes its own blocks. Dropbox
/// takes some 0.1 to 0.5 s to answer a request and one connection brings 16 MiB in a second
/// or more, so with a few ranges in flight the wait for the next answer hides behind the
/// others' bytes. A file under two ranges gains too little from a second connection to
/// pay for its request: it is one.
pub const RANGE: u64 = 4 * BLOCK_SIZE as u64;

/// Bytes gathered before one positioned write: few trips to the blocking pool, and a
/// bounded buffer per range, whatever the file's size.
const WRITE_BATCH: usize = 1 << 20;

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
    /// The listed revision cannot be downloaded: the file was replaced or deleted.
    #[error(
        "revision {} is no longer on Dropbox (the file changed or was deleted during the \
         get); kept the old file: run get again",
        untrusted(.0)
    )]
    Gone(String),
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
    /// A range was answered with other bytes than were asked for.
    #[error(
        "asked Dropbox for bytes {}-{} of {size}, it answered {answer}; kept the old file (is \
         the endpoint really Dropbox?)",
        .span.start,
        .span.last()
    )]
    Range {
        span: Span,
        size: u64,
        answer: String,
    },
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

    /// The offset of its last byte (`Range` counts both ends); of a non-empty span.
    fn last(self) -> u64 {
        self.start + self.len.saturating_sub(1)
    }

    /// What is left of it once its first `done` bytes are in.
    fn after(self, done: u64) -> Span {
        Span {
            start: self.start + done,
            len: self.len - done,
        }
    }
}

/// The spans a file of `size` bytes is fetched in, in order: one for a file under two
/// [`RANGE`]s (an empty file too), else ranges of [`RANGE`] bytes, the last one shorter
/// unless the size is a multiple.
fn spans(size: u64) -> impl Iterator<Item = Span> {
    let step = if size < 2 * RANGE { size.max(1) } else { RANGE };
    (0..size.div_ceil(step).max(1)).map(move |i| {
        let start = i * step;
        Span {
            start,
            len: step.min(size - start),
        }
    })
}

/// Where a file's bytes come from: the listed revision, whose metadata every answer must
/// match.
struct Source<'a> {
    client: &'a DropboxClient,
    listed: &'a FileMetadata,
    /// `rev:…`, as `files/download` takes it.
    path: String,
}

impl Source<'_> {
    /// The answer for `span` (without `Range` when it is the whole file), the content hash
    /// its bytes must have (every answer's metadata must agree with the listing), and
    /// whether it sends the whole file.
    async fn request(&self, span: Span) -> Result<(reqwest::Response, String, bool), FetchError> {
        let size = self.listed.size;
        let range = (span.len < size).then(|| (span.start, span.last()));
        let (sent, body) =
            (self.client.download(&self.path, range).await).map_err(|e| self.refused(e, span))?;
        let want = vouched(self.listed, &sent)?;
        let whole = range.is_none() || answers_whole(&body, span, size)?;
        Ok((body, want, whole))
    }

    /// What a refused request for `span` means for the file.
    fn refused(&self, e: ApiError, span: Span) -> FetchError {
        match e {
            _ if e.route_error() == Some(RouteError::NotFound) => {
                FetchError::Gone(self.listed.rev.clone())
            }
            ApiError::Decode { status: 416, .. } => FetchError::Range {
                span,
                size: self.listed.size,
                answer: "416 (not satisfiable)".into(),
            },
            _ => FetchError::Api(e),
        }
    }
}

/// Whether the answer to a `Range` request for `span` sends the whole file (200, as HTTP
/// lets a server that ignores `Range` answer) rather than exactly the span (206 with its
/// `Content-Range`); anything else is refused.
fn answers_whole(body: &reqwest::Response, span: Span, size: u64) -> Result<bool, FetchError> {
    let refused = |answer: String| FetchError::Range { span, size, answer };
    match body.status().as_u16() {
        200 => return Ok(true),
        206 => {}
        status => return Err(refused(format!("with status {status}"))),
    }
    let Some(named) = body.headers().get(reqwest::header::CONTENT_RANGE) else {
        return Err(refused("with no Content-Range".into()));
    };
    let named = String::from_utf8_lossy(named.as_bytes());
    let asked = format!("bytes {}-{}/{size}", span.start, span.last());
    if named.eq_ignore_ascii_case(&asked) {
        Ok(false)
    } else {
        Err(refused(format!("Content-Range {}", untrusted(&named))))
    }
}

/// Fetch `file` into place below `root`, unless the local file is already identical; each
/// request holds one of `slots` while it is in flight.
pub async fn fetch(
    client: &DropboxClient,
    root: &Folder,
    file: &Download,
    slots: &Semaphore,
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
    let source = Source {
        client,
        listed: remote,
        path: format!("rev:{}", remote.rev),
    };
    let mut spans = spans(remote.size);
    let first = spans.next().expect("a file has a span");
    let permit = acquire(slots).await;
    let (body, want, whole) = source.request(first).await?;
    // Nothing is created before the first answer vouches for the file.
    let name = Path::new(rel.file_name().expect("a file has a name"));
    let parent = rel.parent().unwrap_or(Path::new(""));
    let mut temp = root
        .folder(parent, Missing::Create)
        .map_err(FetchError::Refused)?
        .expect("created")
        .new_file(name, mode)
        .map_err(FetchError::Refused)?;
    let out = Arc::new(temp.file().try_clone().map_err(FetchError::Local)?);
    // A server that ignores `Range` sends the whole file at once: one span, then.
    let (first, rest) = match whole {
        true => (Span::whole(remote.size), None),
        false => (first, Some(spans)),
    };
    if let Some(rest) = &rest {
        let ranges = rest.size_hint().0 + 1;
        tracing::info!("{}: {} bytes in {ranges} ranges", file.shown(), remote.size);
    }
    let parts = std::iter::once((first, Some((permit, body))))
        .chain(rest.into_iter().flatten().map(|span| (span, None)));
    let (source, out) = (&source, &out);
    let mut parts: Vec<(u64, u64, BlockDigests)> = futures_util::stream::iter(parts)
        .map(|(span, had)| async move {
            let (_permit, body) = match had {
                Some((permit, body)) => (permit, Some(body)),
                None => (acquire(slots).await, None),
            };
            let (n, digests) = fill(source, out, span, body).await?;
            Ok::<_, FetchError>((span.start, n, digests))
        })
        // In any order, so that a slow range holds up only itself; their digests (32 bytes
        // a block) join the file's hash in order at the end.
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    parts.sort_unstable_by_key(|(start, _, _)| *start);
    let written = parts.iter().map(|(_, n, _)| n).sum::<u64>();
    let mut hasher = ContentHasher::new();
    parts
        .iter()
        .for_each(|(_, _, digests)| hasher.append(digests));
    let got = hasher.finish();
    if written != remote.size || want != got {
        return Err(FetchError::Corrupt {
            written,
            got,
            size: remote.size,
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

async fn acquire(slots: &Semaphore) -> SemaphorePermit<'_> {
    slots.acquire().await.expect("the slots are never closed")
}

/// `span` of the file written in place into `out`: the bytes written and their block
/// digests. `body` is the answer already had for it, if any. A body cut short is asked
/// again for the rest of the span while the pacer allows; the digests go on from the bytes
/// written, so they are those of the bytes on disk.
async fn fill(
    source: &Source<'_>,
    out: &Arc<std::fs::File>,
    span: Span,
    mut body: Option<reqwest::Response>,
) -> Result<(u64, BlockDigests), FetchError> {
    let (mut digests, mut written, mut cuts) = (ContentHasher::recording(), 0, 0);
    loop {
        let rest = span.after(written);
        let mut answer = match body.take() {
            Some(body) => body,
            // The whole file, unless asked for, is no use: its offsets are not the span's.
            None => match source.request(rest).await? {
                (body, _, whole) if !whole || rest.len == source.listed.size => body,
                _ => {
                    return Err(FetchError::Range {
                        span: rest,
                        size: source.listed.size,
                        answer: "with the whole file".into(),
                    });
                }
            },
        };
        let cut = match receive(&mut answer, out, rest, &mut digests).await {
            (n, Ok(())) => {
                written += n;
                return Ok((written, digests.into_blocks()));
            }
            (n, Err(FetchError::Api(cut))) => {
                written += n;
                cut
            }
            (_, Err(e)) => return Err(e),
        };
        if written == span.len {
            // Every byte is in: the hash tells whether they are right.
            return Ok((written, digests.into_blocks()));
        }
        cuts += 1;
        match source
            .client
            .pacer()
            .decide(cuts, std::time::Duration::ZERO, &cut)
        {
            Decision::RetryAfter(wait) => tokio::time::sleep(wait).await,
            Decision::GiveUp => return Err(FetchError::Api(cut)),
        }
    }
}

/// `body` written into `out` at `span`, each byte hashed into `digests` as it goes: the
/// bytes written, and how the body ended (an [`FetchError::Api`] is a cut connection).
/// More than the span holds is refused before it is written; every byte hashed is written.
async fn receive(
    body: &mut reqwest::Response,
    out: &Arc<std::fs::File>,
    span: Span,
    digests: &mut ContentHasher,
) -> (u64, Result<(), FetchError>) {
    let url = body.url().clone();
    let cut = |e| FetchError::Api(crate::dropbox::http::network("files/download", &url, &e));
    let (mut batch, mut received, mut written) = (Vec::new(), 0u64, 0u64);
    let ended = loop {
        let chunk = match body.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break Ok(()),
            Err(e) => break Err(cut(e)),
        };
        if received + chunk.len() as u64 > span.len {
            break Err(FetchError::Overlong(span.len));
        }
        digests.update(&chunk);
        batch.extend_from_slice(&chunk);
        received += chunk.len() as u64;
        if batch.len() >= WRITE_BATCH {
            match write_at(out, batch, span.start + written).await {
                Ok(emptied) => batch = emptied,
                Err(e) => return (written, Err(e)),
            }
            written = received;
        }
    };
    if batch.is_empty() {
        return (written, ended);
    }
    match write_at(out, batch, span.start + written).await {
        Ok(_) => (received, ended),
        Err(e) => (written, Err(e)),
    }
}

/// `batch` written at `offset` of `out`, off the async threads; the buffer back, empty.
async fn write_at(
    out: &Arc<std::fs::File>,
    mut batch: Vec<u8>,
    offset: u64,
) -> Result<Vec<u8>, FetchError> {
    let out = out.clone();
    tokio::task::spawn_blocking(move || {
        dropbox_post_files::write_all_at(&out, &batch, offset)?;
        batch.clear();
        Ok(batch)
    })
    .await
    .map_err(|e| FetchError::Local(std::io::Error::other(e)))?
    .map_err(FetchError::Local)
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
        let out = Arc::new(std::fs::OpenOptions::new().write(true).open(&path).unwrap());
        let mut digests = ContentHasher::recording();
        let span = Span { start: 4, len: 3 };
        let (n, ended) = receive(&mut body(b"abc"), &out, span, &mut digests).await;
        assert_eq!(n, 3);
        ended.unwrap();
        assert_eq!(
            digests.into_blocks().content_hash(),
            dropbox_wire::content_hash::content_hash(b"abc")
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"....abc...");
        let mut digests = ContentHasher::recording();
        let (n, long) = receive(&mut body(b"abcd"), &out, span, &mut digests).await;
        assert!(matches!(long, Err(FetchError::Overlong(3))), "{long:?}");
        assert_eq!(n, 0);
        assert_eq!(std::fs::read(&path).unwrap(), b"....abc...");
    }

    #[test]
    fn big_files_go_in_block_aligned_ranges_and_small_ones_whole() {
        let r = RANGE;
        let all = |size| spans(size).collect::<Vec<_>>();
        let span = |start, len| Span { start, len };
        assert_eq!(all(0), [span(0, 0)]);
        assert_eq!(all(1), [span(0, 1)]);
        assert_eq!(all(2 * r - 1), [span(0, 2 * r - 1)]);
        assert_eq!(all(2 * r), [span(0, r), span(r, r)]);
        assert_eq!(all(2 * r + 1), [span(0, r), span(r, r), span(2 * r, 1)]);
        assert_eq!(all(3 * r - 1), [span(0, r), span(r, r), span(2 * r, r - 1)]);
        for size in [0, 1, 2 * r - 1, 2 * r, 2 * r + 1, 7 * r + 12_345, 1 << 40] {
            let mut next = 0;
            for (i, s) in spans(size).enumerate() {
                assert_eq!(s.start, next, "{size}: contiguous");
                assert_eq!(s.start % BLOCK_SIZE as u64, 0, "{size}: aligned");
                assert!(s.len > 0 || size == 0, "{size}: span {i} is empty");
                next += s.len;
            }
            assert_eq!(next, size, "{size}: covers the file");
        }
        assert_eq!(spans(1 << 40).count() as u64, (1 << 40) / r);
    }

    fn answer(status: u16, range: Option<&str>) -> reqwest::Response {
        let mut r = axum::http::Response::builder().status(status);
        if let Some(range) = range {
            r = r.header("content-range", range);
        }
        r.body(Vec::new()).unwrap().into()
    }

    #[test]
    fn a_range_is_answered_with_exactly_its_bytes_or_the_whole_file() {
        let span = Span { start: 16, len: 8 };
        let check = |status, range| answers_whole(&answer(status, range), span, 100);
        assert!(!check(206, Some("bytes 16-23/100")).unwrap());
        assert!(!check(206, Some("Bytes 16-23/100")).unwrap());
        assert!(check(200, None).unwrap());
        for (status, range, says) in [
            (
                206,
                Some("bytes 16-24/100"),
                "Content-Range bytes 16-24/100",
            ),
            (
                206,
                Some("bytes 16-23/101"),
                "Content-Range bytes 16-23/101",
            ),
            (206, Some("bytes 0-7/100"), "Content-Range bytes 0-7/100"),
            (206, None, "with no Content-Range"),
            (204, None, "with status 204"),
        ] {
            let e = check(status, range).unwrap_err();
            assert!(matches!(e, FetchError::Range { .. }), "{e:?}");
            let text = e.to_string();
            assert!(text.starts_with("asked Dropbox for bytes 16-23 of 100, it answered"));
            assert!(text.contains(says), "{text}");
        }
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
