//! Sending a plan: many files in flight, every file through an upload session, all
//! commits through one batcher (`batcher`, `commit`: `finish_batch_v2`), every commit
//! verified by hash.
//!
//! - A file is read, hashed and sent in one pass (`reader`), in chunks (multiples of
//!   4 MiB), through an upload session (`session`). Files of one chunk go many to a
//!   request (`appender`: `start_batch` + `append_batch`, each closing its session); a
//!   larger one is `start` + `append_v2`s, the last with `close=true`: one after the
//!   other, or, for a file of 4 chunks or more, in parallel through a concurrent session
//!   (any order, the closing one last). Buffers are taken from a fixed byte budget and
//!   recycled (`buffers`), so memory stays flat whatever the file sizes and `--jobs`.
//! - A file Dropbox may already hold (same size) is first proved unchanged by content hash
//!   (`hash_check`); only what differs is read again and sent.
//! - A file is checked against its walk-time size and mtime before reading and after the
//!   last byte; if it changed, its last chunk is never sent and nothing is committed.
//! - A file of more than one chunk is journalled as it goes (`resume`); a later run
//!   continues its session where Dropbox's bytes end, once they are proved to be the
//!   file's own, and reads the part already sent only to hash it.
//! - Every request carrying file bytes names their own content hash (Dropbox checks it);
//!   a commit carries none, and its result's hash is checked against the file's as read.
//!   A commit found holding other bytes is rolled back to what it replaced
//!   (`files/restore` of that rev, or `delete_v2` of the bad rev when the listing showed no
//!   file), never over a version someone else wrote since.
//! - Retried commits never duplicate a file: `autorename` is off, and a commit that fails
//!   because its session was already consumed or the path is taken counts as done when
//!   Dropbox holds exactly our content.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;

use super::appender::{self, Appender, Small};
use super::batcher::{self, Policy};
use super::commit::{Committer, Staged};
use super::hash_cache::HashCache;
use super::hash_check;
use super::plan::{Plan, PlannedFile, PlannedFolder};
use super::reader::{Piece, ReadError, read_chunks};
use super::report::{Entry, Outcome, Progress, reason};
use super::resume::UploadJournal;
use super::session::{self, ClosedSession};
use super::state::{FileError, RunState};

pub use super::settings::{BUFFER_BUDGET, ChunkSize, DEFAULT_TRANSFERS, Settings};

/// Send one job's plan. Per-file failures are recorded in `progress`; the error is the
/// one that stopped the run early (bad credential, no space left), if any.
pub async fn run(
    client: Arc<DropboxClient>,
    plan: Plan,
    settings: Settings,
    progress: Arc<Progress>,
    cache: Arc<HashCache>,
    resume: Arc<UploadJournal>,
) -> Result<(), ApiError> {
    let settings = settings.normalized();
    let state = Arc::new(RunState::new(
        client,
        cache.clone(),
        resume,
        settings,
        progress,
    ));
    for warning in &plan.warnings {
        state.progress.say(&format!("warning: {warning}"));
    }
    for p in &plan.problems {
        let remote = (p.rel.as_deref())
            .map_or_else(String::new, |rel| super::plan::remote_path(&plan.dest, rel));
        let failed = Outcome::Failed(p.reason.clone());
        state
            .progress
            .record(Entry::new(p.path.clone(), remote, 0, failed));
    }
    for x in &plan.excluded {
        let remote = super::plan::remote_path(&plan.dest, &x.rel);
        let excluded = Outcome::Excluded(x.rule.clone());
        state
            .progress
            .record(Entry::new(x.path.clone(), remote, 0, excluded));
    }
    create_folders(&state, &plan.folders).await;

    // Files new to Dropbox go first; those it may already hold are hashed meanwhile.
    let (known, fresh): (Vec<_>, Vec<_>) =
        (plan.files.into_iter()).partition(|f| f.unchanged_if.is_some());
    let (stop, skip) = (state.clone(), state.clone());
    let differing = hash_check::differing(
        known,
        cache,
        state.settings.checkers,
        move || stop.stopped(),
        move |file| {
            skip.progress.advance(file.local.size);
            skip.record(&file, Outcome::Skipped);
        },
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let policy = Policy {
        max_items: state.settings.batch_max,
        max_weight: u64::MAX,
        idle: state.settings.batch_idle,
        max_wait: state.settings.batch_max_wait,
    };
    let committer = Committer(state.clone());
    let batcher = tokio::spawn(async move { batcher::run(&committer, &policy, rx).await });
    let (small_tx, small_rx) = mpsc::unbounded_channel();
    let appender = Appender::new(state.clone(), tx.clone());
    let append_policy = appender::policy(&state);
    let appends = tokio::spawn(async move {
        batcher::run(&appender, &append_policy, small_rx).await;
        appender.finish().await;
    });
    futures_util::stream::iter(fresh)
        .chain(differing)
        .for_each_concurrent(state.settings.transfers, |file| {
            let state = state.clone();
            let (tx, small_tx) = (tx.clone(), small_tx.clone());
            async move {
                // The batchers outlive every sender: a send cannot fail.
                match send_file(&state, &file).await {
                    Ok(Sent::Done(outcome)) => {
                        state.progress.advance(file.local.size);
                        state.record(&file, outcome);
                    }
                    Ok(Sent::Closed(closed)) => {
                        let _ = tx.send(Staged::new(file, closed));
                    }
                    Ok(Sent::Small(piece)) => {
                        let _ = small_tx.send(Small { file, piece });
                    }
                    Err(e) => state.fail(&file, e),
                }
            }
        })
        .await;
    drop((small_tx, tx));
    for task in [appends, batcher] {
        if let Err(e) = task.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    state.take_fatal().map_or(Ok(()), Err)
}

async fn create_folders(state: &RunState, folders: &[PlannedFolder]) {
    for folder in folders {
        let entry = |outcome| Entry::new(folder.local.clone(), folder.remote.clone(), 0, outcome);
        if state.settings.dry_run {
            state.progress.record(entry(Outcome::WouldCreateFolder));
            continue;
        }
        match state.client.create_folder(&folder.remote).await {
            Ok(()) => state.progress.record(entry(Outcome::FolderCreated)),
            Err(e) => {
                state.progress.record(entry(Outcome::Failed(reason(&e))));
                if e.is_fatal() {
                    state.stop(e);
                    return;
                }
            }
        }
    }
}

enum Sent {
    /// Nothing more to do: unchanged, or (dry run) would be sent.
    Done(Outcome),
    /// Bytes are in a closed session; the batcher commits it.
    Closed(ClosedSession),
    /// The whole file, read: it goes with other small files (`appender`).
    Small(Piece),
}

async fn send_file(state: &Arc<RunState>, file: &PlannedFile) -> Result<Sent, FileError> {
    if state.stopped() {
        return Err(FileError::Stopped);
    }
    if state.settings.dry_run {
        return Ok(Sent::Done(Outcome::WouldUpload));
    }
    if let Some(closed) = resume(state, file).await? {
        return Ok(Sent::Closed(closed));
    }
    let chunk = state.settings.chunk_size.bytes();
    if file.local.size <= chunk as u64 {
        return read_whole(state, file).await.map(Sent::Small);
    }
    let sent = match session::goes_concurrent(file.local.size, chunk) {
        true => session::upload_concurrent(state, file, None).await,
        false => session::upload(state, file, None).await,
    };
    sent.map(Sent::Closed)
}

/// Continues the upload of `file` an earlier run journalled, if there is one it can
/// continue: `None` means send it afresh.
async fn resume(
    state: &Arc<RunState>,
    file: &PlannedFile,
) -> Result<Option<ClosedSession>, FileError> {
    let Some(saved) = state.journal.find(file) else {
        return Ok(None);
    };
    let sent = match saved.pieces.is_some() {
        true => session::upload_concurrent(state, file, Some(saved)).await,
        false => match session::resume_point(&state.client, saved).await? {
            Some(start) => session::upload(state, file, Some(start)).await,
            None => return Ok(None),
        },
    };
    match sent {
        Err(FileError::Read(ReadError::NotResumable)) => {
            tracing::debug!("{}: changed since its upload began", file.local.rel);
            Ok(None)
        }
        sent => sent.map(Some),
    }
}

/// A file of one chunk, read (and checked as walked) into one piece.
async fn read_whole(state: &RunState, file: &PlannedFile) -> Result<Piece, FileError> {
    let chunk = state.settings.chunk_size.bytes();
    let mut pieces = read_chunks(file.local.clone(), chunk, state.budget.clone(), None);
    match pieces.recv().await {
        Some(Ok(piece)) if piece.last => Ok(piece),
        Some(Err(e)) => Err(e.into()),
        // Longer than the walk saw: the reader would have refused its last piece.
        Some(Ok(_)) | None => Err(ReadError::Changed("it grew".into()).into()),
    }
}
