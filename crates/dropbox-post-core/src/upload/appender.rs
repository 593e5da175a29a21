//! Small files, many to a request: a file that is one piece waits in a batch (at most
//! 500 files, its bytes bounded); the batch opens its sessions in one call
//! (`upload_session/start_batch`) and sends every file's bytes, each closing its session,
//! in one body (`append_batch`, which names the body's content hash); each file whose entry
//! succeeded goes on to the commit batcher. So 1,000 small files take a few requests, not
//! 1,000 and a commit.
//!
//! Several bodies are in flight at once, each holding its files' buffers (drawn from the
//! engine's byte budget) until it is answered. An entry that failed is sent again on its own, as is every file of
//! a call that failed; a server that refuses the routes (400: an older server, or one that
//! does not serve them) gets every later file that way too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::dropbox::error::ApiError;
use crate::dropbox::route_error::RouteError;
use dropbox_wire::types::{SessionType, UploadSessionAppendBatchResultEntry, UploadSessionCursor};

use super::batcher::{Commit, Policy};
use super::commit::Staged;
use super::plan::PlannedFile;
use super::reader::Piece;
use super::session::{ClosedSession, append_resuming};
use super::settings::APPEND_BODIES_IN_FLIGHT;
use super::state::{FileError, RunState};

/// A file read whole into one piece, waiting for its batch.
pub(super) struct Small {
    pub file: PlannedFile,
    pub piece: Piece,
}

/// Sends batches of small files for one run; what it closed goes to `staged`.
pub(super) struct Appender {
    state: Arc<RunState>,
    staged: mpsc::UnboundedSender<Staged>,
    in_flight: Arc<Semaphore>,
    bodies: Mutex<JoinSet<()>>,
    /// The server has refused the batch routes: every later file goes alone.
    refused: Arc<AtomicBool>,
}

/// How the appender batches: as many files as an `append_batch` takes (and a commit), a body at most half the byte
/// budget (so that the next one can fill while it is sent), and the commit batcher's timers.
pub(super) fn policy(state: &RunState) -> Policy {
    let settings = &state.settings;
    Policy {
        max_items: settings
            .batch_max
            .min(dropbox_wire::limits::MAX_APPEND_BATCH),
        max_weight: (settings.buffer_budget / 2).min(dropbox_wire::limits::MAX_REQUEST_BYTES)
            as u64,
        idle: settings.batch_idle,
        max_wait: settings.batch_max_wait,
    }
}

impl Appender {
    pub fn new(state: Arc<RunState>, staged: mpsc::UnboundedSender<Staged>) -> Appender {
        Appender {
            state,
            staged,
            in_flight: Arc::new(Semaphore::new(APPEND_BODIES_IN_FLIGHT)),
            bodies: Mutex::new(JoinSet::new()),
            refused: Arc::default(),
        }
    }

    /// Waits for the bodies still in flight (once the batcher has handed over the last).
    pub async fn finish(self) {
        let mut bodies = std::mem::take(&mut *self.bodies.lock().expect("bodies lock poisoned"));
        while let Some(done) = bodies.join_next().await {
            if let Err(e) = done {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

impl Commit for Appender {
    type Item = Small;

    fn weight(&self, small: &Small) -> u64 {
        small.piece.data.len() as u64
    }

    /// Hands the batch to a body of its own once one of the bodies in flight is answered:
    /// nothing comes back to the batcher, failures are sent again here.
    async fn commit(&self, batch: Vec<Small>) -> Vec<Small> {
        let permit =
            (self.in_flight.clone().acquire_owned().await).expect("the semaphore is never closed");
        let body = Body {
            state: self.state.clone(),
            staged: self.staged.clone(),
            refused: self.refused.clone(),
        };
        let mut bodies = self.bodies.lock().expect("bodies lock poisoned");
        while bodies.try_join_next().is_some() {}
        bodies.spawn(async move {
            body.send(batch).await;
            drop(permit);
        });
        Vec::new()
    }
}

/// What one body needs.
struct Body {
    state: Arc<RunState>,
    staged: mpsc::UnboundedSender<Staged>,
    refused: Arc<AtomicBool>,
}

impl Body {
    async fn send(&self, batch: Vec<Small>) {
        let state = &self.state;
        if state.stopped() {
            batch
                .iter()
                .for_each(|s| state.fail(&s.file, FileError::Stopped));
            return;
        }
        let mut alone = Vec::new();
        match self.together_if_served(&batch).await {
            Some(Ok(results)) => {
                for (small, result) in batch.into_iter().zip(results) {
                    match result {
                        Ok(session_id) => self.closed(small, session_id),
                        Err(again) => alone.push((small, again)),
                    }
                }
            }
            Some(Err(e)) if e.is_fatal() => {
                state.fail_all(batch.iter().map(|s| &s.file), e);
                return;
            }
            Some(Err(e)) => {
                tracing::debug!("a batch upload failed ({e}); sending its files one by one");
                alone = batch.into_iter().map(|s| (s, None)).collect();
            }
            None => alone = batch.into_iter().map(|s| (s, None)).collect(),
        }
        futures_util::stream::iter(alone)
            .for_each_concurrent(state.settings.transfers, |(small, session)| async move {
                match self.alone(&small, session).await {
                    Ok(session_id) => self.closed(small, session_id),
                    Err(e) => state.fail(&small.file, e),
                }
            })
            .await;
    }

    /// [`Body::together`], unless the server is known not to serve the batch routes (`None`).
    /// Bodies do not wait for the first answer: against Dropbox, which serves the routes,
    /// that would cost a round trip per body; a server that does not wastes at most the
    /// bodies then in flight.
    async fn together_if_served(
        &self,
        batch: &[Small],
    ) -> Option<Result<Vec<Result<String, Option<String>>>, ApiError>> {
        if self.refused.load(Ordering::Relaxed) {
            return None;
        }
        let answer = self.together(batch).await;
        if let Err(Some(said)) = answer.as_ref().map_err(ApiError::request_refusal) {
            if !self.refused.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    "this Dropbox does not serve batch uploads (it answered: {said}); each small file goes in a request of its own from now on"
                );
            }
            return None;
        }
        Some(answer)
    }

    /// One `start_batch` and one `append_batch` for the whole batch: per file, its closed
    /// session, or the session to continue alone (`None`: start afresh).
    async fn together(
        &self,
        batch: &[Small],
    ) -> Result<Vec<Result<String, Option<String>>>, ApiError> {
        let client = &self.state.client;
        let ids = client
            .start_batch(batch.len(), SessionType::Sequential)
            .await?;
        let entries = ids
            .iter()
            .map(|id| {
                let cursor = UploadSessionCursor {
                    session_id: id.clone(),
                    offset: 0,
                };
                (cursor, true)
            })
            .collect();
        let parts = batch.iter().map(|s| s.piece.data.clone()).collect();
        let results = client.append_batch(entries, parts).await?;
        Ok((ids.into_iter().zip(results).zip(batch))
            .map(|((id, result), small)| match result {
                UploadSessionAppendBatchResultEntry::Success => Ok(id),
                UploadSessionAppendBatchResultEntry::Failure { failure } => {
                    tracing::debug!("an append_batch entry failed: {failure}");
                    match RouteError::of_append_entry(&failure) {
                        // An earlier attempt of this call got it through: its bytes and
                        // its close came in one entry, and the commit checks the hash.
                        RouteError::Closed => Ok(id),
                        RouteError::IncorrectOffset(at) if at == small.piece.data.len() as u64 => {
                            Ok(id)
                        }
                        RouteError::IncorrectOffset(_) => Err(Some(id)),
                        _ => Err(None),
                    }
                }
            })
            .collect())
    }

    /// A file on its own: continuing its batch session, or in a session of its own.
    async fn alone(&self, small: &Small, session: Option<String>) -> Result<String, FileError> {
        if self.state.stopped() {
            return Err(FileError::Stopped);
        }
        let (client, piece) = (&self.state.client, &small.piece);
        let data = piece.data.clone();
        match session {
            Some(id) => append_resuming(client, &id, 0, data, &piece.own_hash, true)
                .await
                .map(|()| id),
            None => client.start_session(data, &piece.own_hash, true).await,
        }
        .map_err(FileError::Api)
    }

    /// `small`'s bytes are all in its closed session: on to the commit.
    fn closed(&self, small: Small, session_id: String) {
        let Small { file, piece } = small;
        self.state.progress.advance(piece.data.len() as u64);
        self.state.cache.learn(&file.local, &piece.hash);
        let closed = ClosedSession {
            session_id,
            hash: piece.hash,
            resumed: 0,
        };
        // The commit batcher outlives every body; a send cannot fail.
        let _ = self.staged.send(Staged::new(file, closed));
    }
}
