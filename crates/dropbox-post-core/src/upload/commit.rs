//! Committing closed upload sessions, many at a time (`finish_batch_v2`), each commit
//! verified by content hash: a commit found holding other bytes is rolled back to what it
//! replaced, a commit refused because our own earlier attempt got through counts as done,
//! one refused for contention is tried again in a later batch. The batching itself is
//! `batcher`'s.

use std::sync::Arc;
use std::time::SystemTime;

use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::{ApiError, entry_failure};
use crate::dropbox::route_error::RouteError;
use dropbox_wire::types::{
    CommitInfo, FileMetadata, Metadata, UploadSessionCursor, UploadSessionFinishArg,
    UploadSessionFinishBatchResultEntry, union_tags,
};

use super::batcher::Commit;
use super::plan::PlannedFile;
use super::report::{Outcome, reason};
use super::session::ClosedSession;
use super::state::{FileError, RunState};

const FINISH_BATCH: &str = "files/upload_session/finish_batch_v2";

/// A file whose bytes Dropbox holds in a closed session, waiting to be committed.
pub(super) struct Staged {
    file: PlannedFile,
    hash: String,
    /// Bytes an earlier run had sent.
    resumed: u64,
    arg: UploadSessionFinishArg,
    tries: u32,
}

impl Staged {
    pub fn new(file: PlannedFile, closed: ClosedSession) -> Staged {
        Staged {
            arg: finish_arg(&file, closed.session_id),
            file,
            hash: closed.hash,
            resumed: closed.resumed,
            tries: 0,
        }
    }
}

/// Commits batches of staged files for one run.
pub(super) struct Committer(pub Arc<RunState>);

impl Commit for Committer {
    type Item = Staged;

    /// A commit carries no file bytes: only the count of entries bounds a batch.
    fn weight(&self, _: &Staged) -> u64 {
        0
    }

    async fn commit(&self, batch: Vec<Staged>) -> Vec<Staged> {
        commit(&self.0, batch).await
    }
}

/// Commit `batch`; returns what must be tried again.
async fn commit(state: &RunState, batch: Vec<Staged>) -> Vec<Staged> {
    if state.stopped() {
        for p in batch {
            state.fail(&p.file, FileError::Stopped);
        }
        return Vec::new();
    }
    let args = batch.iter().map(|p| p.arg.clone()).collect();
    let results = match state.client.finish_batch(args).await {
        Ok(results) => results,
        Err(e) => {
            state.fail_all(batch.iter().map(|p| &p.file), e);
            return Vec::new();
        }
    };
    let (mut again, mut backoff) = (Vec::new(), 0);
    for (mut p, result) in batch.into_iter().zip(results) {
        let failure = match result {
            UploadSessionFinishBatchResultEntry::Success(meta) => {
                let outcome = match verify(&p, &meta) {
                    Err(Unverified::Wrong(why)) => {
                        let undone = roll_back(&state.client, &p.file, &meta.rev).await;
                        Outcome::Failed(format!("{why}; {undone}"))
                    }
                    verified => outcome(verified),
                };
                state.record_resumed(&p.file, outcome, p.resumed);
                continue;
            }
            UploadSessionFinishBatchResultEntry::Failure { failure } => failure,
        };
        match RouteError::of_finish_entry(&failure) {
            RouteError::TooManyWriteOperations
                if p.tries + 1 < state.client.pacer().max_attempts() =>
            {
                p.tries += 1;
                backoff = backoff.max(p.tries);
                again.push(p);
            }
            RouteError::NotFound | RouteError::Closed | RouteError::Conflict(_) => {
                let outcome = already_there(state, &p, &failure).await;
                state.record_resumed(&p.file, outcome, p.resumed);
            }
            RouteError::InsufficientSpace => {
                let e = ApiError::Endpoint {
                    route: FINISH_BATCH.into(),
                    summary: dropbox_wire::types::error_summary(&failure),
                    error: failure,
                    path: Some(p.file.remote.clone()),
                };
                state.record(&p.file, Outcome::Failed(reason(&e)));
                state.stop(e);
            }
            _ => {
                // Refused for the session itself (a piece missing, say), not for where it
                // goes: continued by a later run, it would be refused again, every time.
                if union_tags(&failure).first() != Some(&"path") {
                    state.journal.forget(&p.file);
                }
                let why = entry_failure(FINISH_BATCH, &failure, &p.file.remote);
                state.record(&p.file, Outcome::Failed(why));
            }
        }
    }
    if backoff > 0 {
        tokio::time::sleep(state.client.pacer().backoff(backoff)).await;
    }
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
fn verify(p: &Staged, meta: &FileMetadata) -> Result<(), Unverified> {
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
    let gone = |e: &ApiError| {
        matches!(
            e.route_error(),
            Some(RouteError::NotFound | RouteError::Conflict(_))
        )
    };
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
async fn already_there(state: &RunState, p: &Staged, failure: &serde_json::Value) -> Outcome {
    match state.client.get_metadata(&p.file.remote).await {
        Ok(Metadata::File(meta)) if meta.content_hash.as_deref() == Some(p.hash.as_str()) => {
            outcome(verify(p, &meta))
        }
        _ => Outcome::Failed(entry_failure(FINISH_BATCH, failure, &p.file.remote)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::hash_cache::HashCache;
    use crate::upload::report::Progress;
    use crate::upload::resume::UploadJournal;
    use crate::upload::settings::Settings;
    use crate::upload::test_support::{emulated, local};
    use bytes::Bytes;
    use dropbox_wire::content_hash::{BLOCK_SIZE, content_hash};
    use std::sync::Mutex;
    use std::time::Duration;

    #[tokio::test]
    async fn a_repeated_commit_counts_once_and_leaves_no_copy() {
        use dropbox_wire::types::WriteMode;
        let dir = tempfile::tempdir().unwrap();
        let (_emu, client) = emulated(&dir.path().join("dbx")).await;
        let settings = Settings {
            buffer_budget: BLOCK_SIZE,
            ..Settings::default()
        };
        let state = RunState::new(
            Arc::new(client),
            Arc::new(HashCache::disabled()),
            Arc::new(UploadJournal::disabled()),
            settings,
            Arc::new(Progress::new(Arc::new(crate::upload::report::Silent))),
        );
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"abc").unwrap();
        for mode in [WriteMode::Overwrite, WriteMode::Add] {
            let id = state
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
            let staged = || {
                let closed = ClosedSession {
                    session_id: id.clone(),
                    hash: content_hash(b"abc"),
                    resumed: 0,
                };
                Staged::new(file.clone(), closed)
            };
            // The second commit stands for a retry after the first one's answer was lost.
            assert!(commit(&state, vec![staged()]).await.is_empty());
            assert!(commit(&state, vec![staged()]).await.is_empty());
        }
        let entries = state.progress.finish();
        let outcomes: Vec<_> = entries.into_iter().map(|e| e.outcome).collect();
        assert_eq!(outcomes, vec![Outcome::Uploaded; 4]);
        let listing = state.client.list_folder_recursive("/d").await.unwrap();
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
            mode: dropbox_wire::types::WriteMode::Overwrite,
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
