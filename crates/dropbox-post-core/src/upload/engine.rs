//! Sending a plan: many files in flight, every file through an upload session, all
//! commits through one batcher (`finish_batch_v2`), every commit verified by hash.
//!
//! - A file is read, hashed and sent in one pass, in chunks (multiples of 4 MiB). A file
//!   of one chunk is a single `start(close=true)`; a larger one is `start` + `append_v2`s,
//!   the last with `close=true`. Buffers are taken from a fixed byte budget and recycled
//!   (`buffers`), so memory stays flat whatever the file sizes and `--jobs`.
//! - A file Dropbox may already hold (same size) is first proved unchanged by content hash
//!   (`unchanged`); only what differs is read again and sent.
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

use std::fs::File;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::dropbox::client::DropboxClient;
use crate::dropbox::content_hash::{BLOCK_SIZE, ContentHasher};
use crate::dropbox::error::{ApiError, Reason, entry_failure, reason_of};
use crate::dropbox::limits::{MAX_BATCH, MAX_REQUEST_BYTES};
use crate::dropbox::types::{
    CommitInfo, FileMetadata, Metadata, UploadSessionCursor, UploadSessionFinishArg,
    UploadSessionFinishBatchResultEntry,
};

use super::buffers::Budget;
use super::hash_cache::HashCache;
use super::plan::{Plan, PlannedFile, PlannedFolder};
use super::report::{Entry, Outcome, Progress, STOPPED, reason};
use super::resume::{Resume, Saved};
use super::unchanged;
use super::walk::LocalFile;

const FINISH_BATCH: &str = "files/upload_session/finish_batch_v2";
/// Files in flight unless told otherwise: uploads only stage data and commits are batched,
/// so many small files gain from more (rclone recommends 32–64 with batched commits).
pub const DEFAULT_JOBS: u16 = 16;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Files in flight at once.
    pub jobs: usize,
    /// Bytes per request of a chunked upload; a multiple of 4 MiB, at most 148 MiB.
    pub chunk_size: usize,
    /// Bytes of file data held in memory at once, across all files.
    pub buffer_budget: usize,
    pub batch_max: usize,
    /// Commit once no new file has finished sending for this long...
    pub batch_idle: Duration,
    /// ...or once the oldest waiting file has waited this long.
    pub batch_max_wait: Duration,
    /// Threads proving files unchanged by hash.
    pub checkers: usize,
    /// Read-only: list and hash, report what would happen, write nothing.
    pub dry_run: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            jobs: usize::from(DEFAULT_JOBS),
            chunk_size: 2 * BLOCK_SIZE,
            buffer_budget: 48 * 1024 * 1024,
            batch_max: MAX_BATCH,
            batch_idle: Duration::from_millis(200),
            batch_max_wait: Duration::from_secs(5),
            checkers: unchanged::default_checkers(),
            dry_run: false,
        }
    }
}

impl Settings {
    /// Round `chunk_size` to whole 4 MiB blocks within Dropbox's request limit, and make
    /// the budget hold at least one chunk.
    pub fn normalized(mut self) -> Self {
        let max = MAX_REQUEST_BYTES / BLOCK_SIZE * BLOCK_SIZE;
        self.chunk_size = (self.chunk_size / BLOCK_SIZE * BLOCK_SIZE).clamp(BLOCK_SIZE, max);
        self.buffer_budget = self.buffer_budget.max(self.chunk_size);
        self.jobs = self.jobs.max(1);
        self.checkers = self.checkers.max(1);
        self.batch_max = self.batch_max.clamp(1, MAX_BATCH);
        self
    }
}

/// Why one file was not sent.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error("changed while being read ({0}); post again once it is stable")]
    Changed(String),
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot read: {0}")]
    Open(#[from] crate::files::ReadError),
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("not sent: {STOPPED}")]
    Stopped,
    /// The file's prefix does not hash as journalled: its session cannot be continued.
    #[error("the part already on Dropbox is not this file's")]
    NotResumable,
}

/// A file whose bytes Dropbox holds in a closed session, waiting to be committed.
struct Pending {
    file: PlannedFile,
    hash: String,
    /// Bytes an earlier run had sent.
    resumed: u64,
    arg: UploadSessionFinishArg,
    tries: u32,
}

struct Ctx {
    client: Arc<DropboxClient>,
    cache: Arc<HashCache>,
    resume: Arc<Resume>,
    settings: Settings,
    progress: Arc<Progress>,
    budget: Arc<Budget>,
    /// The first error that makes further work pointless; set once, stops the run.
    fatal: Mutex<Option<ApiError>>,
}

impl Ctx {
    fn stopped(&self) -> bool {
        self.fatal.lock().expect("fatal lock poisoned").is_some()
    }

    fn stop(&self, error: ApiError) {
        let mut fatal = self.fatal.lock().expect("fatal lock poisoned");
        if fatal.is_none() {
            *fatal = Some(error);
        }
    }

    fn record(&self, file: &PlannedFile, outcome: Outcome) {
        self.record_resumed(file, outcome, 0);
    }

    /// `resumed`: bytes of the file an earlier run had sent.
    fn record_resumed(&self, file: &PlannedFile, outcome: Outcome, resumed: u64) {
        if matches!(outcome, Outcome::Uploaded | Outcome::Skipped) {
            self.resume.forget(file);
        }
        self.progress.record(Entry {
            path: file.local.path.clone(),
            remote: file.remote.clone(),
            bytes: file.local.size,
            resumed,
            outcome,
        });
    }

    fn fail(&self, file: &PlannedFile, error: FileError) {
        if let FileError::Api(e) = &error
            && e.is_fatal()
        {
            self.record(file, Outcome::Failed(reason(e)));
            // Keep the typed error for the exit code and the last line.
            if let FileError::Api(e) = error {
                self.stop(e);
            }
            return;
        }
        self.record(file, Outcome::Failed(error.to_string()));
    }
}

/// Send one job's plan. Per-file failures are recorded in `progress`; the error is the
/// one that stopped the run early (bad credential, no space left), if any.
pub async fn run(
    client: Arc<DropboxClient>,
    plan: Plan,
    settings: Settings,
    progress: Arc<Progress>,
    cache: Arc<HashCache>,
    resume: Arc<Resume>,
) -> Result<(), ApiError> {
    let settings = settings.normalized();
    let ctx = Arc::new(Ctx {
        client,
        cache: cache.clone(),
        resume,
        budget: Budget::new(settings.buffer_budget),
        settings,
        progress,
        fatal: Mutex::new(None),
    });
    for warning in &plan.warnings {
        ctx.progress.say(&format!("warning: {warning}"));
    }
    for p in &plan.problems {
        ctx.progress.record(Entry {
            path: p.path.clone(),
            remote: (p.rel.as_deref())
                .map_or_else(String::new, |rel| super::plan::remote_path(&plan.dest, rel)),
            bytes: 0,
            resumed: 0,
            outcome: Outcome::Failed(p.reason.clone()),
        });
    }
    for x in &plan.excluded {
        ctx.progress.record(Entry {
            path: x.path.clone(),
            remote: super::plan::remote_path(&plan.dest, &x.rel),
            bytes: 0,
            resumed: 0,
            outcome: Outcome::Excluded(x.rule.clone()),
        });
    }
    create_folders(&ctx, &plan.folders).await;

    // Files new to Dropbox go first; those it may already hold are hashed meanwhile.
    let (known, fresh): (Vec<_>, Vec<_>) =
        (plan.files.into_iter()).partition(|f| f.unchanged_if.is_some());
    let (stop, skip) = (ctx.clone(), ctx.clone());
    let changed = unchanged::changed(
        known,
        cache,
        ctx.settings.checkers,
        move || stop.stopped(),
        move |file| {
            skip.progress.advance(file.local.size);
            skip.record(&file, Outcome::Skipped);
        },
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let batcher = tokio::spawn(batcher(ctx.clone(), rx));
    futures_util::stream::iter(fresh)
        .chain(changed)
        .for_each_concurrent(ctx.settings.jobs, |file| {
            let ctx = ctx.clone();
            let tx = tx.clone();
            async move {
                match send_file(&ctx, &file).await {
                    Ok(Sent::Done(outcome)) => {
                        ctx.progress.advance(file.local.size);
                        ctx.record(&file, outcome);
                    }
                    Ok(Sent::Pending {
                        session_id,
                        hash,
                        resumed,
                    }) => {
                        let arg = finish_arg(&file, session_id);
                        // The batcher outlives every sender; a send cannot fail.
                        let _ = tx.send(Pending {
                            file,
                            hash,
                            resumed,
                            arg,
                            tries: 0,
                        });
                    }
                    Err(e) => ctx.fail(&file, e),
                }
            }
        })
        .await;
    drop(tx);
    if let Err(e) = batcher.await {
        std::panic::resume_unwind(e.into_panic());
    }
    let fatal = ctx.fatal.lock().expect("fatal lock poisoned").take();
    fatal.map_or(Ok(()), Err)
}

async fn create_folders(ctx: &Ctx, folders: &[PlannedFolder]) {
    for folder in folders {
        let entry = |outcome| Entry {
            path: folder.local.clone(),
            remote: folder.remote.clone(),
            bytes: 0,
            resumed: 0,
            outcome,
        };
        if ctx.settings.dry_run {
            ctx.progress.record(entry(Outcome::WouldCreateFolder));
            continue;
        }
        match ctx.client.create_folder(&folder.remote).await {
            Ok(()) => ctx.progress.record(entry(Outcome::FolderCreated)),
            Err(e) => {
                ctx.progress.record(entry(Outcome::Failed(reason(&e))));
                if e.is_fatal() {
                    ctx.stop(e);
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
    Pending {
        session_id: String,
        hash: String,
        /// Bytes an earlier run had sent.
        resumed: u64,
    },
}

/// Where an upload continues: the session journalled by an earlier run, the offset Dropbox
/// holds, and the content hash the file's first `offset` bytes must have.
struct Start {
    saved: Saved,
    offset: u64,
    hash: String,
}

async fn send_file(ctx: &Arc<Ctx>, file: &PlannedFile) -> Result<Sent, FileError> {
    if ctx.stopped() {
        return Err(FileError::Stopped);
    }
    if ctx.settings.dry_run {
        return Ok(Sent::Done(Outcome::WouldUpload));
    }
    if let Some(saved) = ctx.resume.find(file)
        && let Some(start) = resume_point(&ctx.client, saved).await?
    {
        match upload(ctx, file, Some(start)).await {
            Err(FileError::NotResumable) => {
                tracing::debug!("{}: changed since its upload began", file.local.rel);
            }
            sent => return sent,
        }
    }
    upload(ctx, file, None).await
}

/// Where Dropbox's copy of a journalled session ends, if it is one we can prove; `None`
/// when the session must be started afresh (expired, unknown, or holding other bytes).
/// Asked with an empty append at the acknowledged offset: Dropbox answers it, or names the
/// offset it holds.
async fn resume_point(client: &DropboxClient, saved: Saved) -> Result<Option<Start>, ApiError> {
    let cursor = UploadSessionCursor {
        session_id: saved.session_id.clone(),
        offset: saved.acked,
    };
    let held = match client.append(cursor, Bytes::new(), None, false).await {
        Ok(()) => Some((saved.acked, saved.acked_hash.clone())),
        Err(e) => match e.reason() {
            // The append in flight when the last run ended did arrive.
            Some(Reason::IncorrectOffset(at)) => {
                saved.sending.clone().filter(|(end, _)| *end == at)
            }
            // ...and it was the closing one.
            Some(Reason::Closed) => saved.sending.clone().filter(|(end, _)| *end == saved.size),
            Some(_) => None,
            None if matches!(e, ApiError::BadInput { .. } | ApiError::Decode { .. }) => None,
            None => return Err(e),
        },
    };
    if held.is_none() {
        tracing::debug!("starting {} afresh", saved.session_id);
    }
    Ok(held.map(|(offset, hash)| Start {
        saved,
        offset,
        hash,
    }))
}

/// Send `file` through a new upload session, or from `start` on in a journalled one.
async fn upload(
    ctx: &Arc<Ctx>,
    file: &PlannedFile,
    start: Option<Start>,
) -> Result<Sent, FileError> {
    let resumed = start.as_ref().map_or(0, |s| s.offset);
    let from = start.as_ref().map(|s| (s.offset, s.hash.clone()));
    let mut chunks = read_chunks(ctx, file.local.clone(), from);
    // Only a file of several requests is worth journalling.
    let journalled = ctx.resume.enabled() && file.local.size > ctx.settings.chunk_size as u64;
    let (mut saved, mut offset, mut acked_hash) = match start {
        Some(s) => (Some(s.saved), s.offset, s.hash),
        None => (None, 0, String::new()),
    };
    let mut session = saved.as_ref().map(|s| s.session_id.clone());
    // Counted once the reader has proved those bytes the file's own.
    let mut already_there = resumed;
    while let Some(piece) = chunks.recv().await {
        let Piece {
            data,
            hash,
            own_hash,
            last,
        } = piece?;
        if ctx.stopped() {
            return Err(FileError::Stopped);
        }
        ctx.progress.advance(std::mem::take(&mut already_there));
        let len = data.len() as u64;
        let end = offset + len;
        match &session {
            None => {
                let id = ctx.client.start_session(data, &own_hash, last).await?;
                saved = Saved::started(file, &id, end, &hash).filter(|_| journalled);
                if let Some(s) = &saved {
                    ctx.resume.record(file, s);
                }
                session = Some(id);
            }
            Some(id) => {
                if let Some(s) = &mut saved {
                    s.acked = offset;
                    s.acked_hash = acked_hash;
                    s.sending = Some((end, hash.clone()));
                    ctx.resume.record(file, s);
                }
                append_resuming(&ctx.client, id, offset, data, &own_hash, last).await?;
            }
        }
        offset = end;
        ctx.progress.advance(len);
        acked_hash = hash;
        if last {
            ctx.cache.learn(&file.local, &acked_hash);
            let session_id = session.expect("a session was started for the first chunk");
            return Ok(Sent::Pending {
                session_id,
                hash: acked_hash,
                resumed,
            });
        }
    }
    Err(FileError::Io(std::io::Error::other(
        "the reader stopped before the end of the file",
    )))
}

/// Send `data` (with its content hash) at `start`; after a lost answer, Dropbox's
/// `correct_offset` says how much of it arrived, and only the rest is sent again.
async fn append_resuming(
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
            false => crate::dropbox::content_hash::content_hash(&rest),
        };
        let error = match client.append(cursor, rest, Some(&hash), close).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match error.reason() {
            Some(Reason::IncorrectOffset(correct)) if correct == end => return Ok(()),
            Some(Reason::IncorrectOffset(correct))
                if (start..end).contains(&correct) && resumes < client.pacer().max_attempts() =>
            {
                tracing::debug!("resuming {session_id} at {correct} (sent from {at})");
                resumes += 1;
                at = correct;
            }
            Some(Reason::Closed) if close => return Ok(()),
            _ => return Err(error),
        }
    }
}

fn finish_arg(file: &PlannedFile, session_id: String) -> UploadSessionFinishArg {
    let mut commit = CommitInfo::new(file.remote.clone(), file.mode.clone());
    commit.client_modified = Some(client_modified(file.local.modified));
    UploadSessionFinishArg {
        cursor: UploadSessionCursor {
            session_id,
            offset: file.local.size,
        },
        commit,
        // A batch commit carries no bytes, so no hash: the file's is checked afterwards.
        content_hash: None,
    }
}

/// Dropbox wants UTC, whole seconds.
fn client_modified(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// One chunk of a file, with the content hash of the file up to its end (for the last
/// chunk, the whole file's) and its own, which the request carrying it names.
struct Piece {
    /// Holds its share of the budget until the request that carries it is done.
    data: Bytes,
    hash: String,
    own_hash: String,
    last: bool,
}

/// Read a file in chunks on a blocking thread, one chunk ahead of the sender; from
/// `from` = (offset, content hash of the bytes before it) when continuing an upload.
fn read_chunks(
    ctx: &Ctx,
    file: LocalFile,
    from: Option<(u64, String)>,
) -> mpsc::Receiver<Result<Piece, FileError>> {
    let (tx, rx) = mpsc::channel(1);
    let budget = ctx.budget.clone();
    let chunk = ctx.settings.chunk_size;
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
/// stop). Before
/// the last chunk is handed over, the file must still be exactly as the walk saw it; an
/// empty file yields one empty chunk so that it, too, is uploaded. With `from`, the bytes
/// before its offset are only hashed, and must hash as it says; chunks then end on the
/// same boundaries as if the file had been read from the start.
fn read_into(
    file: &LocalFile,
    chunk: usize,
    budget: &Arc<Budget>,
    from: Option<&(u64, String)>,
    mut sink: impl FnMut(Piece) -> bool,
) -> Result<(), FileError> {
    let mut handle = crate::files::open_regular(&file.path)?;
    unchanged(file, &handle.metadata()?)?;
    let mut hasher = ContentHasher::new();
    let mut offset = 0;
    if let Some((start, expected)) = from {
        hash_prefix(&mut handle, &mut hasher, *start)?;
        if hasher.clone().finish() != *expected {
            return Err(FileError::NotResumable);
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
            return Err(FileError::Changed("it got shorter".into()));
        }
        let mut own = ContentHasher::new();
        hasher.update_with(&mut own, buf.data());
        let own_hash = own.finish();
        remaining -= len as u64;
        let last = remaining == 0;
        let hash = if last {
            if handle.read(&mut [0u8; 1])? != 0 {
                return Err(FileError::Changed("it grew".into()));
            }
            unchanged(file, &handle.metadata()?)?;
            std::mem::take(&mut hasher).finish()
        } else {
            hasher.clone().finish()
        };
        let piece = Piece {
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
fn hash_prefix(handle: &mut File, hasher: &mut ContentHasher, len: u64) -> Result<(), FileError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = handle.read(&mut buf[..left.min(1 << 20) as usize])?;
        if n == 0 {
            return Err(FileError::Changed("it got shorter".into()));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

fn unchanged(file: &LocalFile, now: &std::fs::Metadata) -> Result<(), FileError> {
    file.change_since_walk(now)
        .map_or(Ok(()), |change| Err(FileError::Changed(change)))
}

/// The one owner of commits: gathers closed sessions and commits them together, so
/// many files take Dropbox's namespace write lock once per batch instead of once each.
async fn batcher(ctx: Arc<Ctx>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut oldest = Instant::now();
    loop {
        let next = if pending.is_empty() {
            rx.recv().await
        } else {
            let deadline = (Instant::now() + ctx.settings.batch_idle)
                .min(oldest + ctx.settings.batch_max_wait);
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    pending = commit(&ctx, pending).await;
                    oldest = Instant::now();
                    continue;
                }
            }
        };
        match next {
            Some(p) => {
                if pending.is_empty() {
                    oldest = Instant::now();
                }
                pending.push(p);
                if pending.len() >= ctx.settings.batch_max {
                    pending = commit(&ctx, pending).await;
                    oldest = Instant::now();
                }
            }
            None => {
                while !pending.is_empty() {
                    pending = commit(&ctx, pending).await;
                }
                return;
            }
        }
    }
}

/// Commit up to `batch_max` entries; returns what must be tried again (plus the rest).
async fn commit(ctx: &Ctx, mut pending: Vec<Pending>) -> Vec<Pending> {
    let rest = pending.split_off(pending.len().min(ctx.settings.batch_max));
    let mut again = Vec::new();
    if ctx.stopped() {
        for p in pending {
            ctx.fail(&p.file, FileError::Stopped);
        }
        return rest;
    }
    let args = pending.iter().map(|p| p.arg.clone()).collect();
    let results = match ctx.client.finish_batch(args).await {
        Ok(results) => results,
        Err(e) => {
            let fatal = e.is_fatal();
            for p in &pending {
                ctx.record(&p.file, Outcome::Failed(reason(&e)));
            }
            if fatal {
                ctx.stop(e);
            }
            return rest;
        }
    };
    let mut backoff = 0;
    for (mut p, result) in pending.into_iter().zip(results) {
        let failure = match result {
            UploadSessionFinishBatchResultEntry::Success(meta) => {
                let outcome = match verify(&p, &meta) {
                    Err(Unverified::Wrong(why)) => {
                        let undone = roll_back(&ctx.client, &p.file, &meta.rev).await;
                        Outcome::Failed(format!("{why}; {undone}"))
                    }
                    verified => outcome(verified),
                };
                ctx.record_resumed(&p.file, outcome, p.resumed);
                continue;
            }
            UploadSessionFinishBatchResultEntry::Failure { failure } => failure,
        };
        match reason_of(&failure) {
            Reason::TooManyWriteOperations if p.tries + 1 < ctx.client.pacer().max_attempts() => {
                p.tries += 1;
                backoff = backoff.max(p.tries);
                again.push(p);
            }
            Reason::NotFound | Reason::Closed | Reason::Conflict(_) => {
                let outcome = already_there(ctx, &p, &failure).await;
                ctx.record_resumed(&p.file, outcome, p.resumed);
            }
            Reason::InsufficientSpace => {
                let e = ApiError::Endpoint {
                    route: FINISH_BATCH.into(),
                    summary: crate::dropbox::types::error_summary(&failure),
                    error: failure,
                    path: Some(p.file.remote.clone()),
                };
                ctx.record(&p.file, Outcome::Failed(reason(&e)));
                ctx.stop(e);
            }
            _ => ctx.record(
                &p.file,
                Outcome::Failed(entry_failure(FINISH_BATCH, &failure, &p.file.remote)),
            ),
        }
    }
    if backoff > 0 {
        tokio::time::sleep(ctx.client.pacer().backoff(backoff)).await;
    }
    again.extend(rest);
    again
}

/// Why a commit is not known to hold exactly our bytes.
enum Unverified {
    /// Dropbox holds other bytes: the commit is wrong (how, in words).
    Wrong(String),
    /// Dropbox did not say what it holds.
    Unreported,
}

/// The committed file must hold exactly our bytes.
fn verify(p: &Pending, meta: &FileMetadata) -> Result<(), Unverified> {
    match &meta.content_hash {
        Some(h) if *h == p.hash && meta.size == p.file.local.size => Ok(()),
        Some(h) => Err(Unverified::Wrong(format!(
            "Dropbox stored {} bytes with content hash {}, but we sent {} bytes hashing to {}",
            meta.size,
            crate::dropbox::error::short(h),
            p.file.local.size,
            p.hash
        ))),
        None => Err(Unverified::Unreported),
    }
}

fn outcome(verified: Result<(), Unverified>) -> Outcome {
    match verified {
        Ok(()) => Outcome::Uploaded,
        Err(Unverified::Wrong(why)) => Outcome::Failed(why),
        Err(Unverified::Unreported) => {
            Outcome::Failed("Dropbox did not report the content hash of the commit".into())
        }
    }
}

/// Puts back what Dropbox held at `file`'s path before a commit found wrong (whose rev is
/// `bad`): the revision that commit replaced (`files/restore`), or no file when it replaced
/// none (`delete_v2` of the bad rev only). Never touches a version someone else wrote since.
/// Says what came of it.
async fn roll_back(client: &DropboxClient, file: &PlannedFile, bad: &str) -> String {
    let path = &file.remote;
    tracing::info!("{path}: revision {bad} holds other bytes than were sent; rolling it back");
    let changed = || {
        format!(
            "not rolled back: {path} changed on Dropbox since (another writer?) and is left as it is"
        )
    };
    let gone = |e: &ApiError| matches!(e.reason(), Some(Reason::NotFound | Reason::Conflict(_)));
    // What the bad commit replaced: its predecessor in the file's revisions, asked even when
    // the listing showed no file, since someone may have written one in between. A restore
    // is not conditional, so the same answer must show the bad revision still the newest.
    let predecessor = match client.list_revisions(path, 2).await {
        Ok(r) if !r.is_deleted && r.entries.first().is_some_and(|e| e.rev == bad) => {
            r.entries.get(1).map(|e| e.rev.clone())
        }
        Ok(_) => return changed(),
        Err(e) if gone(&e) => return changed(),
        Err(e) => return rollback_failed(path, &e),
    };
    // Without a predecessor reported, the listed revision: a file that was there is never
    // removed.
    let undone = match (predecessor, &file.replaces) {
        (Some(rev), Some(_)) => (client.restore(path, &rev).await)
            .map(|_| "rolled back to the previous version".to_string()),
        (Some(rev), None) => (client.restore(path, &rev).await).map(|_| {
            format!(
                "rolled back to the version before it, which the listing did not show \
                 (written since, or deleted before); check {path}"
            )
        }),
        (None, Some(listed)) => (client.restore(path, listed).await)
            .map(|_| "rolled back to the previous version".to_string()),
        // Only the bad revision is deleted: a newer one stays.
        (None, None) => match client.delete_revision(path, bad).await {
            Ok(()) => {
                Ok("rolled back: the new file was removed (there was none before)".to_string())
            }
            Err(e) if gone(&e) => return changed(),
            Err(e) => Err(e),
        },
    };
    undone.unwrap_or_else(|e| rollback_failed(path, &e))
}

fn rollback_failed(path: &str, e: &ApiError) -> String {
    format!(
        "the rollback failed ({}); check {path} on Dropbox",
        reason(e)
    )
}

/// A commit refused because the session is gone or the path is taken may be our own
/// earlier attempt whose answer was lost: done if Dropbox holds exactly our content.
async fn already_there(ctx: &Ctx, p: &Pending, failure: &serde_json::Value) -> Outcome {
    match ctx.client.get_metadata(&p.file.remote).await {
        Ok(Metadata::File(meta)) if meta.content_hash.as_deref() == Some(p.hash.as_str()) => {
            outcome(verify(p, &meta))
        }
        _ => Outcome::Failed(entry_failure(FINISH_BATCH, failure, &p.file.remote)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropbox::content_hash::content_hash;
    use std::io::Write;

    fn local(path: &std::path::Path) -> LocalFile {
        LocalFile::new(path, "f".into(), &std::fs::metadata(path).unwrap())
    }

    fn collect(file: &LocalFile, chunk: usize) -> Result<(Vec<usize>, String), FileError> {
        let mut sizes = Vec::new();
        let mut hash = None;
        read_into(file, chunk, &Budget::new(chunk), None, |piece| {
            assert_eq!(piece.own_hash, content_hash(&piece.data));
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
        assert_eq!(hash, crate::dropbox::content_hash::content_hash(&data));
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
        assert!(matches!(result, Err(FileError::Changed(_))), "{result:?}");
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
            read_into(&local(&path), BLOCK_SIZE, &budget, Some(&from), |_| true)
        };
        assert!(read(content_hash(&vec![7u8; BLOCK_SIZE])).is_ok());
        let other = read(content_hash(&vec![8u8; BLOCK_SIZE]));
        assert!(matches!(other, Err(FileError::NotResumable)), "{other:?}");
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
            Err(FileError::Changed(_))
        ));
    }

    #[test]
    fn settings_are_normalized() {
        let s = Settings {
            chunk_size: 10 * 1024 * 1024,
            buffer_budget: 1,
            jobs: 0,
            batch_max: 5000,
            ..Settings::default()
        }
        .normalized();
        assert_eq!(s.chunk_size, 8 * 1024 * 1024);
        assert_eq!(s.buffer_budget, s.chunk_size);
        assert_eq!((s.jobs, s.batch_max), (1, MAX_BATCH));
        let big = Settings {
            chunk_size: 1 << 30,
            ..Settings::default()
        }
        .normalized();
        assert_eq!(big.chunk_size, 148 * 1024 * 1024);
    }

    /// An in-process emulator on `root` and a client holding its one token.
    async fn emulated(
        root: &std::path::Path,
    ) -> (dropbox_emulator::RunningEmulator, DropboxClient) {
        use crate::dropbox::auth::TokenSource;
        use crate::dropbox::endpoint::Endpoints;
        let mut config = dropbox_emulator::EmulatorConfig::new(root);
        config.tokens = vec!["t".into()];
        let emu = dropbox_emulator::spawn(config).await.unwrap();
        let client = DropboxClient::new(
            Endpoints::single(emu.base_url()).unwrap(),
            TokenSource::fixed("t".into()),
        )
        .unwrap();
        (emu, client)
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
        let mut commit = CommitInfo::new("/resumed.bin", crate::dropbox::types::WriteMode::Add);
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
        assert_eq!(err.reason(), Some(Reason::IncorrectOffset(2)));
    }

    #[tokio::test]
    async fn a_repeated_commit_counts_once_and_leaves_no_copy() {
        use crate::dropbox::types::WriteMode;
        let dir = tempfile::tempdir().unwrap();
        let (_emu, client) = emulated(&dir.path().join("dbx")).await;
        let ctx = Ctx {
            client: Arc::new(client),
            cache: Arc::new(HashCache::disabled()),
            resume: Arc::new(Resume::disabled()),
            settings: Settings::default(),
            progress: Arc::new(Progress::new(Arc::new(crate::upload::report::Silent))),
            budget: Budget::new(BLOCK_SIZE),
            fatal: Mutex::new(None),
        };
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"abc").unwrap();
        for mode in [WriteMode::Overwrite, WriteMode::Add] {
            let id = ctx
                .client
                .start_session(Bytes::from_static(b"abc"), &content_hash(b"abc"), true)
                .await
                .unwrap();
            let file = PlannedFile {
                local: local(&path),
                remote: "/d/a.txt".into(),
                mode,
                unchanged_if: None,
                replaces: None,
            };
            let pending = || Pending {
                arg: finish_arg(&file, id.clone()),
                file: file.clone(),
                hash: content_hash(b"abc"),
                resumed: 0,
                tries: 0,
            };
            // The second commit stands for a retry after the first one's answer was lost.
            assert!(commit(&ctx, vec![pending()]).await.is_empty());
            assert!(commit(&ctx, vec![pending()]).await.is_empty());
        }
        let entries = ctx.progress.finish();
        let outcomes: Vec<_> = entries.into_iter().map(|e| e.outcome).collect();
        assert_eq!(outcomes, vec![Outcome::Uploaded; 4]);
        let listing = ctx.client.list_folder_recursive("/d").await.unwrap();
        let files: Vec<_> = listing
            .iter()
            .filter(|m| matches!(m, Metadata::File(_)))
            .collect();
        assert_eq!(files.len(), 1, "{listing:?}");
    }

    /// A server whose revisions of a file the listing showed name no predecessor of the bad
    /// commit: the listed revision is restored; the file is never removed.
    #[tokio::test]
    async fn a_rollback_without_a_listed_predecessor_restores_the_listed_version() {
        use axum::routing::post;
        let restored = Arc::new(Mutex::new(None::<String>));
        let seen = restored.clone();
        let meta = r#"{"name":"a","id":"id:a","client_modified":"2026-01-01T00:00:00Z",
            "server_modified":"2026-01-01T00:00:00Z","rev":"0000000003","size":1}"#;
        let app = axum::Router::new()
            .route(
                "/2/files/list_revisions",
                post(
                    move || async move { format!(r#"{{"is_deleted":false,"entries":[{meta}]}}"#) },
                ),
            )
            .route(
                "/2/files/restore",
                post(move |body: String| async move {
                    *seen.lock().unwrap() = Some(body);
                    meta
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = DropboxClient::new(
            crate::dropbox::endpoint::Endpoints::single(&base).unwrap(),
            crate::dropbox::auth::TokenSource::fixed("t".into()),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"x").unwrap();
        let file = PlannedFile {
            local: local(&dir.path().join("a")),
            remote: "/d/a".into(),
            mode: crate::dropbox::types::WriteMode::Overwrite,
            unchanged_if: None,
            replaces: Some("0000000001".into()),
        };
        let said = roll_back(&client, &file, "0000000003").await;
        assert_eq!(said, "rolled back to the previous version");
        let body = restored.lock().unwrap().clone().unwrap();
        assert!(body.contains(r#""rev":"0000000001""#), "{body}");
    }

    #[test]
    fn client_modified_is_whole_seconds_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        assert_eq!(client_modified(t), "2023-11-14T22:13:20Z");
    }
}
