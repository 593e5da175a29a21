//! An upload session of one file: started with its first chunk, appended to chunk by chunk
//! (the last append closes it), journalled as it goes when the file takes several requests,
//! and continued from the journal where Dropbox's bytes end once those are proved the
//! file's own. Committing the closed session is the batcher's (`commit`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use futures_util::StreamExt;

use crate::dropbox::client::{DropboxClient, FileSpan};
use crate::dropbox::error::ApiError;
use crate::dropbox::route_error::RouteError;
use dropbox_wire::content_hash::{BLOCK_SIZE, BlockDigests, ContentHasher, content_hash};
use dropbox_wire::types::UploadSessionCursor;

use super::plan::PlannedFile;
use super::reader::{Piece, ReadError, as_walked, read_chunks};
use super::resume::{AckedPiece, Saved};
use super::state::{FileError, RunState};

/// Where an upload continues: the session journalled by an earlier run, the offset Dropbox
/// holds, and the content hash the file's first `offset` bytes must have.
pub(super) struct ResumePoint {
    saved: Saved,
    offset: u64,
    hash: String,
}

/// A file whose bytes Dropbox holds whole, in a closed session, ready to be committed.
pub(super) struct ClosedSession {
    pub session_id: String,
    /// The content hash of the file as read and sent.
    pub hash: String,
    /// Bytes an earlier run had sent.
    pub resumed: u64,
}

/// Where Dropbox's copy of a journalled session ends, if it is one we can prove; `None`
/// when the session must be started afresh (expired, unknown, or holding other bytes).
/// Asked with an empty append at the acknowledged offset: Dropbox answers it, or names the
/// offset it holds.
pub(super) async fn resume_point(
    client: &DropboxClient,
    saved: Saved,
) -> Result<Option<ResumePoint>, ApiError> {
    let cursor = UploadSessionCursor {
        session_id: saved.session_id.clone(),
        offset: saved.acked,
    };
    let held = match client.append(cursor, Bytes::new(), None, false).await {
        Ok(()) => Some((saved.acked, saved.acked_hash.clone())),
        Err(e) => match e.route_error() {
            // The append in flight when the last run ended did arrive.
            Some(RouteError::IncorrectOffset(at)) => {
                saved.sending.clone().filter(|(end, _)| *end == at)
            }
            // ...and it was the closing one.
            Some(RouteError::Closed) => saved.sending.clone().filter(|(end, _)| *end == saved.size),
            Some(_) => None,
            None if matches!(e, ApiError::BadInput { .. } | ApiError::Decode { .. }) => None,
            None => return Err(e),
        },
    };
    if held.is_none() {
        tracing::debug!("starting {} afresh", saved.session_id);
    }
    Ok(held.map(|(offset, hash)| ResumePoint {
        saved,
        offset,
        hash,
    }))
}

/// Send `file` through a new upload session, or from `start` on in a journalled one.
pub(super) async fn upload(
    state: &Arc<RunState>,
    file: &PlannedFile,
    start: Option<ResumePoint>,
) -> Result<ClosedSession, FileError> {
    let resumed = start.as_ref().map_or(0, |s| s.offset);
    let from = start.as_ref().map(|s| (s.offset, s.hash.clone()));
    let chunk = state.settings.chunk_size.bytes();
    let mut chunks = read_chunks(file.local.clone(), chunk, state.budget.clone(), from);
    // Only a file of several requests is worth journalling.
    let journalled = state.journal.enabled() && file.local.size > chunk as u64;
    let (mut session, mut acked_hash) = match start {
        Some(s) => (Some(Session::continued(state, file, s.saved)), s.hash),
        None => (None, String::new()),
    };
    // Counted once the reader has proved those bytes the file's own.
    let mut already_there = resumed;
    while let Some(piece) = chunks.recv().await {
        let piece = piece.map_err(FileError::Read)?;
        if state.stopped() {
            return Err(FileError::Stopped);
        }
        state.progress.advance(std::mem::take(&mut already_there));
        let (len, hash, last) = (piece.data.len() as u64, piece.hash.clone(), piece.last);
        match &mut session {
            None => session = Some(Session::start(state, file, piece, journalled).await?),
            Some(session) => session.append(piece, acked_hash).await?,
        }
        state.progress.advance(len);
        acked_hash = hash;
        if last {
            state.cache.learn(&file.local, &acked_hash);
            let session = session.expect("a session was started for the first chunk");
            return Ok(ClosedSession {
                session_id: session.id,
                hash: acked_hash,
                resumed,
            });
        }
    }
    Err(ReadError::Io(std::io::Error::other(
        "the reader stopped before the end of the file",
    ))
    .into())
}

/// Files of at least this many chunks go up through a concurrent session. Below it a
/// sequential session costs few round trips; from 4 on (32 MiB by default), at ~0.5 s a
/// request and ~12 MiB/s a connection, pieces in parallel save more than the empty `start`
/// and the closing piece sent last cost (bench W8).
const CONCURRENT_FROM_CHUNKS: u64 = 4;

/// Whether a file of `size` bytes goes up in parallel pieces of `chunk` bytes.
pub(super) fn goes_concurrent(size: u64, chunk: usize) -> bool {
    size >= CONCURRENT_FROM_CHUNKS * chunk as u64
}

/// A piece of a concurrent upload: where it starts and how long it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    offset: u64,
    len: u64,
}

/// The pieces of a file of `size` bytes: `chunk`-byte ones (multiples of 4 MiB, as Dropbox
/// wants every piece but the closing one), then the closing piece, the bytes past the last
/// whole block (or that block, for a file of whole blocks): small, since it goes alone once
/// every other piece is in.
fn pieces(size: u64, chunk: u64) -> Vec<Span> {
    let block = BLOCK_SIZE as u64;
    let tail = match size % block {
        0 => block.min(size),
        rest => rest,
    };
    let body = size - tail;
    let mut spans: Vec<Span> = (0..body)
        .step_by(chunk as usize)
        .map(|offset| Span {
            offset,
            len: chunk.min(body - offset),
        })
        .collect();
    spans.push(Span {
        offset: body,
        len: tail,
    });
    spans
}

/// Send `file` through a concurrent session, a new one or the journalled `saved`: its
/// pieces are read from disk as they go (and again on a retry), never held whole, up to
/// `--jobs` at once across all files; each piece is hashed just before it is sent (every
/// byte hashed once: the file's content hash is made of the pieces' block digests) and
/// each request names its piece's hash, so a file changing under us is refused, not
/// committed. The closing piece goes last, once every other is acknowledged, and the file
/// must still be as walked. Each acknowledged piece is journalled, so that a later run
/// sends only the others.
pub(super) async fn upload_concurrent(
    state: &Arc<RunState>,
    file: &PlannedFile,
    saved: Option<Saved>,
) -> Result<ClosedSession, FileError> {
    let chunk = state.settings.chunk_size.bytes() as u64;
    if let Some(saved) = &saved
        && saved.piece_size != Some(chunk)
    {
        tracing::debug!("{}: journalled in pieces of another size", file.local.rel);
        return Err(ReadError::NotResumable.into());
    }
    let path = file.local.path.clone();
    let open = tokio::task::spawn_blocking(move || dropbox_post_files::open_regular(&path));
    let handle = (open.await)
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        .map_err(ReadError::from)?;
    as_walked(&file.local, &handle.metadata().map_err(ReadError::Io)?)?;
    let handle = Arc::new(handle);
    let resuming = saved.is_some();
    let (id, entry) = match saved {
        Some(saved) => (saved.session_id.clone(), Some(saved)),
        None => {
            let id = state.client.start_concurrent_session().await?;
            let entry = Saved::concurrent(file, &id, chunk).filter(|_| state.journal.enabled());
            (id, entry)
        }
    };
    let acked: HashMap<u64, AckedPiece> = (entry.iter())
        .flat_map(|e| e.pieces.iter().flatten())
        .map(|p| (p.offset, p.clone()))
        .collect();
    let mut entry = PieceJournal {
        recorded: acked.len(),
        entry,
    };
    let spans = pieces(file.local.size, chunk);
    let (last, body) = spans.split_last().expect("a file has a closing piece");
    let missing = body.iter().find(|s| !acked.contains_key(&s.offset));
    if resuming && let Some(span) = missing {
        probe(&state.client, &id, span.offset).await?;
    }
    let mut hashed = futures_util::stream::iter(body.iter().chain([last]).copied())
        .map(|span| hash_span(handle.clone(), span))
        .buffered(2);
    let mut digests = Vec::with_capacity(spans.len());
    let mut sending = tokio::task::JoinSet::new();
    let mut resumed = 0;
    let mut closing = None;
    while let Some(next) = hashed.next().await {
        let (span, blocks) = next?;
        let own = blocks.content_hash();
        digests.push(blocks);
        if state.stopped() {
            return Err(FileError::Stopped);
        }
        if span == *last {
            closing = Some(Part {
                span,
                hash: own,
                close: true,
            });
            break;
        }
        // Journalled as sent: proved the same bytes by their hash, it is not sent again.
        if let Some(done) = acked.get(&span.offset) {
            if (done.len, &done.hash) != (span.len, &own) {
                return Err(ReadError::NotResumable.into());
            }
            resumed += span.len;
            state.progress.advance(span.len);
            continue;
        }
        let slot = state.pieces.clone().acquire_owned().await;
        let slot = slot.expect("the pieces' semaphore is never closed");
        while let Some(done) = sending.try_join_next() {
            acknowledged(state, file, &mut entry, done, resuming)?;
        }
        let part = Part {
            span,
            hash: own,
            close: false,
        };
        let send = send_part(state.clone(), handle.clone(), id.clone(), part);
        sending.spawn(async move {
            let sent = send.await;
            drop(slot);
            sent
        });
    }
    while let Some(done) = sending.join_next().await {
        acknowledged(state, file, &mut entry, done, resuming)?;
    }
    as_walked(&file.local, &handle.metadata().map_err(ReadError::Io)?)?;
    // Sent even when resuming a run that had sent it: it proves the session still there.
    let closing = closing.expect("the closing piece is hashed last");
    let sent = send_part(state.clone(), handle.clone(), id.clone(), closing).await;
    let (span, _) = settled(sent, resuming)?;
    state.progress.advance(span.len);
    let hash = BlockDigests::content_hash_of(&digests);
    state.cache.learn(&file.local, &hash);
    Ok(ClosedSession {
        session_id: id,
        hash,
        resumed,
    })
}

/// Whether Dropbox still holds the concurrent session `id`, asked with an empty append at
/// `offset`, where no acknowledged piece starts (it would drop one): before a piece's
/// bytes are sent to a session that may be gone.
async fn probe(client: &DropboxClient, id: &str, offset: u64) -> Result<(), FileError> {
    let cursor = UploadSessionCursor {
        session_id: id.to_string(),
        offset,
    };
    match client.append(cursor, Bytes::new(), None, false).await {
        Ok(()) => Ok(()),
        Err(e) if e.route_error().is_some() => {
            tracing::debug!("starting {id} afresh: {e}");
            Err(ReadError::NotResumable.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// A piece to append: where, its own content hash, and whether it closes the session.
struct Part {
    span: Span,
    hash: String,
    close: bool,
}

/// Reads `span` of the file and hashes it, on a blocking thread.
async fn hash_span(
    handle: Arc<std::fs::File>,
    span: Span,
) -> Result<(Span, BlockDigests), ReadError> {
    let read = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; (1 << 20).min(span.len) as usize];
        let mut hasher = ContentHasher::recording();
        let (mut at, end) = (span.offset, span.offset + span.len);
        while at < end {
            let n = buf.len().min((end - at) as usize);
            dropbox_post_files::read_exact_at(&handle, &mut buf[..n], at).map_err(shorter)?;
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        Ok::<_, ReadError>(hasher.into_blocks())
    });
    let digests = (read.await).unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    Ok((span, digests))
}

/// A file that ends before a piece it had when walked.
fn shorter(e: std::io::Error) -> ReadError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => ReadError::Changed("it got shorter".into()),
        _ => ReadError::Io(e),
    }
}

/// Appends `piece` at its offset, the bytes read from `handle`: the span Dropbox now holds.
/// A retry sends the piece again whole, which replaces it.
async fn send_part(
    state: Arc<RunState>,
    handle: Arc<std::fs::File>,
    session_id: String,
    piece: Part,
) -> Result<(Span, String), ApiError> {
    let cursor = UploadSessionCursor {
        session_id,
        offset: piece.span.offset,
    };
    let span = FileSpan {
        file: handle,
        offset: piece.span.offset,
        len: piece.span.len,
    };
    let client = &state.client;
    client
        .append_span(cursor, span, &piece.hash, piece.close)
        .await?;
    Ok((piece.span, piece.hash))
}

/// What a piece's append came to: a session gone or a piece refused for its hash means,
/// for a resumed session, start afresh, and otherwise that the file changed as it was sent;
/// a piece that could not be read from the file, that it got shorter (or the disk failed).
fn settled(
    sent: Result<(Span, String), ApiError>,
    resuming: bool,
) -> Result<(Span, String), FileError> {
    let e = match sent {
        Ok(sent) => return Ok(sent),
        Err(ApiError::Unreadable { source, .. }) => return Err(shorter(source).into()),
        Err(e) => e,
    };
    Err(match e.route_error() {
        Some(RouteError::NotFound) if resuming => ReadError::NotResumable.into(),
        Some(RouteError::ContentHashMismatch) => {
            ReadError::Changed("it changed while being sent".into()).into()
        }
        _ => e.into(),
    })
}

/// Counts an acknowledged piece's bytes as sent and journals it.
fn acknowledged(
    state: &RunState,
    file: &PlannedFile,
    entry: &mut PieceJournal,
    done: Result<Result<(Span, String), ApiError>, tokio::task::JoinError>,
    resuming: bool,
) -> Result<(), FileError> {
    let sent = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let (span, hash) = settled(sent, resuming)?;
    state.progress.advance(span.len);
    let piece = AckedPiece {
        offset: span.offset,
        len: span.len,
        hash,
    };
    entry.acked(state, file, piece);
    Ok(())
}

/// A concurrent upload's journal entry, and how many pieces its last record held. A record
/// rewrites the whole entry, so one per piece would cost the square of their number (a
/// 20 GiB file: ~340 MB of journal); one each time the pieces grow by a 32nd keeps it
/// linear (~9 MB), and a kill loses at most ~3 % of what Dropbox had acknowledged.
struct PieceJournal {
    entry: Option<Saved>,
    recorded: usize,
}

impl PieceJournal {
    fn acked(&mut self, state: &RunState, file: &PlannedFile, piece: AckedPiece) {
        let Some(entry) = &mut self.entry else {
            return;
        };
        let pieces = entry.pieces.get_or_insert_default();
        pieces.push(piece);
        if record_due(pieces.len(), self.recorded) {
            self.recorded = pieces.len();
            state.journal.record(file, entry);
        }
    }
}

/// Whether an entry of `held` pieces, last recorded with `recorded`, is recorded again.
fn record_due(held: usize, recorded: usize) -> bool {
    held - recorded >= (held / 32).max(1)
}

/// One file's upload session on Dropbox, and its journal entry when it is journalled.
struct Session<'a> {
    state: &'a RunState,
    file: &'a PlannedFile,
    id: String,
    entry: Option<Saved>,
}

impl<'a> Session<'a> {
    /// Opens a session with the file's first piece (closing it if that is all there is).
    async fn start(
        state: &'a RunState,
        file: &'a PlannedFile,
        piece: Piece,
        journalled: bool,
    ) -> Result<Session<'a>, ApiError> {
        let end = piece.offset + piece.data.len() as u64;
        let client = &state.client;
        let id = client
            .start_session(piece.data, &piece.own_hash, piece.last)
            .await?;
        let entry = Saved::started(file, &id, end, &piece.hash).filter(|_| journalled);
        if let Some(entry) = &entry {
            state.journal.record(file, entry);
        }
        Ok(Session {
            state,
            file,
            id,
            entry,
        })
    }

    /// The session an earlier run journalled.
    fn continued(state: &'a RunState, file: &'a PlannedFile, entry: Saved) -> Session<'a> {
        Session {
            state,
            file,
            id: entry.session_id.clone(),
            entry: Some(entry),
        }
    }

    /// Appends `piece` (closing the session with the last), journalled first: Dropbox holds
    /// the file up to the piece (whose content hash is `acked_hash`) or, should the answer
    /// be lost, up to its end.
    async fn append(&mut self, piece: Piece, acked_hash: String) -> Result<(), ApiError> {
        let end = piece.offset + piece.data.len() as u64;
        if let Some(entry) = &mut self.entry {
            entry.acked = piece.offset;
            entry.acked_hash = acked_hash;
            entry.sending = Some((end, piece.hash));
            self.state.journal.record(self.file, entry);
        }
        let client = &self.state.client;
        append_resuming(
            client,
            &self.id,
            piece.offset,
            piece.data,
            &piece.own_hash,
            piece.last,
        )
        .await
    }
}

/// Send `data` (with its content hash) at `start`; after a lost answer, Dropbox's
/// `correct_offset` says how much of it arrived, and only the rest is sent again.
pub(super) async fn append_resuming(
    client: &DropboxClient,
    session_id: &str,
    start: u64,
    data: Bytes,
    hash: &str,
    close: bool,
) -> Result<(), ApiError> {
    let end = start + data.len() as u64;
    let mut at = start;
    let mut resumes = 0;
    loop {
        let cursor = UploadSessionCursor {
            session_id: session_id.to_string(),
            offset: at,
        };
        let rest = data.slice((at - start) as usize..);
        // Each call names the hash of its own bytes; only a resent tail needs its own.
        let hash = match at == start {
            true => hash.to_string(),
            false => content_hash(&rest),
        };
        let error = match client.append(cursor, rest, Some(&hash), close).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match error.route_error() {
            Some(RouteError::IncorrectOffset(correct)) if correct == end => return Ok(()),
            Some(RouteError::IncorrectOffset(correct))
                if (start..end).contains(&correct) && resumes < client.pacer().max_attempts() =>
            {
                tracing::debug!("resuming {session_id} at {correct} (sent from {at})");
                resumes += 1;
                at = correct;
            }
            Some(RouteError::Closed) if close => return Ok(()),
            _ => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::test_support::emulated;
    use dropbox_wire::content_hash::BLOCK_SIZE;
    use dropbox_wire::types::{
        CommitInfo, UploadSessionFinishArg, UploadSessionFinishBatchResultEntry,
    };

    /// Every piece up to 32, then once the pieces grow by a 32nd: few records (the bytes
    /// journalled stay linear in the pieces), and a kill loses at most a 32nd of them.
    #[test]
    fn pieces_are_journalled_as_they_grow_by_a_32nd() {
        let (mut recorded, mut records) = (0, 0);
        for held in 1..=10_000 {
            if record_due(held, recorded) {
                (recorded, records) = (held, records + 1);
            }
            assert!(
                held - recorded <= held / 32,
                "{held}: last recorded {recorded}"
            );
            if held == 32 {
                assert_eq!(records, 32);
            }
        }
        // About 32 + ln(10,000 / 32) / ln(1 + 1/32), rounding down each step: 231.
        assert!(records <= 240, "{records}");
    }

    #[test]
    fn files_of_four_chunks_or_more_go_concurrently() {
        let chunk = 2 * BLOCK_SIZE;
        let four = 4 * chunk as u64;
        assert!(!goes_concurrent(four - 1, chunk));
        assert!(goes_concurrent(four, chunk));
    }

    /// Every piece but the closing one a whole number of blocks, all of them tiling the
    /// file, the closing one small.
    #[test]
    fn pieces_tile_the_file_and_close_with_its_tail() {
        let (block, chunk) = (BLOCK_SIZE as u64, 2 * BLOCK_SIZE as u64);
        let span = |offset, len| Span { offset, len };
        assert_eq!(
            pieces(4 * block, chunk),
            [span(0, chunk), span(chunk, block), span(3 * block, block)]
        );
        assert_eq!(
            pieces(4 * block + 1, chunk),
            [span(0, chunk), span(chunk, chunk), span(4 * block, 1)]
        );
        assert_eq!(
            pieces(4 * block - 1, chunk),
            [
                span(0, chunk),
                span(chunk, block),
                span(3 * block, block - 1)
            ]
        );
        for size in [8 * block, 8 * block + 5, 9 * block - 3] {
            let all = pieces(size, 3 * block);
            let (last, body) = all.split_last().unwrap();
            assert!(
                body.iter().all(|p| p.len > 0 && p.len % block == 0),
                "{all:?}"
            );
            assert!(last.len > 0 && last.len <= block, "{all:?}");
            let ends: Vec<u64> = all.windows(2).map(|w| w[0].offset + w[0].len).collect();
            assert_eq!(ends, all[1..].iter().map(|p| p.offset).collect::<Vec<_>>());
            assert_eq!((all[0].offset, last.offset + last.len), (0, size));
        }
    }

    #[tokio::test]
    async fn resuming_sends_only_what_dropbox_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let (_emu, client) = emulated(dir.path()).await;
        let data: Bytes = (0..3 * BLOCK_SIZE).map(|i| (i % 253) as u8).collect();
        let (b1, b2) = (BLOCK_SIZE as u64, 2 * BLOCK_SIZE as u64);
        let (first, second) = (
            data.slice(..BLOCK_SIZE),
            data.slice(BLOCK_SIZE..2 * BLOCK_SIZE),
        );
        let id = client
            .start_session(first.clone(), &content_hash(&first), false)
            .await
            .unwrap();
        let cursor = |offset| UploadSessionCursor {
            session_id: id.clone(),
            offset,
        };
        let hash = content_hash(&second);
        client
            .append(cursor(b1), second, Some(&hash), false)
            .await
            .unwrap();
        // As if the answer to the append above was lost: the chunk from b1 is sent again,
        // Dropbox says it holds b2 bytes, and only the rest goes out.
        // Each call names the hash of what it carries, or Dropbox refuses it.
        let rest = data.slice(BLOCK_SIZE..);
        append_resuming(&client, &id, b1, rest.clone(), &content_hash(&rest), true)
            .await
            .unwrap();
        // A repeat of the closing append is already there.
        let last = data.slice(2 * BLOCK_SIZE..);
        append_resuming(&client, &id, b2, last.clone(), &content_hash(&last), true)
            .await
            .unwrap();
        let mut commit = CommitInfo::new("/resumed.bin", dropbox_wire::types::WriteMode::Add);
        commit.mute = true;
        let results = client
            .finish_batch(vec![UploadSessionFinishArg {
                cursor: cursor(data.len() as u64),
                commit,
                content_hash: None,
            }])
            .await
            .unwrap();
        match &results[0] {
            UploadSessionFinishBatchResultEntry::Success(meta) => assert_eq!(
                meta.content_hash.as_deref(),
                Some(content_hash(&data).as_str())
            ),
            other => panic!("{other:?}"),
        }
        // A gap (Dropbox holds less than the chunk's start) cannot be filled from memory.
        let gap = client
            .start_session(Bytes::from_static(b"ab"), &content_hash(b"ab"), false)
            .await
            .unwrap();
        let xyz = Bytes::from_static(b"xyz");
        let err = append_resuming(&client, &gap, 5, xyz, &content_hash(b"xyz"), false)
            .await
            .unwrap_err();
        assert_eq!(err.route_error(), Some(RouteError::IncorrectOffset(2)));
    }
}
