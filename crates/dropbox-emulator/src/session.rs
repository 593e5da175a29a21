//! Upload sessions, kept under `ROOT/sessions/` (their states in `journal.jsonl`), so a
//! restart keeps them. Sessions expire 7 days after they start (`--session-lifetime`).
//!
//! A sequential session's bytes are streamed straight into one `data` file at their offset
//! (`<id>.data`) while the session is locked, and its content hash runs along, so finishing
//! neither copies nor re-reads them (after a restart it re-reads once). A concurrent
//! session's pieces arrive in any order and in parallel, so each is staged on its own
//! (`<id>.p-<offset>`) and joined at finish. A small file thus costs one inode, the one its
//! bytes end up in.
//!
//! Each token may hold `max_bytes` of uncommitted data in at most [`MAX_SESSIONS`] sessions;
//! beyond that a start or append is refused (`insufficient_space`). A session untouched for
//! [`ABANDONED_SECS`] is abandoned: a sweep (every minute, and at once when a token is over
//! its limit) deletes it and its data.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::OwnedMutexGuard;

use super::clock::Clock;
use super::staging::{self, Staged};
use super::store::{Refused, Rejected};
use dropbox_post_files::journal::Journal;
use dropbox_wire::content_hash::{BLOCK_SIZE, BlockDigests, ContentHasher};
use dropbox_wire::types::{FileMetadata, SessionType, UploadSessionCursor};

const PREFIX: &str = "pid_upload_session:";
/// When a token reaches its limits, sessions no request touched for this long are deleted
/// first: clients append every few seconds. (Unlimited, they live their whole lifetime, so
/// an interrupted post can resume as on Dropbox.)
pub const ABANDONED_SECS: i64 = 3600;
/// Open sessions one token may hold (`post` keeps `--jobs` plus a batch of 1,000 open).
pub const MAX_SESSIONS: u64 = 10_000;
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
    /// Digest of the token that started it, whose limits its bytes count against.
    #[serde(default)]
    owner: String,
    /// Unix seconds of the last request that changed it (0: `created`).
    #[serde(default)]
    touched: i64,
}

/// One piece of a concurrent session, stored as `<id>.p-<offset>`.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Piece {
    offset: u64,
    len: u64,
    /// Its block digests ([`BlockDigests::to_hex`]), taken as it was staged, so that the
    /// session's content hash is not computed again from its bytes at `finish`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    blocks: String,
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

    /// Whether, at `now` (Unix seconds), it has outlived `lifetime` seconds.
    fn expired(&self, lifetime: i64, now: i64) -> bool {
        now - self.created > lifetime
    }

    fn idle_secs(&self, now: i64) -> i64 {
        now - self.touched.max(self.created)
    }
}

/// What one token holds in open sessions.
#[derive(Default, Clone, Copy)]
struct Held {
    bytes: u64,
    sessions: u64,
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
    /// By owner: what their open sessions hold.
    held: Mutex<HashMap<String, Held>>,
    max_bytes: u64,
    /// What "now" is for expiry and `created`/`touched`.
    clock: Arc<Clock>,
}

/// What to do with the body of an `append_v2` or `finish` (see [`Sessions::begin`]).
pub enum Begin {
    /// A sequential session at the request's offset: stream the body into the file (its
    /// `data`, positioned at the offset), feeding `Direct::hasher`, then call `appended` or
    /// `finish_streamed`.
    Stream(Direct, fs::File),
    /// A sequential session that refuses this request: read the body, then answer this.
    Refuse(Refused),
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

fn io_failed(what: &str, e: impl std::fmt::Display) -> Refused {
    tracing::error!("{what}: {e}");
    Refused::Internal
}

/// The directory name of a session id, if it is one of ours (never a path traversal).
fn key_of(session_id: &str) -> Option<&str> {
    session_id
        .strip_prefix(PREFIX)
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl Sessions {
    /// Loads the sessions under `root/sessions`, dropping expired ones and stray files.
    /// Each token may hold `max_bytes` in open sessions.
    pub fn open(
        root: &Path,
        tmp: &Path,
        lifetime: Duration,
        max_bytes: u64,
        clock: Arc<Clock>,
    ) -> std::io::Result<Sessions> {
        let dir = root.join("sessions");
        fs::create_dir_all(&dir)?;
        let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        let now = clock.now();
        let keep = |s: &Option<State>| s.as_ref().is_some_and(|s| !s.expired(lifetime, now));
        let (journal, states) = Journal::open(&dir.join("journal.jsonl"), keep)?;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let key = name.split('.').next().unwrap_or_default();
            if !states.contains_key(key) && !name.starts_with("journal.jsonl") {
                let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
            }
        }
        let mut held: HashMap<String, Held> = HashMap::new();
        let live = states
            .into_iter()
            .filter_map(|(key, state)| {
                let state = state?;
                let h = held.entry(state.owner.clone()).or_default();
                h.bytes += state.length();
                h.sessions += 1;
                let live = Live {
                    state,
                    hasher: None,
                };
                Some((key, Arc::new(tokio::sync::Mutex::new(Some(live)))))
            })
            .collect();
        let sessions = Sessions {
            dir,
            tmp: tmp.to_path_buf(),
            lifetime,
            live: Mutex::new(live),
            journal: Mutex::new(journal),
            held: Mutex::new(held),
            max_bytes,
            clock,
        };
        Ok(sessions)
    }

    /// Whether `state` has expired by the clock.
    fn expired(&self, state: &State) -> bool {
        state.expired(self.lifetime, self.clock.now())
    }

    /// Refuses a request that would take `owner` past its limits with `incoming` more
    /// bytes (and a new session when `new_session`), after sweeping abandoned sessions.
    pub fn admit(&self, owner: &str, incoming: u64, new_session: bool) -> Result<(), Refused> {
        let fits = || {
            let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            let h = held.get(owner).copied().unwrap_or_default();
            h.bytes.saturating_add(incoming) <= self.max_bytes
                && (!new_session || h.sessions < MAX_SESSIONS)
        };
        if fits() {
            return Ok(());
        }
        self.sweep(ABANDONED_SECS);
        if fits() {
            return Ok(());
        }
        tracing::warn!(
            "a token holds more than {} MiB or {MAX_SESSIONS} sessions of uncommitted uploads; refusing more",
            self.max_bytes >> 20
        );
        Err(lookup("insufficient_space").into())
    }

    /// Deletes every session no request touched for `idle_secs`, and every expired one,
    /// except those in use right now.
    pub fn sweep(&self, idle_secs: i64) {
        let now = self.clock.now();
        let slots: Vec<(String, Slot)> = {
            let map = self.live.lock().unwrap_or_else(|p| p.into_inner());
            map.iter().map(|(k, s)| (k.clone(), s.clone())).collect()
        };
        for (key, slot) in slots {
            let Ok(mut guard) = slot.try_lock() else {
                continue;
            };
            let gone = guard.as_ref().is_some_and(|l| {
                l.state.expired(self.lifetime, now) || l.state.idle_secs(now) > idle_secs
            });
            if gone && let Some(live) = guard.take() {
                tracing::info!("deleting abandoned upload session {key}");
                self.remove(&key, &live.state);
            }
        }
    }

    /// Adds `bytes` and `sessions` (either may be negative) to what `owner` holds.
    fn charge(&self, owner: &str, bytes: i128, sessions: i64) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let h = held.entry(owner.to_string()).or_default();
        h.bytes = (i128::from(h.bytes) + bytes).clamp(0, i128::from(u64::MAX)) as u64;
        h.sessions = h.sessions.saturating_add_signed(sessions);
        if h.bytes == 0 && h.sessions == 0 {
            held.remove(owner);
        }
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

    fn record(&self, key: &str, state: Option<&State>) -> Result<(), Refused> {
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        journal
            .append(key, &state)
            .map_err(|e| io_failed(&format!("recording session {key}"), e))
    }

    fn save(&self, key: &str, state: &State) -> Result<(), Refused> {
        self.record(key, Some(state))
    }

    fn store_piece(&self, key: &str, offset: u64, staged: Staged) -> Result<(), Refused> {
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
        self.charge(&state.owner, -i128::from(state.length()), -1);
    }

    /// `upload_session/start` for `owner` (a token's digest). `Err` is an
    /// `UploadSessionStartError`.
    pub fn start(
        &self,
        owner: &str,
        kind: SessionType,
        close: bool,
        staged: Staged,
    ) -> Result<String, Refused> {
        if kind == SessionType::Concurrent {
            if staged.size > 0 {
                return Err(lookup("concurrent_session_data_not_allowed").into());
            }
            if close {
                return Err(lookup("concurrent_session_close_not_allowed").into());
            }
        }
        self.create(owner, kind, close, staged)
    }

    /// A closed session holding `staged`: what a failed `files/upload` hands back so the
    /// client can retry the commit with `upload_session/finish`.
    pub fn create_closed(&self, owner: &str, staged: Staged) -> Result<String, Refused> {
        self.create(owner, SessionType::Sequential, true, staged)
    }

    fn create(
        &self,
        owner: &str,
        kind: SessionType,
        close: bool,
        staged: Staged,
    ) -> Result<String, Refused> {
        self.admit(owner, staged.size, true)?;
        let key = format!("{:032x}", rand::random::<u128>());
        let Staged { temp, size, hasher } = staged;
        let now = self.clock.now();
        let state = State {
            kind,
            created: now,
            closed: close,
            len: size,
            pieces: Vec::new(),
            owner: owner.to_string(),
            touched: now,
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
        self.charge(owner, i128::from(size), 1);
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
    ) -> Result<Begin, Refused> {
        let Some((key, slot)) = self.slot(&cursor.session_id) else {
            return Ok(Begin::Staged);
        };
        let guard = slot.lock_owned().await;
        let Some(live) = guard
            .as_ref()
            .filter(|l| !self.expired(&l.state) && l.state.kind == SessionType::Sequential)
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
    pub fn appended(&self, mut d: Direct, size: u64, close: bool) -> Result<(), Refused> {
        let live = d.live();
        let end = match live.state.len.checked_add(size) {
            Some(end) if end <= MAX_SESSION_BYTES => end,
            _ => return Err(lookup("too_large").into()),
        };
        let mut next = live.state.clone();
        next.len = end;
        next.closed |= close;
        next.touched = self.clock.now();
        self.save(&d.key, &next)?;
        self.charge(&next.owner, i128::from(size), 0);
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
    ) -> Result<FileMetadata, Refused> {
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
    ) -> Result<(), Refused> {
        let (key, slot) = self
            .slot(&cursor.session_id)
            .ok_or_else(|| lookup("not_found"))?;
        let mut guard = slot.lock().await;
        let state = match guard.as_mut() {
            Some(l) if !self.expired(&l.state) && l.state.kind == SessionType::Concurrent => {
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
        if !cursor.offset.is_multiple_of(block) {
            return Err(lookup("concurrent_session_invalid_offset").into());
        }
        if !close && !staged.size.is_multiple_of(block) {
            return Err(lookup("concurrent_session_invalid_data_size").into());
        }
        let mut next = state.clone();
        next.closed |= close;
        next.touched = self.clock.now();
        next.pieces.retain(|p| p.offset != cursor.offset);
        if staged.size > 0 {
            next.pieces.push(Piece {
                offset: cursor.offset,
                len: staged.size,
                blocks: staged.hasher.clone().into_blocks().to_hex(),
            });
            self.store_piece(&key, cursor.offset, staged)?;
        }
        self.save(&key, &next)?;
        let grown = i128::from(next.length()) - i128::from(state.length());
        self.charge(&next.owner, grown, 0);
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
    ) -> Result<Staged, Refused> {
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
    async fn assemble(&self, key: &str, pieces: &[Piece]) -> Result<Staged, Refused> {
        let piece_path = |p: &Piece| self.piece_path(key, p.offset);
        match pieces {
            [only] => self
                .link_staged(&piece_path(only), only.len, None)
                .await
                .map_err(|e| io_failed("staging a session piece", e)),
            pieces => {
                let parts: Vec<PathBuf> = pieces.iter().map(piece_path).collect();
                // Digests line up only if every piece but the last is whole blocks.
                let (_, body) = pieces.split_last().expect("several pieces");
                let aligned = body.iter().all(|p| p.len.is_multiple_of(BLOCK_SIZE as u64));
                // One digest (64 hex digits) a block; none kept by an older emulator.
                let whole =
                    |p: &Piece| p.blocks.len() as u64 == 64 * p.len.div_ceil(BLOCK_SIZE as u64);
                let digests = |p: &Piece| BlockDigests::from_hex(&p.blocks).filter(|_| whole(p));
                let blocks =
                    aligned.then(|| pieces.iter().map(digests).collect::<Option<Vec<_>>>());
                let known = blocks.flatten().map(|b| ContentHasher::of_blocks(&b));
                staging::concat(&self.tmp, &parts, known)
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
    ) -> Result<FileMetadata, Refused> {
        let (key, slot) = self
            .slot(&cursor.session_id)
            .ok_or_else(|| finish_lookup(lookup("not_found")))?;
        let mut guard = slot.lock().await;
        let live = match guard.as_mut() {
            Some(l) if !self.expired(&l.state) => l,
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
    ) -> Result<FileMetadata, Refused> {
        let meta = commit(whole).map_err(|r| match r.failed {
            Refused::Api(write_error) => Refused::Api(json!({".tag": "path", "path": write_error})),
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

    const HOUR: Duration = Duration::from_secs(3600);

    fn staged(dir: &Path, data: &[u8]) -> Staged {
        let mut hasher = ContentHasher::new();
        hasher.update(data);
        let temp = tempfile::NamedTempFile::new_in(dir)
            .unwrap()
            .into_temp_path();
        fs::write(&temp, data).unwrap();
        Staged {
            temp,
            size: data.len() as u64,
            hasher: Box::new(hasher),
        }
    }

    /// Issue 17: abandoned sessions were kept for 7 days with no limit per token.
    #[test]
    fn a_token_is_held_to_its_limit_and_abandoned_sessions_are_swept() {
        let root = tempfile::tempdir().unwrap();
        let tmp = root.path().join("tmp");
        fs::create_dir_all(&tmp).unwrap();
        let sessions = Sessions::open(root.path(), &tmp, HOUR, 10, Arc::default()).unwrap();
        let seq = SessionType::Sequential;
        sessions
            .start("a", seq, false, staged(&tmp, b"123456"))
            .unwrap();
        let refused = sessions.start("a", seq, false, staged(&tmp, b"12345"));
        assert!(matches!(refused, Err(Refused::Api(v)) if v[".tag"] == "insufficient_space"));
        // Another token has its own limit.
        sessions
            .start("b", seq, false, staged(&tmp, b"12345"))
            .unwrap();
        sessions.sweep(-1);
        assert!(sessions.held.lock().unwrap().is_empty());
        let files: Vec<_> = fs::read_dir(root.path().join("sessions"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1, "only the journal is left: {files:?}");
        sessions
            .start("a", seq, false, staged(&tmp, b"12345"))
            .unwrap();
    }

    #[test]
    fn sessions_expire_by_the_clock() {
        let root = tempfile::tempdir().unwrap();
        let tmp = root.path().join("tmp");
        fs::create_dir_all(&tmp).unwrap();
        let clock = Arc::new(Clock::default());
        let sessions = Sessions::open(root.path(), &tmp, HOUR, 10, clock.clone()).unwrap();
        let seq = SessionType::Sequential;
        sessions.start("a", seq, false, staged(&tmp, b"1")).unwrap();
        let open = || sessions.held.lock().unwrap().len();
        // A second short of its lifetime (real time may tick one more), it lives.
        clock.advance(HOUR - Duration::from_secs(1));
        sessions.sweep(i64::MAX);
        assert_eq!(open(), 1);
        clock.advance(Duration::from_secs(2));
        sessions.sweep(i64::MAX);
        assert_eq!(open(), 0);
    }

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
