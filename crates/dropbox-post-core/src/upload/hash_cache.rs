//! Remembered content hashes, so that a re-run reads only the files that changed.
//!
//! As git's index and restic's parent snapshot do: a file whose size and `Stamp` (device,
//! inode, mtime and ctime to the nanosecond) are exactly as when it was hashed still holds
//! those bytes. One cache file per local root, in the user's cache folder; losing it costs
//! only time. A hash is kept only for a file last changed well before it was read: a write
//! within the same timestamp tick would not move its ctime ("racy" entries, in git's words).
//! Each entry is signed with a key derived from the credential, as the upload journal is: a
//! cache file someone else wrote (a CI cache restored from another branch, an edited file)
//! could otherwise make a changed file look unchanged; unsigned entries are forgotten.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::walk::{LocalFile, Stamp};
use crate::seal::{Credential, DerivedKey};
use dropbox_post_files::{AtomicFile, Existing};

/// A cache file bigger than this (some million files) is ignored, not read.
const MAX_CACHE_FILE: u64 = 512 << 20;

/// Overrides where cache files go (default: `$XDG_CACHE_HOME/dropbox-post`, else
/// `~/.cache/dropbox-post`).
pub const CACHE_DIR_ENV: &str = "DROPBOX_POST_CACHE_DIR";
/// 2: entries are signed.
const VERSION: u32 = 2;
/// Coarser than the timestamps of any file system we may meet (FAT's are 2 s).
const RACY: Duration = Duration::from_secs(2);
/// Debug builds (the tests') only: seconds the cache's clock runs ahead of real time, so a
/// test's files, written just now, count as older than [`RACY`] without waiting it out. A
/// release build ignores it: nothing a user sets may make the cache trust a racy entry.
pub const TEST_CLOCK_ENV: &str = "DROPBOX_POST_TEST_CACHE_CLOCK_SECS";

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    root: PathBuf,
    files: HashMap<String, Known>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Known {
    size: u64,
    stamp: Stamp,
    hash: String,
    /// [`DerivedKey::sign`] of [`Known::signed`].
    mac: String,
}

impl Known {
    /// What the MAC covers: the entry and where it is of.
    fn signed(root: &Path, rel: &str, size: u64, stamp: Stamp, hash: &str) -> Vec<u8> {
        serde_json::to_vec(&(root, rel, size, stamp, hash)).expect("plain data serializes")
    }

    /// Whether `file`, as walked, is the version this hash is of.
    fn fits(&self, file: &LocalFile) -> bool {
        file.size == self.size && file.stamp == Some(self.stamp)
    }
}

pub struct HashCache {
    /// Where it is kept; `None` when disabled.
    path: Option<PathBuf>,
    root: PathBuf,
    /// Signs what is learned; `None` until [`HashCache::verified`], and nothing is known or
    /// learned without it.
    key: Option<DerivedKey>,
    known: HashMap<String, Known>,
    learned: Mutex<HashMap<String, Known>>,
    /// Before any file was read.
    started: SystemTime,
}

/// The cache folder from the environment, if there is one.
pub fn default_dir() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var(CACHE_DIR_ENV) {
        return Some(dir);
    }
    let base = var("XDG_CACHE_HOME")
        .filter(|d| d.is_absolute())
        .or_else(|| var("HOME").map(|h| h.join(".cache")))?;
    Some(base.join("dropbox-post"))
}

/// The key that signs the hashes remembered for uploads made with `credential`.
pub fn hash_key(credential: &Credential) -> DerivedKey {
    credential.derive_key("dropbox-post hash cache v1")
}

impl HashCache {
    /// Remembers nothing: every file is hashed.
    pub fn disabled() -> HashCache {
        HashCache {
            path: None,
            root: PathBuf::new(),
            key: None,
            known: HashMap::new(),
            learned: Mutex::new(HashMap::new()),
            started: SystemTime::now(),
        }
    }

    /// The hashes remembered for `root` (a folder, or a single file) in `dir`, believed only
    /// once [`HashCache::verified`]; an unreadable or foreign cache file counts as empty.
    pub fn open(dir: &Path, root: &Path) -> HashCache {
        Self::open_at(dir, root, now())
    }

    pub(super) fn open_at(dir: &Path, root: &Path, started: SystemTime) -> HashCache {
        let (root, path) = cache_file(dir, "hashes", root, "json");
        let known = match dropbox_post_files::read_bounded(&path, MAX_CACHE_FILE) {
            Ok(bytes) => match serde_json::from_slice::<Saved>(&bytes) {
                Ok(saved) if saved.version == VERSION && saved.root == root => saved.files,
                Ok(_) => HashMap::new(),
                Err(e) => {
                    tracing::debug!("ignoring the hash cache {}: {e}", path.display());
                    HashMap::new()
                }
            },
            Err(_) => HashMap::new(),
        };
        HashCache {
            path: Some(path),
            root,
            key: None,
            known,
            learned: Mutex::new(HashMap::new()),
            started,
        }
    }

    /// Keeps only the entries signed with `key` ([`hash_key`]), and signs with it what is
    /// learned from now on.
    pub fn verified(mut self, key: DerivedKey) -> HashCache {
        let before = self.known.len();
        let root = &self.root;
        self.known.retain(|rel, k| {
            key.verify(&Known::signed(root, rel, k.size, k.stamp, &k.hash), &k.mac)
        });
        if self.known.len() < before {
            tracing::debug!(
                "{} remembered hashes for {} were not written with this credential \
                 (altered, or another's); hashing those files again",
                before - self.known.len(),
                root.display()
            );
        }
        self.key = Some(key);
        self
    }

    /// The content hash of `file` as walked, if it was hashed before and has not changed.
    pub fn known(&self, file: &LocalFile) -> Option<&str> {
        self.key.as_ref()?;
        let known = self.known.get(&file.rel)?;
        known.fits(file).then_some(known.hash.as_str())
    }

    /// Remember `hash` for `file` as walked, unless it changed too recently to be sure.
    pub fn learn(&self, file: &LocalFile, hash: &str) {
        let (Some(stamp), Some(key), Some(_)) = (file.stamp, &self.key, &self.path) else {
            return;
        };
        let changed = at(stamp.mtime.max(stamp.ctime));
        if changed + RACY >= self.started {
            return;
        }
        let signed = Known::signed(&self.root, &file.rel, file.size, stamp, hash);
        let known = Known {
            size: file.size,
            stamp,
            hash: hash.to_owned(),
            mac: key.sign(&signed),
        };
        (self.learned.lock().expect("hash cache poisoned")).insert(file.rel.clone(), known);
    }

    /// Keep what is known of `files` (the tree just walked; others are forgotten). Writes
    /// only when something changed; `Ok(true)` when it wrote.
    pub fn save(&self, files: &[LocalFile]) -> std::io::Result<bool> {
        let (Some(path), Some(_)) = (&self.path, &self.key) else {
            return Ok(false);
        };
        let learned = std::mem::take(&mut *self.learned.lock().expect("hash cache poisoned"));
        if learned.is_empty()
            && files.len() == self.known.len()
            && files.iter().all(|f| self.known(f).is_some())
        {
            return Ok(false);
        }
        let files: HashMap<String, Known> = files
            .iter()
            .filter_map(|f| {
                let known = learned.get(&f.rel).or_else(|| self.known.get(&f.rel))?;
                known.fits(f).then(|| (f.rel.clone(), known.clone()))
            })
            .collect();
        if files == self.known {
            return Ok(false);
        }
        let dir = path.parent().expect("the cache file is in a folder");
        create_private_dir(dir)?;
        let saved = Saved {
            version: VERSION,
            root: self.root.clone(),
            files,
        };
        let mut file = AtomicFile::new(path)?;
        let mut out = std::io::BufWriter::new(file.file());
        serde_json::to_writer(&mut out, &saved)?;
        out.flush()?;
        drop(out);
        file.commit(Existing::Replace)?;
        Ok(true)
    }
}

/// The canonical `root`, and the file in `dir/kind/` that keeps what is known of it.
pub(super) fn cache_file(dir: &Path, kind: &str, root: &Path, ext: &str) -> (PathBuf, PathBuf) {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let name = hex::encode(&Sha256::digest(root.to_string_lossy().as_bytes())[..16]);
    let path = dir.join(kind).join(format!("{name}.{ext}"));
    (root, path)
}

/// When a run starts, by the cache's clock ([`TEST_CLOCK_ENV`]).
fn now() -> SystemTime {
    let ahead = cfg!(debug_assertions)
        .then(|| std::env::var(TEST_CLOCK_ENV).ok()?.parse().ok())
        .flatten()
        .unwrap_or(0);
    SystemTime::now() + Duration::from_secs(ahead)
}

fn at((secs, nanos): (i64, i64)) -> SystemTime {
    let secs = u64::try_from(secs).unwrap_or(0);
    UNIX_EPOCH + Duration::new(secs, u32::try_from(nanos).unwrap_or(0))
}

/// The cache lists local file names: only the user may read it.
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A credential's key, for tests that need the cache to remember.
#[cfg(test)]
pub(super) fn test_key(token: &str) -> DerivedKey {
    hash_key(&Credential::from_cleartext(token.as_bytes()).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache folder, and a tree holding `files` (name, bytes) at the returned paths.
    fn tree<const N: usize>(
        files: [(&str, &[u8]); N],
    ) -> (tempfile::TempDir, tempfile::TempDir, [PathBuf; N]) {
        let (cache_dir, tree) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let paths = files.map(|(name, bytes)| {
            let path = tree.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        });
        (cache_dir, tree, paths)
    }

    fn walked(path: &Path) -> LocalFile {
        let rel = path.file_name().unwrap().to_str().unwrap().to_owned();
        LocalFile::new(path, rel, &std::fs::metadata(path).unwrap())
    }

    /// As if the run started a minute from now, so that files just written are not racy.
    fn later(dir: &Path, root: &Path) -> HashCache {
        HashCache::open_at(dir, root, SystemTime::now() + Duration::from_secs(60))
            .verified(test_key("token"))
    }

    #[test]
    fn a_hash_is_remembered_until_the_file_changes() {
        let (cache_dir, tree, [a, b]) = tree([("a", b"one"), ("b", b"two")]);
        let cache = later(cache_dir.path(), tree.path());
        let files = [walked(&a), walked(&b)];
        assert_eq!(cache.known(&files[0]), None);
        cache.learn(&files[0], "hash-a");
        cache.learn(&files[1], "hash-b");
        assert!(cache.save(&files).unwrap());

        let cache = later(cache_dir.path(), tree.path());
        assert_eq!(cache.known(&walked(&a)), Some("hash-a"));
        assert!(!cache.save(&files).unwrap(), "nothing new: no write");

        // Same size, new bytes: ctime moves (past the file system's timestamp tick).
        std::thread::sleep(Duration::from_millis(30));
        std::fs::write(&a, b"ONE").unwrap();
        assert_eq!(cache.known(&walked(&a)), None);
        // Replaced by another file: a new inode.
        let c = tree.path().join("c");
        std::fs::write(&c, b"two").unwrap();
        std::fs::rename(&c, &b).unwrap();
        assert_eq!(cache.known(&walked(&b)), None);
        // A touch with the old mtime still moves ctime.
        let b_walked = walked(&b);
        cache.learn(&b_walked, "hash-b2");
        assert!(cache.save(&[walked(&a), b_walked.clone()]).unwrap());
        let cache = later(cache_dir.path(), tree.path());
        assert_eq!(cache.known(&b_walked), Some("hash-b2"));
        std::thread::sleep(Duration::from_millis(30));
        let f = std::fs::File::options().write(true).open(&b).unwrap();
        f.set_modified(b_walked.modified).unwrap();
        assert_eq!(walked(&b).modified, b_walked.modified);
        assert_eq!(cache.known(&walked(&b)), None);
    }

    #[test]
    fn files_changed_just_before_the_run_are_not_remembered() {
        let (cache_dir, tree, [a]) = tree([("a", b"one")]);
        let open = || HashCache::open(cache_dir.path(), tree.path()).verified(test_key("token"));
        let cache = open();
        cache.learn(&walked(&a), "hash-a");
        assert!(!cache.save(&[walked(&a)]).unwrap());
        assert_eq!(open().known(&walked(&a)), None);
    }

    #[test]
    fn only_entries_signed_with_this_credential_are_believed() {
        let (cache_dir, tree, [a, b]) = tree([("a", b"one"), ("b", b"two")]);
        let files = [walked(&a), walked(&b)];
        let cache = later(cache_dir.path(), tree.path());
        cache.learn(&files[0], "hash-a");
        cache.learn(&files[1], "hash-b");
        assert!(cache.save(&files).unwrap());
        let path = cache.path.clone().unwrap();

        // Another credential's cache (or one read before the credential was opened).
        let open = |token| {
            HashCache::open_at(cache_dir.path(), tree.path(), SystemTime::now())
                .verified(test_key(token))
        };
        assert_eq!(open("other").known(&files[0]), None);
        let unverified = HashCache::open(cache_dir.path(), tree.path());
        assert_eq!(unverified.known(&files[0]), None);
        unverified.learn(&files[0], "hash-a");
        assert!(
            !unverified.save(&files).unwrap(),
            "nothing is written unsigned"
        );

        // A forged hash is not believed; the untouched entry still is.
        let text = std::fs::read_to_string(&path).unwrap();
        let mut saved: serde_json::Value = serde_json::from_str(&text).unwrap();
        saved["files"]["a"]["hash"] = "forged".into();
        std::fs::write(&path, saved.to_string()).unwrap();
        let cache = open("token");
        assert_eq!(cache.known(&files[0]), None);
        assert_eq!(cache.known(&files[1]), Some("hash-b"));
    }

    #[test]
    fn files_gone_from_the_tree_are_forgotten() {
        let (cache_dir, tree, [a, b]) = tree([("a", b"one"), ("b", b"two")]);
        let cache = later(cache_dir.path(), tree.path());
        cache.learn(&walked(&a), "hash-a");
        cache.learn(&walked(&b), "hash-b");
        cache.save(&[walked(&a), walked(&b)]).unwrap();
        assert!(
            later(cache_dir.path(), tree.path())
                .save(&[walked(&b)])
                .unwrap()
        );
        let cache = later(cache_dir.path(), tree.path());
        assert_eq!(cache.known(&walked(&a)), None);
        assert_eq!(cache.known(&walked(&b)), Some("hash-b"));
    }

    #[test]
    fn each_root_has_its_own_cache_and_a_bad_file_is_ignored() {
        let cache_dir = tempfile::tempdir().unwrap();
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(one.path().join("a"), b"x").unwrap();
        std::fs::write(two.path().join("a"), b"x").unwrap();
        let cache = later(cache_dir.path(), one.path());
        let a = walked(&one.path().join("a"));
        cache.learn(&a, "hash-a");
        cache.save(std::slice::from_ref(&a)).unwrap();
        let other = later(cache_dir.path(), two.path());
        assert_eq!(other.known(&walked(&two.path().join("a"))), None);

        for bad in ["", "{", "[1,2]", r#"{"version":99,"root":"/","files":{}}"#] {
            let path = later(cache_dir.path(), one.path()).path.unwrap();
            std::fs::write(&path, bad).unwrap();
            let cache = later(cache_dir.path(), one.path());
            assert_eq!(cache.known(&a), None, "{bad:?}");
            cache.learn(&a, "hash-a");
            assert!(cache.save(std::slice::from_ref(&a)).unwrap());
        }
    }

    #[test]
    fn a_disabled_cache_remembers_nothing() {
        let (_cache_dir, _tree, [a]) = tree([("a", b"one")]);
        let cache = HashCache::disabled();
        cache.learn(&walked(&a), "hash-a");
        assert!(!cache.save(&[walked(&a)]).unwrap());
        assert_eq!(cache.known(&walked(&a)), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_cache_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let (cache_dir, tree, [a]) = tree([("a", b"one")]);
        let cache = later(&cache_dir.path().join("new"), tree.path());
        cache.learn(&walked(&a), "hash-a");
        cache.save(&[walked(&a)]).unwrap();
        let path = cache.path.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&path), 0o600);
    }
}
