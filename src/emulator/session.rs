//! Upload sessions, spooled to `ROOT/sessions/<id>/` as one file per received piece plus a
//! `state.json`, so a restart keeps them. Sessions expire 7 days after they start.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::staging::{self, Staged};
use super::store::{Failed, Rejected};
use crate::dropbox::content_hash::BLOCK_SIZE;
use crate::dropbox::types::{FileMetadata, SessionType, UploadSessionCursor};

const PREFIX: &str = "pid_upload_session:";
const LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// The largest file a session may build: 2^41 − 2^22 bytes.
const MAX_SESSION_BYTES: u64 = (1 << 41) - (1 << 22);

#[derive(Serialize, Deserialize, Clone, Debug)]
struct State {
    kind: SessionType,
    /// Unix seconds.
    created: i64,
    closed: bool,
    pieces: Vec<Piece>,
}

/// One received request body, stored as `p-<offset>`.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Piece {
    offset: u64,
    len: u64,
    content_hash: String,
}

impl State {
    /// Sequential: bytes so far. Concurrent: end of the furthest piece.
    fn length(&self) -> u64 {
        self.pieces
            .iter()
            .map(|p| p.offset + p.len)
            .max()
            .unwrap_or(0)
    }

    fn expired(&self) -> bool {
        chrono::Utc::now().timestamp() - self.created > LIFETIME_SECS
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<State>>>;

pub struct Sessions {
    dir: PathBuf,
    tmp: PathBuf,
    live: Mutex<HashMap<String, Slot>>,
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
    /// Loads the sessions under `root/sessions`, dropping expired and unreadable ones.
    pub fn open(root: &Path, tmp: &Path) -> std::io::Result<Sessions> {
        let dir = root.join("sessions");
        fs::create_dir_all(&dir)?;
        let mut live = HashMap::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let key = entry.file_name().to_string_lossy().into_owned();
            let state = fs::read(entry.path().join("state.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<State>(&b).ok());
            match state {
                Some(s) if !s.expired() => {
                    live.insert(key, Arc::new(tokio::sync::Mutex::new(Some(s))));
                }
                _ => {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(Sessions {
            dir,
            tmp: tmp.to_path_buf(),
            live: Mutex::new(live),
        })
    }

    fn slot(&self, session_id: &str) -> Option<(String, Slot)> {
        let key = key_of(session_id)?;
        let map = self.live.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).map(|s| (key.to_string(), s.clone()))
    }

    fn save(&self, key: &str, state: &State) -> Result<(), Failed> {
        super::write_json_atomically(&self.dir.join(key).join("state.json"), state)
            .map_err(|e| io_failed(&format!("saving session {key}"), e))
    }

    fn store_piece(&self, key: &str, offset: u64, staged: Staged) -> Result<(), Failed> {
        let path = self.dir.join(key).join(format!("p-{offset:020}"));
        staged
            .temp
            .persist(&path)
            .map_err(|e| io_failed(&format!("storing a piece of session {key}"), e.error))
    }

    fn remove(&self, key: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        let _ = fs::remove_dir_all(self.dir.join(key));
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
        fs::create_dir_all(self.dir.join(&key))
            .map_err(|e| io_failed("creating a session directory", e))?;
        let mut state = State {
            kind,
            created: chrono::Utc::now().timestamp(),
            closed: close,
            pieces: Vec::new(),
        };
        if staged.size > 0 {
            state.pieces.push(Piece {
                offset: 0,
                len: staged.size,
                content_hash: staged.content_hash.clone(),
            });
            self.store_piece(&key, 0, staged)?;
        }
        self.save(&key, &state)?;
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), Arc::new(tokio::sync::Mutex::new(Some(state))));
        Ok(format!("{PREFIX}{key}"))
    }

    /// `upload_session/append_v2`. `Err` is an `UploadSessionAppendError`.
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
            Some(s) if !s.expired() => s,
            _ => return Err(lookup("not_found").into()),
        };
        // A concurrent session's pieces may arrive after the closing one, inside its length.
        let end = match cursor.offset.checked_add(staged.size) {
            Some(end) if end <= MAX_SESSION_BYTES => end,
            _ => return Err(lookup("too_large").into()),
        };
        let fits = state.kind == SessionType::Concurrent && end <= state.length();
        if state.closed && !fits {
            return Err(lookup("closed").into());
        }
        match state.kind {
            SessionType::Sequential => {
                if cursor.offset != state.length() {
                    return Err(incorrect_offset(state.length()).into());
                }
            }
            SessionType::Concurrent => {
                let block = BLOCK_SIZE as u64;
                if cursor.offset % block != 0 {
                    return Err(lookup("concurrent_session_invalid_offset").into());
                }
                if !close && staged.size % block != 0 {
                    return Err(lookup("concurrent_session_invalid_data_size").into());
                }
            }
        }
        let mut next = state.clone();
        next.closed |= close;
        next.pieces.retain(|p| p.offset != cursor.offset);
        if staged.size > 0 {
            next.pieces.push(Piece {
                offset: cursor.offset,
                len: staged.size,
                content_hash: staged.content_hash.clone(),
            });
            self.store_piece(&key, cursor.offset, staged)?;
        }
        self.save(&key, &next)?;
        *state = next;
        Ok(())
    }

    /// The session's data as one staged file. One piece (the usual batch upload: all data in
    /// `start`) or data only in `finish` is used as is; more pieces are copied together.
    async fn assemble(
        &self,
        key: &str,
        pieces: &[Piece],
        data: Option<Staged>,
    ) -> Result<Staged, Failed> {
        let dir = self.dir.join(key);
        let piece_path = |p: &Piece| dir.join(format!("p-{:020}", p.offset));
        match (pieces, data) {
            ([], Some(data)) => Ok(data),
            ([only], None) => {
                let link = self
                    .tmp
                    .join(format!("link-{:032x}", rand::random::<u128>()));
                let temp = fs::hard_link(piece_path(only), &link)
                    .and_then(|()| tempfile::TempPath::try_from_path(&link))
                    .map_err(|e| io_failed("linking a session piece", e))?;
                Ok(Staged {
                    temp,
                    size: only.len,
                    content_hash: only.content_hash.clone(),
                })
            }
            (pieces, data) => {
                let mut parts: Vec<PathBuf> = pieces.iter().map(piece_path).collect();
                parts.extend(data.as_ref().map(|d| d.temp.to_path_buf()));
                staging::concat(&self.tmp, &parts)
                    .await
                    .map_err(|e| io_failed("assembling a session", e))
            }
        }
    }

    /// `upload_session/finish` (with `data`) and each `finish_batch_v2` entry (`batch`):
    /// assembles the session and hands it to `commit`. The session is consumed only when the
    /// commit succeeds, so a refused commit can be retried. `Err` is an
    /// `UploadSessionFinishError`.
    pub async fn finish(
        &self,
        cursor: &UploadSessionCursor,
        data: Option<Staged>,
        batch: bool,
        commit: impl FnOnce(Staged) -> Result<FileMetadata, Rejected>,
    ) -> Result<FileMetadata, Failed> {
        let (key, slot) = self
            .slot(&cursor.session_id)
            .ok_or_else(|| finish_lookup(lookup("not_found")))?;
        let mut guard = slot.lock().await;
        let state = match guard.as_ref() {
            Some(s) if !s.expired() => s,
            _ => return Err(finish_lookup(lookup("not_found")).into()),
        };
        let data = data.filter(|d| d.size > 0);
        match state.kind {
            SessionType::Sequential => {
                if batch && !state.closed {
                    return Err(finish_lookup(lookup("not_closed")).into());
                }
                if data.is_some() && state.closed {
                    return Err(finish_lookup(lookup("closed")).into());
                }
            }
            SessionType::Concurrent => {
                if data.is_some() {
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
        let mut pieces = state.pieces.clone();
        pieces.sort_unstable_by_key(|p| p.offset);
        let mut end = 0;
        for p in &pieces {
            if p.offset != end {
                return Err(lookup("concurrent_session_missing_data").into());
            }
            end += p.len;
        }
        let whole = self.assemble(&key, &pieces, data).await?;
        let meta = commit(whole).map_err(|r| match r.failed {
            Failed::Api(write_error) => Failed::Api(json!({".tag": "path", "path": write_error})),
            internal => internal,
        })?;
        *guard = None;
        self.remove(&key);
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
