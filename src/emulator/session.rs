//! Upload sessions, kept under `ROOT/sessions/` (their states in `journal.jsonl`), so a
//! restart keeps them. Sessions expire 7 days after they start (`--session-lifetime`).
//!
//! A sequential session's bytes are streamed straight into one `data` file at their offset
//! (`<id>.data`) while the session is locked, and its content hash runs along, so finishing
//! neither copies nor re-reads them (after a restart it re-reads once). A concurrent
//! session's pieces arrive in any order and in parallel, so each is staged on its own
//! (`<id>.p-<offset>`) and joined at finish. A small file thus costs one inode, the one its
//! bytes end up in.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::OwnedMutexGuard;

use super::staging::{self, Staged};
use super::store::{Failed, Rejected};
use crate::dropbox::content_hash::{BLOCK_SIZE, ContentHasher};
use crate::dropbox::types::{FileMetadata, SessionType, UploadSessionCursor};
use crate::journal::Journal;

const PREFIX: &str = "pid_upload_session:";
/// The largest file a session may build: 2^41 − 2^22 bytes.
const MAX_SESSION_BYTES: u64 = (1 << 41) - (1 << 22);

#[derive(Serialize, Deserialize, Clone, Debug)]
struct State {
    kind: SessionType,
    /// Unix seconds.
    created: i64,
    closed: bool,
    /// Sequential: bytes received, in `data`.
    #[serde(default)]
    len: u64,
    /// Concurrent: the pieces received.
    #[serde(default)]
    pieces: Vec<Piece>,
}

/// One piece of a concurrent session, stored as `<id>.p-<offset>`.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Piece {
    offset: u64,
    len: u64,
}

impl State {
    /// Sequential: bytes so far. Concurrent: end of the furthest piece.
    fn length(&self) -> u64 {
        match self.kind {
            SessionType::Sequential => self.len,
            SessionType::Concurrent => self
                .pieces
                .iter()
                .map(|p| p.offset + p.len)
                .max()
                .unwrap_or(0),
        }
    }

    fn expired(&self, lifetime: i64) -> bool {
        chrono::Utc::now().timestamp() - self.created > lifetime
    }
}

struct Live {
    state: State,
    /// Sequential: the content hash of `data[..len]` so far; `None` after a restart.
    hasher: Option<Box<ContentHasher>>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Live>>>;

pub struct Sessions {
    dir: PathBuf,
    tmp: PathBuf,
    /// Seconds a session lives after it starts; then it is `not_found`, as on Dropbox.
    lifetime: i64,
    live: Mutex<HashMap<String, Slot>>,
    /// A session's state after each change; `None` once it is gone.
    journal: Mutex<Journal>,
}

/// What to do with the body of an `append_v2` or `finish` (see [`Sessions::begin`]).
pub enum Begin {
    /// A sequential session at the request's offset: stream the body into the file (its
    /// `data`, positioned at the offset), feeding `Direct::hasher`, then call `appended` or
    /// `finish_streamed`.
    Stream(Direct, fs::File),
    /// A sequential session that refuses this request: read the body, then answer this.
    Refuse(Failed),
    /// A concurrent session or none: stage the body, then call `append` or `finish`.
    Staged,
}

/// A sequential session locked for one request.
pub struct Direct {
    key: String,
    guard: OwnedMutexGuard<Option<Live>>,
    /// The running content hash; `None` after a restart.
    pub hasher: Option<Box<ContentHasher>>,
}

impl Direct {
    fn live(&mut self) -> &mut Live {
        self.guard.as_mut().expect("begin locks only live sessions")
    }
}

fn lookup(tag: &str) -> Value {
    json!({".tag": tag})
}

fn incorrect_offset(correct: u64) -> Value {
    json!({".tag": "incorrect_offset", "correct_offset": correct})
}

fn finish_lookup(e: Value) -> Value {
    json!({".tag": "lookup_failed", "lookup_failed": e})
}

fn io_failed(what: &str, e: impl std::fmt::Display) -> Failed {
    tracing::error!("{what}: {e}");
    Failed::Internal
}

/// The directory name of a session id, if it is one of ours (never a path traversal).
fn key_of(session_id: &str) -> Option<&str> {
    session_id
        .strip_prefix(PREFIX)
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl Sessions {
    /// Loads the sessions under `root/sessions`, dropping expired ones and stray files.
    pub fn open(root: &Path, tmp: &Path, lifetime: Duration) -> std::io::Result<Sessions> {
        let dir = root.join("sessions");
        fs::create_dir_all(&dir)?;
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        let keep = |s: &Option<State>| s.as_ref().is_some_and(|s| !s.expired(lifetime));
        let (journal, states) = Journal::open(&dir.join("journal.jsonl"), keep)?;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let key = name.split('.').next().unwrap_or_default();
            if !states.contains_key(key) && !name.starts_with("journal.jsonl") {
                let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
            }
        }
        let live = states
            .into_iter()
            .filter_map(|(key, state)| {
                let live = Live {
                    state: state?,
                    hasher: None,
                };
                Some((key, Arc::new(tokio::sync::Mutex::new(Some(live)))))
            })
            .collect();
        Ok(Sessions {
            dir,
            tmp: tmp.to_path_buf(),
            lifetime,
            live: Mutex::new(live),
            journal: Mutex::new(journal),
        })
    }

    fn slot(&self, session_id: &str) -> Option<(String, Slot)> {
        let key = key_of(session_id)?;
        let map = self.live.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).map(|s| (key.to_string(), s.clone()))
    }

    fn data_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.data"))
    }

    /// A sequential session's `data`, for writing; created if the session has none yet.
    fn open_data(&self, key: &str) -> std::io::Result<fs::File> {
        (OpenOptions::new().write(true).create(true).truncate(false)).open(self.data_path(key))
    }

    fn piece_path(&self, key: &str, offset: u64) -> PathBuf {
        self.dir.join(format!("{key}.p-{offset:020}"))
    }

    fn record(&self, key: &str, state: Option<&State>) -> Result<(), Failed> {
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        journal
            .append(key, &state)
            .map_err(|e| io_failed(&format!("recording session {key}"), e))
    }

    fn save(&self, key: &str, state: &State) -> Result<(), Failed> {
        self.record(key, Some(state))
    }

    fn store_piece(&self, key: &str, offset: u64, staged: Staged) -> Result<(), Failed> {
        staged
            .temp
            .persist(self.piece_path(key, offset))
            .map_err(|e| io_failed(&format!("storing a piece of session {key}"), e.error))
    }

    /// Forgets a finished session and deletes its files.
    fn remove(&self, key: &str, state: &State) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        let _ = fs::remove_file(self.data_path(key));
        for p in &state.pieces {
            let _ = fs::remove_file(self.piece_path(key, p.offset));
        }
        let _ = self.record(key, None);
    }

    /// `upload_session/start`. `Err` is an `UploadSessionStartError`.
    pub fn start(&self, kind: SessionType, close: bool, staged: Staged) -> Result<String, Failed> {
        if kind == SessionType::Concurrent {
            if staged.size > 0 {
                return Err(lookup("concurrent_session_data_not_allowed").into());
            }
            if close {
                return Err(lookup("concurrent_session_close_not_allowed").into());
            }
        }
        self.create(kind, close, staged)
    }

    /// A closed session holding `staged`: what a failed `files/upload` hands back so the
    /// client can retry the commit with `upload_session/finish`.
    pub fn create_closed(&self, staged: Staged) -> Result<String, Failed> {
        self.create(SessionType::Sequential, true, staged)
    }

    fn create(&self, kind: SessionType, close: bool, staged: Staged) -> Result<String, Failed> {
        let key = format!("{:032x}", rand::random::<u128>());
        let Staged { temp, size, hasher } = staged;
        let state = State {
            kind,
            created: chrono::Utc::now().timestamp(),
            closed: close,
            len: size,
            pieces: Vec::new(),
        };
        // Concurrent sessions start empty (checked by `start`): their staged file just goes.
        let hasher = match kind {
            SessionType::Sequential => {
                temp.persist(self.data_path(&key)).map_err(|e| {
                    io_failed(&format!("storing the data of session {key}"), e.error)
                })?;
                Some(hasher)
            }
            SessionType::Concurrent => None,
        };
        self.save(&key, &state)?;
        let live = Live { state, hasher };
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), Arc::new(tokio::sync::Mutex::new(Some(live))));
        Ok(format!("{PREFIX}{key}"))
    }

    /// The first step of `append_v2` (`finishing` false) and `finish`: locks a sequential
    /// session and checks the request's offset (and, for an append, that it is open).
    pub async fn begin(
        &self,
        cursor: &UploadSessionCursor,
        finishing: bool,
    ) -> Result<Begin, Failed> {
        let Some((key, slot)) = self.slot(&cursor.session_id) else {
            return Ok(Begin::Staged);
        };
        let guard = slot.lock_owned().await;
        let Some(live) = guard
            .as_ref()
            .filter(|l| !l.state.expired(self.lifetime) && l.state.kind == SessionType::Sequential)
        else {
            return Ok(Begin::Staged);
        };
        let state = &live.state;
        if cursor.offset != state.len {
            let e = incorrect_offset(state.len);
            return Ok(Begin::Refuse(
                if finishing { finish_lookup(e) } else { e }.into(),
            ));
        }
        if state.closed && !finishing {
            return Ok(Begin::Refuse(lookup("closed").into()));
        }
        let hasher = live.hasher.clone();
        let file = self
            .open_data(&key)
            .and_then(|mut f| f.seek(SeekFrom::Start(cursor.offset)).map(|_| f))
            .map_err(|e| io_failed(&format!("opening the data of session {key}"), e))?;
        Ok(Begin::Stream(Direct { key, guard, hasher }, file))
    }

    /// An `append_v2` streamed by `begin`: `size` bytes arrived, `hasher` has seen them.
    pub fn appended(&self, mut d: Direct, size: u64, close: bool) -> Result<(), Failed> {
        let live = d.live();
        let end = match live.state.len.checked_add(size) {
            Some(end) if end <= MAX_SESSION_BYTES => end,
            _ => return Err(lookup("too_large").into()),
        };
        let mut next = live.state.clone();
        next.len = end;
        next.closed |= close;
        self.save(&d.key, &next)?;
        let hasher = d.hasher.take();
        let live = d.live();
        live.state = next;
        live.hasher = hasher;
        Ok(())
    }

    /// A `finish` streamed by `begin`: commits `data[..len + size]`. `Err` is an
    /// `UploadSessionFinishError`.
    pub async fn finish_streamed(
        &self,
        mut d: Direct,
        size: u64,
        commit: impl FnOnce(Staged) -> Result<FileMetadata, Rejected>,
    ) -> Result<FileMetadata, Failed> {
        let (closed, len) = (d.live().state.closed, d.live().state.len);
        if closed && size > 0 {
            return Err(finish_lookup(lookup("closed")).into());
        }
        let whole = self.link_data(&d.key, len + size, d.hasher.take()).await?;
        self.commit_whole(&d.key, &mut d.guard, whole, commit)
    }

    /// `upload_session/append_v2` of a concurrent session (sequential ones go through
    /// `begin`, which answers them). `Err` is an `UploadSessionAppendError`.
    pub async fn append(
        &self,
        cursor: &UploadSessionCursor,
        close: bool,
        staged: Staged,
    ) -> Result<(), Failed> {
        let (key, slot) = self
            .slot(&cursor.session_id)
            .ok_or_else(|| lookup("not_found"))?;
        let mut guard = slot.lock().await;
        let state = match guard.as_mut() {
            Some(l)
                if !l.state.expired(self.lifetime) && l.state.kind == SessionType::Concurrent =>
            {
                &mut l.state
            }
            _ => return Err(lookup("not_found").into()),
        };
        // A concurrent session's pieces may arrive after the closing one, inside its length.
        let end = match cursor.offset.checked_add(staged.size) {
            Some(end) if end <= MAX_SESSION_BYTES => end,
            _ => return Err(lookup("too_large").into()),
        };
        if state.closed && end > state.length() {
            return Err(lookup("closed").into());
        }
        let block = BLOCK_SIZE as u64;
        if cursor.offset % block != 0 {
            return Err(lookup("concurrent_session_invalid_offset").into());
        }
        if !close && staged.size % block != 0 {
            return Err(lookup("concurrent_session_invalid_data_size").into());
        }
        let mut next = state.clone();
        next.closed |= close;
        next.pieces.retain(|p| p.offset != cursor.offset);
        if staged.size > 0 {
            next.pieces.push(Piece {
                offset: cursor.offset,
                len: staged.size,
            });
            self.store_piece(&key, cursor.offset, staged)?;
        }
        self.save(&key, &next)?;
        *state = next;
        Ok(())
    }

    /// A sequential session's first `len` bytes as a staged file, linked, not copied: the
    /// session is consumed only when the commit succeeds, and keeps its `data` until then.
    async fn link_data(
        &self,
        key: &str,
        len: u64,
        hasher: Option<Box<ContentHasher>>,
    ) -> Result<Staged, Failed> {
        let staged = async {
            // Bytes past `len` are leftovers of refused or cut requests.
            self.open_data(key)?.set_len(len)?;
            self.link_staged(&self.data_path(key), len, hasher).await
        };
        (staged.await).map_err(|e| io_failed(&format!("staging the data of session {key}"), e))
    }

    /// `path` (`size` bytes) as a staged file, hard-linked under `tmp`, not copied; hashed
    /// unless its hash is known.
    async fn link_staged(
        &self,
        path: &Path,
        size: u64,
        hasher: Option<Box<ContentHasher>>,
    ) -> std::io::Result<Staged> {
        let link = self
            .tmp
            .join(format!("link-{:032x}", rand::random::<u128>()));
        fs::hard_link(path, &link)?;
        let temp = tempfile::TempPath::try_from_path(&link)?;
        let hasher = match hasher {
            Some(h) => h,
            None => Box::new(staging::hash_file(&temp).await?),
        };
        Ok(Staged { temp, size, hasher })
    }

    /// A concurrent session's pieces as one staged file: one piece is used as is (linked),
    /// more are copied together.
    async fn assemble(&self, key: &str, pieces: &[Piece]) -> Result<Staged, Failed> {
        let piece_path = |p: &Piece| self.piece_path(key, p.offset);
        match pieces {
            [only] => self
                .link_staged(&piece_path(only), only.len, None)
                .await
                .map_err(|e| io_failed("staging a session piece", e)),
            pieces => {
                let parts: Vec<PathBuf> = pieces.iter().map(piece_path).collect();
                staging::concat(&self.tmp, &parts)
                    .await
                    .map_err(|e| io_failed("assembling a session", e))
            }
        }
    }

    /// `upload_session/finish` without data, or of a concurrent session (`data`: whether the
    /// request carried any), and each `finish_batch_v2` entry (`batch`). The session is
    /// consumed only when the commit succeeds, so a refused commit can be retried. `Err` is
    /// an `UploadSessionFinishError`.
    pub async fn finish(
        &self,
        cursor: &UploadSessionCursor,
        data: bool,
        batch: bool,
        commit: impl FnOnce(Staged) -> Result<FileMetadata, Rejected>,
    ) -> Result<FileMetadata, Failed> {
        let (key, slot) = self
            .slot(&cursor.session_id)
            .ok_or_else(|| finish_lookup(lookup("not_found")))?;
        let mut guard = slot.lock().await;
        let live = match guard.as_mut() {
            Some(l) if !l.state.expired(self.lifetime) => l,
            _ => return Err(finish_lookup(lookup("not_found")).into()),
        };
        let state = &live.state;
        match state.kind {
            SessionType::Sequential => {
                if batch && !state.closed {
                    return Err(finish_lookup(lookup("not_closed")).into());
                }
                if data {
                    // Data for a sequential session streams through `begin`.
                    return Err(finish_lookup(lookup("closed")).into());
                }
            }
            SessionType::Concurrent => {
                if data {
                    return Err(lookup("concurrent_session_data_not_allowed").into());
                }
                if !state.closed {
                    return Err(lookup("concurrent_session_not_closed").into());
                }
            }
        }
        if cursor.offset != state.length() {
            return Err(finish_lookup(incorrect_offset(state.length())).into());
        }
        let whole = match state.kind {
            SessionType::Sequential => {
                let hasher = live.hasher.clone();
                self.link_data(&key, state.len, hasher).await?
            }
            SessionType::Concurrent => {
                let mut pieces = state.pieces.clone();
                pieces.sort_unstable_by_key(|p| p.offset);
                let mut end = 0;
                for p in &pieces {
                    if p.offset != end {
                        return Err(lookup("concurrent_session_missing_data").into());
                    }
                    end += p.len;
                }
                self.assemble(&key, &pieces).await?
            }
        };
        self.commit_whole(&key, &mut guard, whole, commit)
    }

    /// Commits a session's data, then forgets the session (`slot`, locked by the caller). A
    /// refused write is reported inside the finish error's `path`, and keeps the session.
    fn commit_whole(
        &self,
        key: &str,
        slot: &mut Option<Live>,
        whole: Staged,
        commit: impl FnOnce(Staged) -> Result<FileMetadata, Rejected>,
    ) -> Result<FileMetadata, Failed> {
        let meta = commit(whole).map_err(|r| match r.failed {
            Failed::Api(write_error) => Failed::Api(json!({".tag": "path", "path": write_error})),
            internal => internal,
        })?;
        if let Some(live) = slot.take() {
            self.remove(key, &live.state);
        }
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_ids_map_to_directories() {
        assert_eq!(key_of("pid_upload_session:abc123"), Some("abc123"));
        for bad in [
            "abc",
            "pid_upload_session:",
            "pid_upload_session:../x",
            "pid_upload_session:a/b",
        ] {
            assert_eq!(key_of(bad), None, "{bad}");
        }
    }
}
