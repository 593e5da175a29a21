//! The namespace: files as ordinary files under `ROOT/files/<display path>`, metadata in an
//! append-only journal (`ROOT/journal.jsonl`, one JSON node per line, compacted at start).
//!
//! A file's earlier revisions (the last [`KEPT_REVISIONS`]) live in its node; their bytes are
//! kept once per content as `ROOT/revisions/<content hash>`, a hard link to the replaced
//! file (a copy where links are not supported), counted so that the last revision to go
//! takes them along. A deleted file's revisions go with it.
//!
//! Every change takes the one namespace lock for a rename and a journal line; file data is
//! staged outside the lock (see `staging`), so parallel uploads only serialize their commits.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tempfile::TempPath;

use super::paths::{self, DbxPath, Malformed, name_of};
use super::staging::{self, Staged};
use dropbox_post_files::journal::Journal;
use dropbox_wire::types::{
    CommitInfo, DeletedMetadata, FileMetadata, FolderMetadata, Metadata, WriteMode,
};

/// What the namespace holds at a lower-cased path. Deleted entries stay as tombstones so
/// `list_folder/continue` can report them.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Node {
    pub display: String,
    /// Position in the change history; cursors remember the last one they saw.
    pub seq: u64,
    pub kind: Kind,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    File(FileInfo),
    Folder { id: String },
    Deleted,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct FileInfo {
    pub id: String,
    pub rev: String,
    pub size: u64,
    pub content_hash: String,
    pub client_modified: String,
    pub server_modified: String,
    /// Earlier revisions, newest first (absent in roots written before they were kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Revision>,
}

/// An earlier revision of a file; its bytes are `ROOT/revisions/<content_hash>`.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Revision {
    pub rev: String,
    pub size: u64,
    pub content_hash: String,
    pub client_modified: String,
    pub server_modified: String,
}

/// Earlier revisions kept per file, besides its current one.
pub const KEPT_REVISIONS: usize = 10;

impl FileInfo {
    fn revision(&self) -> Revision {
        Revision {
            rev: self.rev.clone(),
            size: self.size,
            content_hash: self.content_hash.clone(),
            client_modified: self.client_modified.clone(),
            server_modified: self.server_modified.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |e| StoreError::Io(what, e)
}

/// Why a change did not happen.
#[derive(Debug)]
pub enum Refused {
    /// The route's error union (409).
    Api(Value),
    /// A local I/O failure, already logged (500).
    Internal,
}

impl From<Value> for Refused {
    fn from(v: Value) -> Self {
        Refused::Api(v)
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> Refused {
    tracing::error!("{what}: {e}");
    Refused::Internal
}

/// A commit that did not happen, with its data, which the caller may keep.
pub struct Rejected {
    pub failed: Refused,
    pub staged: Staged,
}

pub struct Store {
    files: PathBuf,
    /// Earlier revisions' bytes, by content hash.
    revisions: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    nodes: BTreeMap<String, Node>,
    seq: u64,
    journal: Journal,
    /// How many kept revisions use each file of `revisions`, by content hash.
    blobs: BTreeMap<String, usize>,
}

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn new_id() -> String {
    format!("id:{}", random_token(22))
}

fn malformed(m: Malformed) -> Value {
    json!({".tag": "malformed_path", "malformed_path": m.0})
}

pub fn conflict(what: &str) -> Value {
    json!({".tag": "conflict", "conflict": {".tag": what}})
}

fn not_found() -> Value {
    json!({".tag": "not_found"})
}

/// What a write should do at its target.
enum Decision {
    Write { reuse_id: Option<String> },
    Unchanged(FileMetadata),
    Conflict(&'static str),
}

impl Node {
    pub fn is_live(&self) -> bool {
        !matches!(self.kind, Kind::Deleted)
    }

    pub fn metadata(&self, lower: &str) -> Metadata {
        let name = name_of(&self.display).to_string();
        let (path_lower, path_display) = (Some(lower.to_string()), Some(self.display.clone()));
        match &self.kind {
            Kind::File(f) => Metadata::File(file_metadata(f, name, path_lower, path_display)),
            Kind::Folder { id } => Metadata::Folder(FolderMetadata {
                name,
                id: id.clone(),
                path_lower,
                path_display,
            }),
            Kind::Deleted => Metadata::Deleted(DeletedMetadata {
                name,
                path_lower,
                path_display,
            }),
        }
    }
}

fn file_metadata(
    f: &FileInfo,
    name: String,
    path_lower: Option<String>,
    path_display: Option<String>,
) -> FileMetadata {
    FileMetadata {
        name,
        id: f.id.clone(),
        client_modified: f.client_modified.clone(),
        server_modified: f.server_modified.clone(),
        rev: f.rev.clone(),
        size: f.size,
        path_lower,
        path_display,
        is_downloadable: true,
        content_hash: Some(f.content_hash.clone()),
    }
}

impl Store {
    /// Opens (or creates) the namespace under `root`, replaying and compacting the journal.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let (files, revisions) = (root.join("files"), root.join("revisions"));
        for dir in [&files, &revisions] {
            fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let (journal, nodes) = Journal::open::<Node>(&root.join("journal.jsonl"), |_| true)
            .map_err(io("replaying the journal"))?;
        let seq = nodes.values().map(|n| n.seq).max().unwrap_or(0);
        let mut blobs = BTreeMap::new();
        for node in nodes.values() {
            if let Kind::File(f) = &node.kind {
                for r in &f.history {
                    *blobs.entry(r.content_hash.clone()).or_insert(0) += 1;
                }
            }
        }
        // What no revision uses: left by a crash between keeping bytes and recording them.
        let listing = fs::read_dir(&revisions).map_err(io("listing the kept revisions"))?;
        for entry in listing.flatten() {
            if !blobs.contains_key(&*entry.file_name().to_string_lossy()) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Store {
            files,
            revisions,
            inner: Mutex::new(Inner {
                nodes,
                seq,
                journal,
                blobs,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied change: each change is
        // one journal line written before the in-memory map is updated.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Flushes the journal to disk (graceful shutdown).
    pub fn sync(&self) -> Result<(), StoreError> {
        let inner = self.lock();
        let path = inner.journal.path().display().to_string();
        inner.journal.sync().map_err(io(format!("syncing {path}")))
    }

    fn disk_path(&self, display: &str) -> PathBuf {
        self.files.join(display.trim_start_matches('/'))
    }

    /// Commits staged data at `info.path` under Dropbox's write-mode rules. With `corrupt`
    /// (a fault), what is written has one byte flipped, and its metadata says so.
    pub fn commit(
        &self,
        info: &CommitInfo,
        staged: Staged,
        corrupt: bool,
    ) -> Result<FileMetadata, Rejected> {
        let reject = |error: Value, staged: Staged| {
            Err(Rejected {
                failed: Refused::Api(error),
                staged,
            })
        };
        let path = match DbxPath::parse(&info.path) {
            Ok(p) => p,
            Err(m) => return reject(malformed(m), staged),
        };
        let mut inner = self.lock();
        if inner.file_ancestor(&path) {
            return reject(conflict("file_ancestor"), staged);
        }
        let (path, reuse_id) = match inner.decide(&path, &info.mode, info.strict_conflict, &staged)
        {
            Decision::Write { reuse_id } => (path, reuse_id),
            Decision::Unchanged(meta) => return Ok(meta),
            Decision::Conflict(what) if !info.autorename => return reject(conflict(what), staged),
            Decision::Conflict(_) => match inner.autorename(&path, &info.mode, &staged) {
                Some(Ok(p)) => (p, None),
                Some(Err(meta)) => return Ok(meta),
                None => return reject(conflict("file"), staged),
            },
        };
        let staged = match corrupt {
            true => match staging::corrupted(&staged) {
                Ok(damaged) => damaged,
                Err(e) => {
                    return Err(Rejected {
                        failed: internal("corrupting a commit (fault)", e),
                        staged,
                    });
                }
            },
            false => staged,
        };
        let parent_display = inner.make_parents(&path);
        let display = match inner.live(&path.lower) {
            Some(existing) => existing.display.clone(),
            None => format!("{parent_display}/{}", path.name()),
        };
        let content_hash = staged.content_hash();
        let Staged { temp, size, hasher } = staged;
        let server_modified = now();
        let file = FileInfo {
            id: reuse_id.unwrap_or_else(new_id),
            rev: inner.next_rev(),
            size,
            content_hash,
            client_modified: (info.client_modified.clone())
                .unwrap_or_else(|| server_modified.clone()),
            server_modified,
            history: Vec::new(),
        };
        self.place(&mut inner, path.lower, display, temp, file)
            .map_err(|(failed, temp)| Rejected {
                failed,
                staged: Staged { temp, size, hasher },
            })
    }

    /// Puts `temp` in place as `file` at `lower` (shown as `display`, its parents made),
    /// keeping the file it replaces as its newest earlier revision. On failure, `temp`
    /// comes back.
    fn place(
        &self,
        inner: &mut Inner,
        lower: String,
        display: String,
        temp: TempPath,
        mut file: FileInfo,
    ) -> Result<FileMetadata, (Refused, TempPath)> {
        let disk = self.disk_path(&display);
        let replaced = match inner.live(&lower).map(|n| &n.kind) {
            Some(Kind::File(old)) => Some(old.clone()),
            _ => None,
        };
        if let Some(old) = &replaced
            && let Err(e) = self.retain(inner, &old.content_hash, &disk)
        {
            return Err((internal(&format!("keeping {}", disk.display()), e), temp));
        }
        let placed = match disk.parent().map_or(Ok(()), fs::create_dir_all) {
            Ok(()) => temp.persist(&disk).map_err(|e| (e.error, e.path)),
            Err(e) => Err((e, temp)),
        };
        if let Err((e, temp)) = placed {
            if let Some(old) = &replaced {
                self.release(inner, &old.content_hash);
            }
            return Err((internal(&format!("placing {}", disk.display()), e), temp));
        }
        if let Some(old) = replaced {
            file.history = std::iter::once(old.revision()).chain(old.history).collect();
            let kept = file.history.len().min(KEPT_REVISIONS);
            for dropped in file.history.split_off(kept) {
                self.release(inner, &dropped.content_hash);
            }
        }
        let meta = file_metadata(
            &file,
            name_of(&display).to_string(),
            Some(lower.clone()),
            Some(display.clone()),
        );
        inner.put(lower, display, Kind::File(file));
        Ok(meta)
    }

    fn blob(&self, content_hash: &str) -> PathBuf {
        self.revisions.join(content_hash)
    }

    /// One more kept revision holds the bytes hashing to `content_hash`, now at `disk`.
    fn retain(&self, inner: &mut Inner, content_hash: &str, disk: &Path) -> std::io::Result<()> {
        let count = inner.blobs.get(content_hash).copied().unwrap_or(0);
        if count == 0 {
            let blob = self.blob(content_hash);
            let _ = fs::remove_file(&blob);
            fs::hard_link(disk, &blob).or_else(|_| fs::copy(disk, &blob).map(drop))?;
        }
        inner.blobs.insert(content_hash.to_string(), count + 1);
        Ok(())
    }

    /// One kept revision less holds those bytes; the last one removes them.
    fn release(&self, inner: &mut Inner, content_hash: &str) {
        match inner.blobs.get_mut(content_hash) {
            Some(count) if *count > 1 => *count -= 1,
            _ => {
                inner.blobs.remove(content_hash);
                if let Err(e) = fs::remove_file(self.blob(content_hash)) {
                    tracing::warn!("removing the kept revision {content_hash}: {e}");
                }
            }
        }
    }

    /// `restore`: revision `rev` of the file at `path` (one of its kept revisions) becomes
    /// its newest, as a new revision. `Err` is a `RestoreError`.
    pub fn restore(&self, path: &str, rev: &str) -> Result<FileMetadata, Refused> {
        let path = DbxPath::parse(path)
            .map_err(|m| json!({".tag": "path_lookup", "path_lookup": malformed(m)}))?;
        let invalid = || Refused::Api(json!({".tag": "invalid_revision"}));
        let mut inner = self.lock();
        let node = inner.live(&path.lower).cloned().ok_or_else(invalid)?;
        let current = match &node.kind {
            Kind::File(f) => f.clone(),
            _ => {
                return Err(json!({".tag": "path_write", "path_write": conflict("folder")}).into());
            }
        };
        if current.rev == rev {
            return match node.metadata(&path.lower) {
                Metadata::File(meta) => Ok(meta),
                _ => Err(invalid()),
            };
        }
        let old = (current.history.iter())
            .find(|r| r.rev == rev)
            .cloned()
            .ok_or_else(invalid)?;
        let copied = tempfile::NamedTempFile::new_in(&self.revisions).and_then(|mut copy| {
            std::io::copy(&mut File::open(self.blob(&old.content_hash))?, &mut copy)?;
            Ok(copy.into_temp_path())
        });
        let temp = copied.map_err(|e| internal(&format!("restoring {rev}"), e))?;
        let file = FileInfo {
            id: current.id,
            rev: inner.next_rev(),
            size: old.size,
            content_hash: old.content_hash,
            client_modified: old.client_modified,
            server_modified: now(),
            history: Vec::new(),
        };
        self.place(&mut inner, path.lower, node.display, temp, file)
            .map_err(|(failed, _)| failed)
    }

    /// `list_revisions`: the file's revisions, newest first, at most `limit`. `Err` is a
    /// `LookupError`.
    pub fn revisions(&self, path: &str, limit: usize) -> Result<Vec<FileMetadata>, Value> {
        let inner = self.lock();
        let lower = inner.resolve(path)?;
        let node = inner.live(&lower).ok_or_else(not_found)?;
        let Kind::File(current) = &node.kind else {
            return Err(json!({".tag": "not_file"}));
        };
        let earlier = current.history.iter().map(|r| FileInfo {
            id: current.id.clone(),
            rev: r.rev.clone(),
            size: r.size,
            content_hash: r.content_hash.clone(),
            client_modified: r.client_modified.clone(),
            server_modified: r.server_modified.clone(),
            history: Vec::new(),
        });
        let name = name_of(&node.display);
        let listed = std::iter::once(current.clone()).chain(earlier).take(limit);
        Ok(listed
            .map(|f| {
                let (lower, display) = (Some(lower.clone()), Some(node.display.clone()));
                file_metadata(&f, name.to_string(), lower, display)
            })
            .collect())
    }

    /// `create_folder_v2`: a new folder (and its parents). `Err` is a `WriteError`.
    pub fn create_folder(&self, path: &str, autorename: bool) -> Result<FolderMetadata, Refused> {
        let path = DbxPath::parse(path).map_err(malformed)?;
        let mut inner = self.lock();
        let path = inner.free_target(path, autorename)?;
        let parent = inner.make_parents(&path);
        let display = format!("{parent}/{}", path.name());
        let disk = self.disk_path(&display);
        fs::create_dir_all(&disk)
            .map_err(|e| internal(&format!("creating {}", disk.display()), e))?;
        let id = new_id();
        inner.put(
            path.lower.clone(),
            display.clone(),
            Kind::Folder { id: id.clone() },
        );
        Ok(FolderMetadata {
            name: path.name().to_string(),
            id,
            path_lower: Some(path.lower),
            path_display: Some(display),
        })
    }

    /// `delete_v2`: the metadata as it was. `Err` is a `DeleteError`.
    ///
    /// With `parent_rev`, only a file at that revision is deleted. Dropbox documents the
    /// field ("does not support deleting a folder") but not its errors; `DeleteError` has
    /// no member of its own for them, so a file at another revision is the write conflict
    /// an `update` write meets (`path_write/conflict/file`), and a folder is `path_lookup/
    /// not_file` (a file was expected).
    pub fn delete(&self, path: &str, parent_rev: Option<&str>) -> Result<Metadata, Refused> {
        let mut inner = self.lock();
        let lower = inner
            .resolve(path)
            .map_err(|e| json!({".tag": "path_lookup", "path_lookup": e}))?;
        let node = inner
            .live(&lower)
            .cloned()
            .ok_or_else(|| json!({".tag": "path_lookup", "path_lookup": not_found()}))?;
        match (&node.kind, parent_rev) {
            (Kind::File(file), Some(rev)) if file.rev != rev => {
                return Err(json!({".tag": "path_write", "path_write": conflict("file")}).into());
            }
            (Kind::Folder { .. }, Some(_)) => {
                let not_file = json!({".tag": "not_file"});
                return Err(json!({".tag": "path_lookup", "path_lookup": not_file}).into());
            }
            _ => {}
        }
        let disk = self.disk_path(&node.display);
        let removed = match &node.kind {
            Kind::Folder { .. } => fs::remove_dir_all(&disk),
            _ => fs::remove_file(&disk),
        };
        if let Err(e) = removed.or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        }) {
            return Err(internal(&format!("removing {}", disk.display()), e));
        }
        let doomed: Vec<(String, Node)> = live_below(&inner.nodes, &lower)
            .map(|(k, n)| (k.clone(), n.clone()))
            .chain(std::iter::once((lower.clone(), node.clone())))
            .collect();
        for (k, gone) in doomed {
            if let Kind::File(f) = &gone.kind {
                for r in &f.history {
                    self.release(&mut inner, &r.content_hash);
                }
            }
            inner.put(k, gone.display, Kind::Deleted);
        }
        Ok(node.metadata(&lower))
    }

    /// `copy_v2` (`copy`) or `move_v2`: what is at `from` (a path or `id:`), with
    /// everything below a folder, to the path `to`, creating its parents. A copy gets new
    /// ids and revs; a move keeps them and leaves deletions at the old paths (which
    /// `list_folder/continue` reports). Returns the new metadata; `Err` is a
    /// `RelocationError`.
    pub fn relocate(
        &self,
        from: &str,
        to: &str,
        autorename: bool,
        copy: bool,
    ) -> Result<Metadata, Refused> {
        let at = |tag: &str, error: Value| json!({".tag": tag, tag: error});
        let mut inner = self.lock();
        let from_lower = inner.resolve(from).map_err(|e| at("from_lookup", e))?;
        let source = inner
            .live(&from_lower)
            .cloned()
            .ok_or_else(|| at("from_lookup", not_found()))?;
        let target = DbxPath::parse(to).map_err(|m| at("to", malformed(m)))?;
        let is_folder = matches!(source.kind, Kind::Folder { .. });
        if target.lower == from_lower {
            return Err(json!({".tag": "duplicated_or_nested_paths"}).into());
        }
        if is_folder && target.lower.starts_with(&format!("{from_lower}/")) {
            let tag = if copy {
                "duplicated_or_nested_paths"
            } else {
                "cant_move_folder_into_itself"
            };
            return Err(json!({ ".tag": tag }).into());
        }
        let target = inner
            .free_target(target, autorename)
            .map_err(|e| at("to", e))?;
        let parent = inner.make_parents(&target);
        let display = format!("{parent}/{}", target.name());
        let (src, dst) = (self.disk_path(&source.display), self.disk_path(&display));
        let placed = dst
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| match (copy, is_folder) {
                (false, _) => fs::rename(&src, &dst),
                (true, false) => fs::copy(&src, &dst).map(drop),
                (true, true) => copy_tree(&src, &dst),
            });
        placed.map_err(|e| internal(&format!("placing {}", dst.display()), e))?;
        let nodes: Vec<(String, Node)> = std::iter::once((from_lower.clone(), source.clone()))
            .chain(live_below(&inner.nodes, &from_lower).map(|(k, n)| (k.clone(), n.clone())))
            .collect();
        for (key, node) in nodes {
            // Children's display paths start with their folder's, as `make_parents` keeps
            // an existing folder's casing.
            let new_key = format!("{}{}", target.lower, &key[from_lower.len()..]);
            let new_display = format!("{display}{}", &node.display[source.display.len()..]);
            let kind = match node.kind {
                Kind::File(f) if copy => {
                    let server_modified = now();
                    // A copy starts a history of its own.
                    Kind::File(FileInfo {
                        id: new_id(),
                        rev: inner.next_rev(),
                        server_modified,
                        history: Vec::new(),
                        ..f
                    })
                }
                Kind::Folder { .. } if copy => Kind::Folder { id: new_id() },
                kind => kind,
            };
            inner.put(new_key, new_display, kind);
            if !copy {
                inner.put(key, node.display, Kind::Deleted);
            }
        }
        Ok(inner.nodes[&target.lower].metadata(&target.lower))
    }

    /// `get_metadata`. `Err` is a `LookupError`.
    pub fn get(&self, path: &str, include_deleted: bool) -> Result<Metadata, Value> {
        let inner = self.lock();
        let lower = inner.resolve(path)?;
        match inner.nodes.get(&lower) {
            Some(n) if n.is_live() || include_deleted => Ok(n.metadata(&lower)),
            _ => Err(not_found()),
        }
    }

    /// A file to download, opened under the lock so a concurrent overwrite cannot mix
    /// versions. `Err` is a `LookupError`.
    pub fn open_file(&self, path: &str) -> Result<(FileMetadata, File), Value> {
        let inner = self.lock();
        let lower = inner.resolve(path)?;
        let node = inner.live(&lower).ok_or_else(not_found)?;
        let Metadata::File(meta) = node.metadata(&lower) else {
            return Err(json!({".tag": "not_file"}));
        };
        let file =
            dropbox_post_files::open_regular(&self.disk_path(&node.display)).map_err(|e| {
                tracing::error!("opening {}: {e}", node.display);
                not_found()
            })?;
        Ok((meta, file))
    }

    /// Runs `f` over the nodes under the lock (listing), with the newest change number.
    pub fn read<T>(&self, f: impl FnOnce(&BTreeMap<String, Node>, u64) -> T) -> T {
        let inner = self.lock();
        f(&inner.nodes, inner.seq)
    }

    /// The lower key of a folder to list (`""` for the root). `Err` is a `LookupError`.
    pub fn folder_key(&self, path: &str) -> Result<String, Value> {
        if path.is_empty() {
            return Ok(String::new());
        }
        let inner = self.lock();
        let lower = inner.resolve(path)?;
        match inner.live(&lower).map(|n| &n.kind) {
            Some(Kind::Folder { .. }) => Ok(lower),
            Some(_) => Err(json!({".tag": "not_folder"})),
            None => Err(not_found()),
        }
    }
}

/// The live nodes strictly below the folder `lower`, in key order.
pub fn live_below<'a>(
    nodes: &'a BTreeMap<String, Node>,
    lower: &str,
) -> impl Iterator<Item = (&'a String, &'a Node)> {
    let prefix = format!("{lower}/");
    nodes
        .range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .filter(|(_, n)| n.is_live())
}

impl Inner {
    fn live(&self, lower: &str) -> Option<&Node> {
        self.nodes.get(lower).filter(|n| n.is_live())
    }

    /// `/path`, `id:…` or `rev:…` → lower key. `Err` is a `LookupError`.
    fn resolve(&self, path: &str) -> Result<String, Value> {
        let found = |pred: &dyn Fn(&Node) -> bool| {
            self.nodes
                .iter()
                .find(|(_, n)| pred(n))
                .map(|(k, _)| k.clone())
                .ok_or_else(not_found)
        };
        if let Some(id) = path.strip_prefix("id:") {
            let id = format!("id:{id}");
            return found(&|n| match &n.kind {
                Kind::File(f) => f.id == id,
                Kind::Folder { id: fid } => *fid == id,
                Kind::Deleted => false,
            });
        }
        if let Some(rev) = path.strip_prefix("rev:") {
            return found(&|n| matches!(&n.kind, Kind::File(f) if f.rev == rev));
        }
        if path.starts_with("ns:") {
            return Err(not_found());
        }
        Ok(DbxPath::parse(path).map_err(malformed)?.lower)
    }

    /// A rev for the next change: its change number in hex, then random digits.
    fn next_rev(&self) -> String {
        format!("{:x}{:08x}", self.seq + 1, rand::random::<u32>())
    }

    fn file_ancestor(&self, path: &DbxPath) -> bool {
        path.ancestors_lower()
            .iter()
            .any(|a| matches!(self.live(a).map(|n| &n.kind), Some(Kind::File(_))))
    }

    fn decide(&self, path: &DbxPath, mode: &WriteMode, strict: bool, staged: &Staged) -> Decision {
        let node = self.live(&path.lower);
        let file = match node.map(|n| &n.kind) {
            None => {
                return match mode {
                    WriteMode::Update { .. } if strict => Decision::Conflict("file"),
                    _ => Decision::Write { reuse_id: None },
                };
            }
            Some(Kind::File(f)) => f,
            Some(_) => return Decision::Conflict("folder"),
        };
        let unchanged = || match node.map(|n| n.metadata(&path.lower)) {
            Some(Metadata::File(m)) => Decision::Unchanged(m),
            _ => Decision::Conflict("file"),
        };
        let identical = file.content_hash == staged.content_hash() && file.size == staged.size;
        let overwrite = Decision::Write {
            reuse_id: Some(file.id.clone()),
        };
        match mode {
            WriteMode::Overwrite if identical => unchanged(),
            WriteMode::Overwrite => overwrite,
            WriteMode::Update { update } if *update == file.rev => {
                if identical {
                    unchanged()
                } else {
                    overwrite
                }
            }
            _ if identical && !strict => unchanged(),
            _ => Decision::Conflict("file"),
        }
    }

    /// The first free autorename candidate; `Err` when a candidate already holds the same data.
    fn autorename(
        &self,
        path: &DbxPath,
        mode: &WriteMode,
        staged: &Staged,
    ) -> Option<Result<DbxPath, FileMetadata>> {
        let same = |p: &DbxPath| match self.live(&p.lower) {
            Some(n) => match &n.kind {
                Kind::File(f) if f.content_hash == staged.content_hash() => {
                    match n.metadata(&p.lower) {
                        Metadata::File(m) => Some(m),
                        _ => None,
                    }
                }
                _ => None,
            },
            None => None,
        };
        match mode {
            WriteMode::Update { .. } => self.free_name(path, "conflicted copy", &same),
            _ => self.free_name(path, "", &same),
        }
    }

    /// Where a new file or folder named `path` goes: `path` itself if free, else (with
    /// `autorename`) the next free `name (N)`. `Err` is the `WriteError` conflict.
    fn free_target(&self, path: DbxPath, autorename: bool) -> Result<DbxPath, Value> {
        if self.file_ancestor(&path) {
            return Err(conflict("file_ancestor"));
        }
        let Some(existing) = self.live(&path.lower) else {
            return Ok(path);
        };
        let what = match existing.kind {
            Kind::File(_) => "file",
            _ => "folder",
        };
        match autorename.then(|| self.free_name(&path, "", &|_| None)) {
            Some(Some(Ok(free))) => Ok(free),
            _ => Err(conflict(what)),
        }
    }

    /// `name (1).ext`, `name (2).ext`… or `name (conflicted copy).ext`, `… (conflicted copy 2)…`.
    fn free_name(
        &self,
        path: &DbxPath,
        label: &str,
        same: &dyn Fn(&DbxPath) -> Option<FileMetadata>,
    ) -> Option<Result<DbxPath, FileMetadata>> {
        for n in 1..10_000u32 {
            let suffix = match (label, n) {
                ("", n) => n.to_string(),
                (l, 1) => l.to_string(),
                (l, n) => format!("{l} {n}"),
            };
            let candidate = sibling(path, &paths::with_suffix(path.name(), &suffix))?;
            if let Some(m) = same(&candidate) {
                return Some(Err(m));
            }
            if self.live(&candidate.lower).is_none() {
                return Some(Ok(candidate));
            }
        }
        None
    }

    /// Creates missing ancestor folders; returns the parent's display path. An existing
    /// folder's casing wins over the request's.
    fn make_parents(&mut self, path: &DbxPath) -> String {
        let mut display = String::new();
        for key in path.ancestors_lower() {
            match self.live(&key) {
                Some(n) => display = n.display.clone(),
                None => {
                    let name = name_of(&path.display_prefix(&key)).to_string();
                    display = format!("{display}/{name}");
                    self.put(key, display.clone(), Kind::Folder { id: new_id() });
                }
            }
        }
        display
    }

    /// Records a change: journal line first, then memory.
    fn put(&mut self, lower: String, display: String, kind: Kind) {
        self.seq += 1;
        let node = Node {
            display,
            seq: self.seq,
            kind,
        };
        if let Err(e) = self.journal.append(&lower, &node) {
            tracing::error!("appending to the journal: {e}");
        }
        self.nodes.insert(lower, node);
    }
}

fn sibling(path: &DbxPath, name: &str) -> Option<DbxPath> {
    let parent = &path.display[..path.display.len() - path.name().len()];
    DbxPath::parse(&format!("{parent}{name}")).ok()
}

/// Copies folder `src` to a new folder `dst`, everything below it included.
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    fs::create_dir(dst)?;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else {
            fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}
