//! An upload session of one file: started with its first chunk, appended to chunk by chunk
//! (the last append closes it), journalled as it goes when the file takes several requests,
//! and continued from the journal where Dropbox's bytes end once those are proved the
//! file's own. Committing the closed session is the batcher's (`commit`).

use std::sync::Arc;

use bytes::Bytes;

use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;
use crate::dropbox::route_error::RouteError;
use dropbox_wire::content_hash::content_hash;
use dropbox_wire::types::UploadSessionCursor;

use super::plan::PlannedFile;
use super::reader::{Piece, ReadError, read_chunks};
use super::resume::Saved;
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
