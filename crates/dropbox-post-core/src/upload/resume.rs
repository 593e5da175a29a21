//! Uploads that outlive the process: for each big file in flight, the upload session, what
//! Dropbox has acknowledged and the identity of the local file are journalled in the cache
//! folder (`uploads/<root>.jsonl`, beside the remembered hashes), so that a later `post` of
//! the same file to the same place continues the session instead of starting from byte 0.
//!
//! Nothing half-old half-new can be committed: a session is continued only for the very
//! version of the file it was started with (same size, device, inode, mtime and ctime, the
//! hash cache's rule), and only after the bytes Dropbox holds are proved to be the file's
//! own: each record carries the content hash of the file up to the acknowledged offset and
//! up to the end of the append then in flight, Dropbox says which of the two it holds
//! (`incorrect_offset`), and the file's prefix is read again locally and must hash the same.
//! Any doubt (another offset, an expired or unknown session) means a fresh session.
//!
//! Whoever may write the cache folder must not decide what is committed: rewriting an
//! entry's stamp and hashes to match a changed file would otherwise pass both checks and
//! commit the old file's prefix with the new file's rest. So each entry carries an
//! HMAC-SHA256 under a key derived from the credential the upload goes out with (never
//! stored), over the journal's root, the entry's file and destination and its state. An
//! entry that does not verify (altered, forged, copied from another root, or written under
//! another credential) is not continued: the file is uploaded afresh, with a line at `-v`.
//!
//! The journal holds local names, sizes, file identities, Dropbox paths, upload session ids,
//! content hashes and MACs: no credential. It is private (0600, in a 0700 folder); deleting
//! it only costs a resumable upload its progress.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::hash_cache::{cache_file, create_private_dir};
use super::plan::PlannedFile;
use super::walk::Stamp;
use crate::seal::{Credential, DerivedKey};
use dropbox_post_files::journal::Journal;
use dropbox_wire::path::key;

/// Dropbox forgets an upload session 7 days after it starts; an entry is dropped a little
/// before, rather than probed in vain.
const KEEP_SECS: i64 = 7 * 24 * 3600 - 600;

/// What is known of one upload in progress.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    pub session_id: String,
    /// When the session started, Unix seconds.
    pub created: i64,
    /// The local file as it was when the session started.
    pub size: u64,
    pub stamp: Stamp,
    /// The bytes Dropbox acknowledged, and the content hash of the file's first `acked`.
    pub acked: u64,
    pub acked_hash: String,
    /// The append in flight when this was written: where it ends, and the content hash of
    /// the file up to there. Dropbox may hold it whole although we never heard back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending: Option<(u64, String)>,
    /// A concurrent session's pieces Dropbox acknowledged, in the order it did; `None` for
    /// a sequential session, whose bytes are the first `acked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pieces: Option<Vec<AckedPiece>>,
    /// A concurrent session's piece size (the chunk size of the run that started it): its
    /// pieces, acknowledged or not, lie where that size puts them. A run with another size
    /// would lay its own across them, and the session could not be finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub piece_size: Option<u64>,
}

/// A piece of a concurrent session that Dropbox holds: where, and its bytes' content hash.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AckedPiece {
    pub offset: u64,
    pub len: u64,
    pub hash: String,
}

/// An entry as journalled: the state, and its MAC ([`Inner::sign`]).
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Signed {
    #[serde(flatten)]
    saved: Saved,
    /// Empty in an entry written before entries were signed: it is not continued.
    #[serde(default)]
    mac: String,
}

/// The key that signs the upload journals of uploads made with `credential`.
pub fn journal_key(credential: &Credential) -> DerivedKey {
    credential.derive_key("dropbox-post upload journal v1")
}

/// The journal of one local root (a folder, or a single file).
pub struct UploadJournal {
    inner: Option<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    /// The canonical local root, which every MAC covers.
    root: PathBuf,
    key: DerivedKey,
    /// Opened (and created) at the first record, so that a run of small files, which
    /// journals nothing, writes nothing either.
    journal: Option<Journal>,
    /// It could not be opened: this run journals nothing (said once, in the debug log).
    unusable: bool,
    /// The live entries, by [`entry_key`], verified only when asked for.
    saved: HashMap<String, Signed>,
}

fn entry_key(file: &PlannedFile) -> String {
    format!("{}\n{}", file.local.rel, key(&file.remote))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl UploadJournal {
    /// Remembers nothing: every upload starts afresh (`--no-resume`, no cache folder).
    pub fn disabled() -> UploadJournal {
        UploadJournal { inner: None }
    }

    /// The uploads journalled for `root` under `dir`, signed with `key` ([`journal_key`]);
    /// an unusable journal (unreadable, another user's) disables resuming for this run, with
    /// a note in the debug log. The journal is created only when there is something to
    /// journal.
    pub fn open(dir: &Path, root: &Path, key: DerivedKey) -> UploadJournal {
        let (root, path) = cache_file(dir, "uploads", root, "jsonl");
        match Self::load(&path, root, key) {
            Ok(inner) => UploadJournal {
                inner: Some(Mutex::new(inner)),
            },
            Err(e) => {
                tracing::debug!("not resuming uploads: {}: {e}", path.display());
                UploadJournal::disabled()
            }
        }
    }

    fn load(path: &Path, root: PathBuf, key: DerivedKey) -> std::io::Result<Inner> {
        let mut inner = Inner {
            path: path.to_path_buf(),
            root,
            key,
            journal: None,
            unusable: false,
            saved: HashMap::new(),
        };
        if path.exists() {
            inner.open()?;
        }
        Ok(inner)
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The upload of `file` to continue, if one was journalled, with this credential, for
    /// this very version of it.
    pub fn find(&self, file: &PlannedFile) -> Option<Saved> {
        let inner = self.lock()?;
        let key = entry_key(file);
        let signed = inner.saved.get(&key)?;
        if !inner
            .key
            .verify(&inner.signed_bytes(&key, &signed.saved), &signed.mac)
        {
            tracing::info!(
                "{}: its entry in the upload journal {} was not written with this credential \
                 (altered, or another's); uploading it afresh",
                file.local.rel,
                inner.path.display()
            );
            return None;
        }
        let saved = &signed.saved;
        let same = saved.size == file.local.size && file.local.stamp == Some(saved.stamp);
        same.then(|| saved.clone())
    }

    /// Journals the state of `file`'s upload.
    pub fn record(&self, file: &PlannedFile, saved: &Saved) {
        if let Some(mut inner) = self.lock() {
            inner.write(entry_key(file), Some(saved.clone()));
        }
    }

    /// `file` was committed (or found unchanged): nothing left to continue.
    pub fn forget(&self, file: &PlannedFile) {
        if let Some(mut inner) = self.lock() {
            let key = entry_key(file);
            if inner.saved.contains_key(&key) {
                inner.write(key, None);
            }
        }
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, Inner>> {
        let inner = self.inner.as_ref()?;
        Some(inner.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Drop for Inner {
    /// A journal with nothing left to continue is removed, so that every root ever posted
    /// does not leave an empty file in the cache. A killed run never gets here: its
    /// records stay for the next one.
    fn drop(&mut self) {
        if self.journal.take().is_some() && self.saved.is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Inner {
    /// Replays (and compacts) the journal, creating it if need be.
    fn open(&mut self) -> std::io::Result<&mut Journal> {
        if self.journal.is_none() {
            create_private_dir(self.path.parent().unwrap_or(Path::new(".")))?;
            let fresh = |s: &Option<Signed>| {
                s.as_ref()
                    .is_some_and(|s| now() - s.saved.created < KEEP_SECS)
            };
            let (journal, saved) = Journal::open(&self.path, fresh)?;
            self.saved = (saved.into_iter())
                .filter_map(|(k, s)| Some((k, s?)))
                .collect();
            self.journal = Some(journal);
        }
        Ok(self.journal.as_mut().expect("opened above"))
    }

    /// What an entry's MAC covers: the root, the entry's key and its state.
    fn signed_bytes(&self, key: &str, saved: &Saved) -> Vec<u8> {
        let covered = (self.root.to_string_lossy(), key, saved);
        serde_json::to_vec(&covered).expect("strings and numbers always serialize")
    }

    fn write(&mut self, key: String, saved: Option<Saved>) {
        let saved = saved.map(|saved| Signed {
            mac: self.key.sign(&self.signed_bytes(&key, &saved)),
            saved,
        });
        // Losing a record costs only the resumption; the upload itself goes on.
        if !self.unusable
            && let Err(e) = self.open().and_then(|j| j.append(&key, &saved))
        {
            tracing::debug!("journalling uploads in {}: {e}", self.path.display());
            self.unusable = self.journal.is_none();
        }
        match saved {
            Some(saved) => self.saved.insert(key, saved),
            None => self.saved.remove(&key),
        };
    }
}

impl Saved {
    /// A new session for `file`, holding its first `acked` bytes; `None` for a file the
    /// platform cannot identify (no `Stamp`), which could not be proved the same later.
    pub fn started(file: &PlannedFile, session_id: &str, acked: u64, hash: &str) -> Option<Saved> {
        Some(Saved {
            session_id: session_id.to_string(),
            created: now(),
            size: file.local.size,
            stamp: file.local.stamp?,
            acked,
            acked_hash: hash.to_string(),
            sending: None,
            pieces: None,
            piece_size: None,
        })
    }

    /// A new concurrent session for `file` in pieces of `piece_size`, holding none yet
    /// (`None` as for [`Saved::started`]).
    pub fn concurrent(file: &PlannedFile, session_id: &str, piece_size: u64) -> Option<Saved> {
        let saved = Saved::started(file, session_id, 0, "")?;
        Some(Saved {
            pieces: Some(Vec::new()),
            piece_size: Some(piece_size),
            ..saved
        })
    }
}

/// Where the journal of `root` lives under `dir` (for tests and docs).
pub fn journal_path(dir: &Path, root: &Path) -> PathBuf {
    cache_file(dir, "uploads", root, "jsonl").1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::walk::LocalFile;
    use dropbox_wire::types::WriteMode;

    fn planned(path: &Path, remote: &str) -> PlannedFile {
        PlannedFile {
            local: LocalFile::new(path, "big.bin".into(), &std::fs::metadata(path).unwrap()),
            remote: remote.into(),
            mode: WriteMode::Overwrite,
            unchanged_if: None,
            replaces: None,
        }
    }

    fn saved(file: &PlannedFile, acked: u64) -> Saved {
        Saved::started(file, "pid_upload_session:abc", acked, "h").unwrap()
    }

    fn key(token: &str) -> DerivedKey {
        journal_key(&Credential::from_cleartext(token.as_bytes()).unwrap())
    }

    /// A cache folder, a tree holding `big.bin`, the file's path there and a journal of it.
    fn fixture() -> (tempfile::TempDir, tempfile::TempDir, PathBuf, UploadJournal) {
        let (cache, tree) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let path = tree.path().join("big.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let resume = UploadJournal::open(cache.path(), tree.path(), key("sl.A"));
        (cache, tree, path, resume)
    }

    #[cfg(unix)]
    #[test]
    fn an_upload_is_found_again_only_for_the_same_file_and_destination() {
        let (cache, tree, path, resume) = fixture();
        let file = planned(&path, "/Dest/big.bin");
        assert_eq!(resume.find(&file), None);
        resume.record(&file, &saved(&file, 4));
        let mut later = saved(&file, 4);
        later.sending = Some((8, "h8".into()));
        resume.record(&file, &later);
        drop(resume);

        // Another run: the last record wins; the destination's case does not matter.
        let resume = UploadJournal::open(cache.path(), tree.path(), key("sl.A"));
        assert_eq!(resume.find(&planned(&path, "/dest/BIG.bin")), Some(later));
        assert_eq!(resume.find(&planned(&path, "/other/big.bin")), None);
        // A changed file is another version: not continued.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"0123456780").unwrap();
        assert_eq!(resume.find(&planned(&path, "/Dest/big.bin")), None);

        use std::os::unix::fs::PermissionsExt;
        let journal = journal_path(cache.path(), tree.path());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&journal), 0o600);
        assert_eq!(mode(journal.parent().unwrap()), 0o700);

        // Committed: nothing left to continue, and no empty journal left behind.
        resume.forget(&file);
        drop(resume);
        assert!(!journal.exists());
        let again = UploadJournal::open(cache.path(), tree.path(), key("sl.A"));
        assert_eq!(again.find(&file), None);
    }

    #[cfg(unix)]
    #[test]
    fn an_entry_altered_or_of_another_credential_is_not_continued() {
        let (cache, tree, path, resume) = fixture();
        let file = planned(&path, "/d/big.bin");
        resume.record(&file, &saved(&file, 4));
        drop(resume);
        let open = |token| UploadJournal::open(cache.path(), tree.path(), key(token));
        assert!(open("sl.A").find(&file).is_some());
        assert_eq!(open("sl.B").find(&file), None, "another credential's");
        let journal = journal_path(cache.path(), tree.path());
        let text = std::fs::read_to_string(&journal).unwrap();
        for (from, to) in [
            ("\"acked\":4", "\"acked\":5"),
            ("\"mac\":\"", "\"mac\":\"0"),
        ] {
            std::fs::write(&journal, text.replace(from, to)).unwrap();
            assert_eq!(open("sl.A").find(&file), None, "{to}");
        }
        // Unsigned, as written before entries were signed.
        let unsigned = text.split(",\"mac\"").next().unwrap().to_string() + "}}\n";
        std::fs::write(&journal, unsigned).unwrap();
        assert_eq!(open("sl.A").find(&file), None);
        // Copied to the journal of another root holding the very same file (a hard link).
        let other = tempfile::tempdir().unwrap();
        std::fs::hard_link(&path, other.path().join("big.bin")).unwrap();
        let file = planned(&path, "/d/big.bin");
        let there = planned(&other.path().join("big.bin"), "/d/big.bin");
        assert_eq!(file.local.stamp, there.local.stamp);
        open("sl.A").record(&file, &saved(&file, 4));
        assert!(open("sl.A").find(&file).is_some());
        std::fs::copy(&journal, journal_path(cache.path(), other.path())).unwrap();
        let resume = UploadJournal::open(cache.path(), other.path(), key("sl.A"));
        assert_eq!(resume.find(&there), None, "another root's");
    }

    #[cfg(unix)]
    #[test]
    fn sessions_near_dropboxs_seven_days_are_dropped() {
        let (cache, tree, path, resume) = fixture();
        let file = planned(&path, "/d/big.bin");
        let mut old = saved(&file, 4);
        old.created -= KEEP_SECS;
        resume.record(&file, &old);
        drop(resume);
        let again = UploadJournal::open(cache.path(), tree.path(), key("sl.A"));
        assert_eq!(again.find(&file), None);
        assert!(!UploadJournal::disabled().enabled());
        UploadJournal::disabled().record(&file, &old);
    }

    #[test]
    fn nothing_is_written_until_something_is_journalled() {
        let (cache, _tree, path, resume) = fixture();
        resume.forget(&planned(&path, "/d/big.bin"));
        assert!(resume.enabled());
        assert!(!cache.path().join("uploads").exists());
    }
}
