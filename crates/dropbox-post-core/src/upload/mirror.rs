//! `--delete`: after a run in which everything was sent, delete what a folder script's
//! `dest` holds with no local counterpart, so Dropbox mirrors the local tree. This module
//! is the one place that decides what a mirror may delete.
//!
//! **Candidates** come only from the listing of `dest` taken before the upload, once
//! [`vet`] has set aside every entry that is not a clean path strictly under `dest` (a
//! hostile or broken server's); `--dry-run` and the real run plan from the same vetted
//! listing. Kept: every path with a local counterpart (by Dropbox's case-insensitive key),
//! everything the script's filters leave out (as if it were local: a folder that is empty
//! on Dropbox by the empty-folder rule, so `--include '*.csv'` keeps empty folders),
//! everything another script of the run posts, everything under the `dest` of another
//! folder script or of a script switched off (option No) at or under this one, and any
//! folder that still holds something kept.
//!
//! **Deleting only what was listed.** Every file goes first, at the revision the listing
//! saw (`parent_rev`): one that a second writer replaced meanwhile is kept and reported
//! ("changed since it was listed"), not counted as a failure. Dropbox has no such guard for
//! folders, so each topmost folder to delete is then listed again, and a folder goes whole
//! (a second `files/delete_batch`) only when that listing shows it as the folder listed
//! (same id), holding nothing but folders the first listing had: what a second writer put
//! there or made anew, or a file that did not go, keeps it and every folder above it
//! (reported with the reason). What remains is the time from
//! that second listing to the folder's deletion, one batch request later: a file written
//! into such a folder in that moment goes with it. Outside it, nothing unlisted is
//! deleted, and a listed file never at another revision.
//!
//! **Safety nets**, refused with a reason (nothing deleted, the run exits 6): a `dest` of
//! `/` (the whole Dropbox; with `--root team` the member folder and the team folders), or
//! with `--root team` a folder at the top, without `--allow-root-mirror`; a local tree from which nothing but empty files and
//! dot-files was posted (an empty folder, a `.gitkeep` before the results are made, a mount
//! point whose disk is not mounted) that would delete something, without
//! `--allow-empty-mirror`; and a run whose mirrors together would delete more than
//! `--max-delete` files and folders.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::{StreamExt, stream};
use serde_json::Value;

use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::{ApiError, entry_failure};
use crate::dropbox::route_error::RouteError;
use dropbox_wire::limits::MAX_BATCH;
use dropbox_wire::path::key;
use dropbox_wire::types::{DeleteArg, DeleteBatchResultEntry, Metadata, is_rev};

use super::filter::Filter;
use super::plan::{self, remote_path};
use super::report::{Deletion, Kept};
use super::walk::LocalTree;

/// How a failed deletion's reason starts.
pub(super) const CANNOT_DELETE: &str = "cannot delete";

/// The reason a file that a second writer replaced is kept.
pub const CHANGED: &str = "changed since it was listed";

/// What one script of the run put under its `dest`, kept for the mirror at the end.
pub struct Posted {
    pub dest: String,
    /// A folder script (only those mirror; the others' paths are kept).
    pub folder: bool,
    /// Posted into a team's space (`--root team`), where each folder at the top is a whole
    /// team folder or the member's own folder.
    pub team: bool,
    /// Keys of what it posts: the local tree as Dropbox paths ([`posted_keys`]).
    pub keys: HashSet<String>,
    /// Whether it posts any result ([`holds_results`]).
    pub results: bool,
    /// Dropbox paths kept whole: where the walk skipped an entry (a FIFO, a socket), there
    /// locally, so its Dropbox namesake stays, a folder with all it holds.
    pub whole: Vec<String>,
    /// `dest` as listed before the upload; `None` if it could not be listed.
    pub listing: Option<HashMap<String, Metadata>>,
}

/// What the user allows a mirror beyond the defaults (`post`'s flags; never a config's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leave {
    /// `--allow-root-mirror`: a `dest` of `/` may be mirrored.
    pub root: bool,
    /// `--allow-empty-mirror`: a local tree that posted nothing may be mirrored.
    pub empty: bool,
    /// `--max-delete`: the most files and folders the whole run may delete.
    pub max_delete: usize,
}

/// The default of `--max-delete`.
pub const DEFAULT_MAX_DELETE: usize = 100;

impl Default for Leave {
    fn default() -> Self {
        Leave {
            root: false,
            empty: false,
            max_delete: DEFAULT_MAX_DELETE,
        }
    }
}

/// Why a mirror deletes nothing (the run then fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0} file(s) of this run failed; mirroring waits for a run where all are sent")]
    Failed(usize),
    #[error(
        "dest {0} is the whole Dropbox, a whole team folder or the member folder (/ and, with \
         --root team, each folder at the top): mirroring it needs --allow-root-mirror"
    )]
    Root(String),
    #[error(
        "nothing was posted but empty files and dot-files such as .gitkeep (results not made, \
         or a disk not mounted?), and the mirror would delete {} under {dest}: give \
         --allow-empty-mirror if that is what you want",
        things(*.count)
    )]
    Empty { dest: String, count: usize },
    #[error(
        "the run would delete {}, more than --max-delete {max}: see them with --dry-run \
         --max-delete {total}, then post with --max-delete {total} to delete them",
        things(*.total)
    )]
    OverLimit { total: usize, max: usize },
}

/// The deletions that mirror script `i` of the run, given what every script posted and
/// `disabled`, the `dest` of each script switched off; or why it may not mirror.
pub fn deletions(
    i: usize,
    posted: &[Posted],
    disabled: &[String],
    filter: &Filter,
    leave: Leave,
) -> Result<Deletions, Refused> {
    let this = &posted[i];
    let top = this.team && this.dest.matches('/').count() == 1;
    if (this.dest == "/" || top) && !leave.root {
        return Err(Refused::Root(this.dest.clone()));
    }
    let Some(listing) = &this.listing else {
        return Ok(Deletions::default());
    };
    let base = key(&this.dest);
    let mut kept = this.keys.clone();
    let mut nested: Vec<String> = (posted.iter())
        .flat_map(|p| p.whole.iter().cloned())
        .collect();
    for (_, other) in posted.iter().enumerate().filter(|&(j, _)| j != i) {
        kept.extend(other.keys.iter().cloned());
        // A folder script into the same `dest` keeps only its own files (above).
        if other.folder && under(&base, &key(&other.dest)) {
            nested.push(other.dest.clone());
        }
    }
    // What a script switched off posts is not known: all under its dest stays.
    let off = (disabled.iter()).filter(|d| key(d) == base || under(&base, &key(d)));
    nested.extend(off.cloned());
    let listing = vet(&this.dest, listing);
    let deletions = plan(&this.dest, &listing, &kept, &nested, filter);
    if !this.results && !deletions.all.is_empty() && !leave.empty {
        let (dest, count) = (this.dest.clone(), deletions.all.len());
        return Err(Refused::Empty { dest, count });
    }
    Ok(deletions)
}

/// Why a run whose mirrors would delete `total` files and folders deletes none, if that
/// is more than `max`.
pub fn over_limit(total: usize, max: usize) -> Option<Refused> {
    (total > max).then_some(Refused::OverLimit { total, max })
}

/// `1 file or folder`, `3 files and folders`.
fn things(n: usize) -> String {
    match n {
        1 => "1 file or folder".into(),
        n => format!("{n} files and folders"),
    }
}

/// Whether a walked tree holds a result: a file neither empty nor a dot-file. What a fresh
/// clone holds before the results are made (`.gitkeep`, `.dropboxignore`) is no reason to
/// empty `dest`.
pub fn holds_results(tree: &LocalTree) -> bool {
    (tree.files.iter())
        .any(|f| f.size > 0 && !f.rel.rsplit('/').next().unwrap_or("").starts_with('.'))
}

/// The Dropbox keys (see `dropbox::path::key`) of everything a script posts under `dest`:
/// its files and the folders on their way, and its empty folders. (What the walk skipped
/// is kept through [`Posted::whole`].)
pub fn posted_keys(dest: &str, tree: &LocalTree) -> HashSet<String> {
    let rels = tree.files.iter().map(|f| f.rel.as_str());
    let rels = rels.chain(tree.empty_dirs.iter().map(String::as_str));
    let mut keys = HashSet::new();
    for rel in rels {
        keys.insert(key(&remote_path(dest, rel)));
        for (i, _) in rel.match_indices('/') {
            keys.insert(key(&remote_path(dest, &rel[..i])));
        }
    }
    keys
}

/// A listed file or folder the mirror may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Listed {
    /// As Dropbox displays it: what is deleted and reported.
    display: String,
    /// A file's revision as listed; `None` for a folder.
    rev: Option<String>,
    /// Dropbox's id: a folder deleted and made again, or moved there, is another folder.
    id: String,
}

/// A listing with every entry that is not a clean path strictly under its folder set
/// aside: the only candidates a mirror ever has.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Vetted {
    /// By key, so that a folder comes right before its contents.
    entries: BTreeMap<String, Listed>,
    /// What was set aside, as the server spelled it (reported with `-v`).
    pub hostile: Vec<String>,
    /// The id of `folder` itself, if the listing showed it as a folder (a recursive listing
    /// starts so).
    itself: Option<String>,
}

/// The one check of a listing of `folder` before a mirror plans from it: an entry is a
/// candidate only if its `path_lower` and `path_display` are both given, name the same
/// entry (Dropbox's key), hold no empty, `.` or `..` segment (also between `\`), lie
/// strictly under `folder`, and, for a file, carry a revision `parent_rev` can name.
pub fn vet(folder: &str, listing: &HashMap<String, Metadata>) -> Vetted {
    let base = key(folder);
    let clean = |p: &str| {
        let segments = p.strip_prefix('/').map(|rest| rest.split(['/', '\\']));
        segments.is_some_and(|mut s| s.all(|s| !s.is_empty() && s != "." && s != ".."))
    };
    let mut out = Vetted::default();
    for meta in listing.values() {
        let (lower, display, rev, id) = match meta {
            Metadata::File(f) => (&f.path_lower, &f.path_display, Some(&f.rev), &f.id),
            Metadata::Folder(f) => (&f.path_lower, &f.path_display, None, &f.id),
            Metadata::Deleted(_) => continue,
        };
        // A recursive listing starts with the folder itself.
        let itself = |p: &Option<String>| p.as_deref().is_some_and(|p| key(p) == base);
        if rev.is_none() && itself(lower) && itself(display) {
            out.itself = Some(id.clone());
            continue;
        }
        let candidate = match (lower, display) {
            (Some(lower), Some(display))
                if clean(lower)
                    && clean(display)
                    && key(lower) == key(display)
                    && under(&base, &key(lower))
                    && rev.is_none_or(|r| is_rev(r)) =>
            {
                Some((key(lower), display))
            }
            _ => None,
        };
        match candidate {
            Some((k, display)) => {
                let listed = Listed {
                    display: display.clone(),
                    rev: rev.cloned(),
                    id: id.clone(),
                };
                out.entries.insert(k, listed);
            }
            None => out.hostile.push(
                (display.as_deref().or(lower.as_deref()))
                    .unwrap_or("(no path)")
                    .to_string(),
            ),
        }
    }
    out.hostile.sort();
    out
}

/// What one mirror would delete.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Deletions {
    /// Every file and folder that goes, parents first (what a dry run lists).
    pub all: Vec<Deletion>,
    /// The candidates by key: files with their listed revision, folders.
    candidates: BTreeMap<String, Listed>,
    /// What the listing offered that is no path under `dest` (see [`vet`]).
    pub hostile: Vec<String>,
}

/// What under `dest` to delete. `listing`: `dest` as listed before the upload, vetted;
/// `kept`: keys of what this run posts (this script's files and folders, and other
/// scripts'); `nested`: folders at or under `dest` kept whole (other scripts' `dest`).
fn plan(
    dest: &str,
    listing: &Vetted,
    kept: &HashSet<String>,
    nested: &[String],
    filter: &Filter,
) -> Deletions {
    let depth = dest.split('/').filter(|s| !s.is_empty()).count();
    let nested: Vec<String> = nested.iter().map(|d| key(d)).collect();
    let in_nested = |k: &str| nested.iter().any(|n| k == n || under(n, k));
    let holds_any = |k: &str| {
        let inside = format!("{k}/");
        (listing.entries.range(inside.clone()..).next())
            .is_some_and(|(n, _)| n.starts_with(&inside))
    };
    let mut keep: HashSet<&str> = HashSet::new();
    for (k, listed) in &listing.entries {
        let rel: Vec<&str> = listed
            .display
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let rel = rel[depth..].join("/");
        let folder = listed.rev.is_none();
        // A folder empty on Dropbox is what an empty local folder would be: the filter's
        // rule for those decides (with includes, only one they match is posted).
        let left_out = filter.excluded_path(&rel, folder).is_some()
            || (folder && !holds_any(k) && filter.excluded_empty_dir(&rel).is_some());
        if kept.contains(k) || in_nested(k) || left_out {
            keep.insert(k);
        }
    }
    // A folder holding anything kept stays; so do the folders above another script's dest.
    let holds: HashSet<String> = (keep.iter().copied())
        .chain(nested.iter().map(String::as_str))
        .flat_map(|k| k.match_indices('/').map(move |(i, _)| k[..i].to_string()))
        .collect();
    let mut out = Deletions {
        hostile: listing.hostile.clone(),
        ..Deletions::default()
    };
    for (k, listed) in &listing.entries {
        let folder = listed.rev.is_none();
        if keep.contains(k.as_str()) || (folder && holds.contains(k)) {
            continue;
        }
        out.all.push(Deletion {
            remote: listed.display.clone(),
            folder,
        });
        out.candidates.insert(k.clone(), listed.clone());
    }
    out
}

/// Whether key `k` is strictly inside the folder of key `folder` (`/` or `""`: the root).
fn under(folder: &str, k: &str) -> bool {
    let folder = folder.trim_end_matches('/');
    k.len() > folder.len() + 1 && k.starts_with(folder) && k.as_bytes()[folder.len()] == b'/'
}

/// What a mirror did: deleted (with `--dry-run`: would delete), kept although planned (a
/// second writer got there first, or it holds what could not go), and could not delete,
/// each with the reason.
#[derive(Debug, Default)]
pub struct Done {
    pub deleted: Vec<Deletion>,
    pub kept: Vec<Kept>,
    pub failed: Vec<(String, String)>,
}

/// How many folders are listed again at once: the sooner all are listed, the shorter the
/// time between a folder's listing and the batch that deletes it.
const RELISTS: usize = 8;

/// Carries out `deletions` (with `dry_run`, only reports them), in two steps. First every
/// file, each at the revision listed (`parent_rev`): Dropbox refuses one replaced since.
/// Then each topmost folder is listed again, and those in it that now hold nothing but
/// folders the first listing had (everything listed in them went in the first step) go
/// whole, in a second batch. A path already gone counts as deleted. The error is one that
/// stopped the run.
pub async fn run(
    client: &DropboxClient,
    deletions: Deletions,
    dry_run: bool,
) -> Result<Done, ApiError> {
    if dry_run {
        return Ok(Done {
            deleted: deletions.all,
            ..Done::default()
        });
    }
    let candidates = &deletions.candidates;
    let mut done = Done::default();
    let mut gone: HashSet<String> = HashSet::new();
    let files = (candidates.values()).filter(|l| l.rev.is_some()).map(arg);
    settle(client, files.collect(), &mut gone, &mut done).await?;
    let tops = (candidates.iter()).filter(|(k, listed)| {
        listed.rev.is_none() && !ancestors(k).any(|a| candidates.contains_key(a))
    });
    let relisted: Vec<_> = stream::iter(tops)
        .map(|(k, listed)| async move { (k, listed, plan::list(client, &listed.display).await) })
        .buffered(RELISTS)
        .collect()
        .await;
    let mut folders = Vec::new();
    for (k, listed, now) in relisted {
        match now {
            Ok(now) => {
                let now = vet(&listed.display, &now);
                let go = emptied(k, candidates, &now, &mut done.kept);
                folders.extend(go.into_iter().map(|k| arg(&candidates[k])));
            }
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                let why = format!("{CANNOT_DELETE}: cannot list it again to check it: {e}");
                done.failed.push((listed.display.clone(), why));
            }
        }
    }
    settle(client, folders, &mut gone, &mut done).await?;
    done.kept.sort_by_key(|k| key(&k.remote));
    done.deleted = (deletions.all.into_iter())
        .filter(|d| {
            let k = key(&d.remote);
            gone.contains(&k) || ancestors(&k).any(|a| gone.contains(a))
        })
        .collect();
    Ok(done)
}

/// `/a/b/c` → `/a/b`, `/a`.
fn ancestors(k: &str) -> impl Iterator<Item = &str> {
    k.match_indices('/')
        .filter(|&(i, _)| i > 0)
        .map(|(i, _)| &k[..i])
}

/// The batch entry that deletes `listed`: a file only at the revision listed.
fn arg(listed: &Listed) -> DeleteArg {
    DeleteArg {
        path: listed.display.clone(),
        parent_rev: listed.rev.clone(),
    }
}

/// The folders to delete whole of the candidate folder `top` (key), given `now`, a listing
/// of it taken after its listed files went: the topmost that `now` shows as the folders
/// listed (same id), holding nothing but folders the first listing had (`top` itself
/// included). Each other candidate folder still there is reported in `kept` with why.
fn emptied<'a>(
    top: &'a str,
    candidates: &'a BTreeMap<String, Listed>,
    now: &Vetted,
    kept: &mut Vec<Kept>,
) -> Vec<&'a str> {
    // The same folder as listed: a folder, with the listed folder's id.
    let same_folder =
        |k: &str, id: &str| (candidates.get(k)).is_some_and(|c| c.rev.is_none() && c.id == id);
    let stop = |folder: &str| {
        // A listing that offers what is no path under the folder vouches for nothing.
        if let Some(odd) = now.hostile.first() {
            return Some(format!("listed again, it named {odd}, no path under it"));
        }
        let inside = format!("{folder}/");
        let (k, n) = (now.entries.range(inside.clone()..))
            .take_while(|(k, _)| k.starts_with(&inside))
            .find(|(k, n)| !(n.rev.is_none() && same_folder(k, &n.id)))?;
        Some(match candidates.get(k) {
            Some(c) if c.rev.is_some() && c.rev == n.rev => {
                format!("holds {}, which could not be deleted", n.display)
            }
            _ => format!("holds {}, written since the listing", n.display),
        })
    };
    // What is at a folder's path now: its id if a folder, `None` for a file.
    let at = |k: &str| match now.entries.get(k) {
        Some(n) => Some(n.rev.is_none().then_some(n.id.as_str())),
        None if k == top => now.itself.as_deref().map(Some),
        None => None,
    };
    let below = format!("{top}/");
    let folders = (candidates.get_key_value(top).into_iter())
        .chain((candidates.range(below.clone()..)).take_while(|(k, _)| k.starts_with(&below)))
        .filter(|(_, listed)| listed.rev.is_none());
    let mut go: Vec<&str> = Vec::new();
    for (k, listed) in folders {
        if ancestors(k).any(|a| go.contains(&a)) {
            continue; // going with a folder above it
        }
        let reason = match at(k) {
            None => continue, // gone meanwhile
            Some(Some(id)) if same_folder(k, id) => match stop(k) {
                None => {
                    go.push(k);
                    continue;
                }
                Some(reason) => reason,
            },
            Some(_) => CHANGED.to_string(),
        };
        kept.push(Kept {
            remote: listed.display.clone(),
            folder: true,
            reason,
        });
    }
    go
}

/// What became of an entry Dropbox did not delete.
enum Outcome {
    Gone,
    Kept(String),
    Failed(String),
}

/// Deletes `entries`, [`MAX_BATCH`] to a batch: the keys of what went into `gone`, what was
/// kept or could not be deleted into `done`. The error is one that stopped the run.
async fn settle(
    client: &DropboxClient,
    entries: Vec<DeleteArg>,
    gone: &mut HashSet<String>,
    done: &mut Done,
) -> Result<(), ApiError> {
    for chunk in entries.chunks(MAX_BATCH) {
        for (entry, result) in delete_batch(client, chunk.to_vec()).await? {
            let outcome = match result {
                Ok(()) => Outcome::Gone,
                Err(failure) => outcome(client, &entry, &failure).await?,
            };
            match outcome {
                Outcome::Gone => {
                    gone.insert(key(&entry.path));
                }
                Outcome::Kept(reason) => done.kept.push(Kept {
                    remote: entry.path,
                    folder: false,
                    reason,
                }),
                Outcome::Failed(why) => done.failed.push((entry.path, why)),
            }
        }
    }
    Ok(())
}

/// What a failed entry means. A folder already gone counts as deleted. Dropbox does not
/// document how it refuses a file's `parent_rev` that is no longer the file's, so what is
/// at the path now decides: nothing (gone), the file at the revision listed (a failure),
/// anything else (kept: it changed since it was listed).
async fn outcome(
    client: &DropboxClient,
    entry: &DeleteArg,
    failure: &Value,
) -> Result<Outcome, ApiError> {
    let failed = || {
        let why = entry_failure("files/delete_batch", failure, &entry.path);
        Outcome::Failed(format!("{CANNOT_DELETE}: {why}"))
    };
    let meaning = RouteError::of_delete_entry(failure);
    let Some(rev) = &entry.parent_rev else {
        return Ok(match meaning {
            RouteError::NotFound => Outcome::Gone,
            _ => failed(),
        });
    };
    if meaning == RouteError::TooManyWriteOperations {
        return Ok(failed());
    }
    Ok(match client.get_metadata(&entry.path).await {
        Err(e) if e.route_error() == Some(RouteError::NotFound) => Outcome::Gone,
        Err(e) if e.is_fatal() => return Err(e),
        Err(e) => Outcome::Failed(format!("{CANNOT_DELETE}: {e}")),
        Ok(Metadata::File(f)) if f.rev == *rev => failed(),
        Ok(_) => Outcome::Kept(CHANGED.into()),
    })
}

/// One `files/delete_batch` of `entries`, retrying those that meet write contention:
/// each entry with `Ok` or its `DeleteError`.
async fn delete_batch(
    client: &DropboxClient,
    mut todo: Vec<DeleteArg>,
) -> Result<Vec<(DeleteArg, Result<(), Value>)>, ApiError> {
    let mut out = Vec::new();
    let mut tries = 0;
    while !todo.is_empty() {
        tries += 1;
        let results = client.delete_batch(&todo).await?;
        let mut again = Vec::new();
        for (entry, result) in todo.into_iter().zip(results) {
            match result {
                DeleteBatchResultEntry::Success { .. } => out.push((entry, Ok(()))),
                DeleteBatchResultEntry::Failure { failure } => {
                    let contended =
                        RouteError::of_delete_entry(&failure) == RouteError::TooManyWriteOperations;
                    if contended && tries < client.pacer().max_attempts() {
                        again.push(entry);
                    } else {
                        out.push((entry, Err(failure)));
                    }
                }
            }
        }
        if !again.is_empty() {
            tokio::time::sleep(client.pacer().backoff(tries)).await;
        }
        todo = again;
    }
    Ok(out)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::filter::Pattern;
    use dropbox_wire::types::FolderMetadata;

    fn file(path: &str) -> Metadata {
        crate::upload::plan::tests::remote_file(path, 1, "h")
    }

    fn file_at(path: &str, rev: &str) -> Metadata {
        let mut meta = file(path);
        if let Metadata::File(f) = &mut meta {
            f.rev = rev.into();
        }
        meta
    }

    fn folder(path: &str) -> Metadata {
        folder_id(path, "id:2")
    }

    fn folder_id(path: &str, id: &str) -> Metadata {
        Metadata::Folder(FolderMetadata {
            name: path.rsplit('/').next().unwrap().into(),
            id: id.into(),
            path_lower: Some(key(path)),
            path_display: Some(path.into()),
        })
    }

    fn listing(entries: &[Metadata]) -> HashMap<String, Metadata> {
        super::super::plan::index(entries.to_vec())
    }

    fn keys(paths: &[&str]) -> HashSet<String> {
        paths.iter().map(|p| key(p)).collect()
    }

    fn removed(d: &Deletions) -> Vec<&str> {
        d.all.iter().map(|d| d.remote.as_str()).collect()
    }

    /// [`plan`] from `remote` vetted, as [`deletions`] does.
    fn planned(
        dest: &str,
        remote: &HashMap<String, Metadata>,
        kept: &HashSet<String>,
        nested: &[String],
        filter: &Filter,
    ) -> Deletions {
        plan(dest, &vet(dest, remote), kept, nested, filter)
    }

    fn filter(excludes: &[&str], includes: &[&str]) -> Filter {
        let patterns = |globs: &[&str]| -> Vec<Pattern> {
            (globs.iter())
                .map(|g| Pattern {
                    glob: g.to_string(),
                    origin: "--flag".into(),
                })
                .collect()
        };
        Filter::new(&patterns(excludes), &patterns(includes), None).unwrap()
    }

    fn script(
        dest: &str,
        folder: bool,
        keys: &[&str],
        listing: Option<HashMap<String, Metadata>>,
    ) -> Posted {
        // As from a tree of non-empty files: a script posting only `dest` posts nothing.
        let results = keys.iter().any(|k| key(k) != key(dest));
        Posted {
            dest: dest.into(),
            folder,
            team: false,
            keys: self::keys(keys),
            results,
            whole: Vec::new(),
            listing,
        }
    }

    #[test]
    fn only_what_has_no_local_counterpart_goes() {
        let remote = listing(&[
            folder("/S"),
            file("/S/keep.csv"),
            file("/S/Old.csv"),
            folder("/S/gone"),
            file("/S/gone/a.txt"),
            folder("/S/gone/deeper"),
            file("/S/gone/deeper/b.txt"),
            folder("/S/mixed"),
            file("/S/mixed/stays.txt"),
            file("/S/mixed/goes.txt"),
            folder("/S/empty-remote"),
            file("/Sibling.txt"),
            file("/S2/x.txt"),
        ]);
        let kept = keys(&["/s/KEEP.csv", "/s/mixed", "/s/mixed/stays.txt"]);
        let d = planned("/s", &remote, &kept, &[], &Filter::none());
        assert_eq!(
            removed(&d),
            [
                "/S/empty-remote",
                "/S/gone",
                "/S/gone/a.txt",
                "/S/gone/deeper",
                "/S/gone/deeper/b.txt",
                "/S/mixed/goes.txt",
                "/S/Old.csv"
            ]
        );
        assert!(d.all.iter().find(|x| x.remote == "/S/gone").unwrap().folder);
        // What is not under the dest is never a candidate; the dest itself is no stranger.
        assert_eq!(d.hostile, ["/S2/x.txt", "/Sibling.txt"]);
    }

    #[test]
    fn excluded_and_other_scripts_paths_are_kept() {
        let remote = listing(&[
            file("/s/model.ckpt"),
            folder("/s/cache"),
            file("/s/cache/x.bin"),
            folder("/s/other"),
            folder("/s/other/deep"),
            file("/s/other/deep/theirs.csv"),
            folder("/s/on-the-way"),
            file("/s/from-file-script.csv"),
            file("/s/stale.csv"),
        ]);
        let kept = keys(&["/s/from-file-script.csv"]);
        let nested = vec!["/s/other".to_string(), "/s/on-the-way/new".to_string()];
        let filter = filter(&["*.CKPT", "cache/"], &[]);
        let d = planned("/s", &remote, &kept, &nested, &filter);
        assert_eq!(removed(&d), ["/s/stale.csv"]);
    }

    #[test]
    fn includes_keep_the_empty_folders_they_leave_out() {
        let remote = listing(&[
            folder("/s/empty"),
            folder("/s/results"),
            folder("/s/old"),
            file("/s/old/a.csv"),
            file("/s/notes.txt"),
        ]);
        let filter = filter(&[], &["*.csv", "results"]);
        let d = planned("/s", &remote, &HashSet::new(), &[], &filter);
        // `empty` is what an empty local folder the includes leave out would be; `old`
        // holds a file that goes, and goes with it; `notes.txt` is left out.
        assert_eq!(removed(&d), ["/s/old", "/s/old/a.csv", "/s/results"]);
    }

    #[test]
    fn a_listing_offers_only_clean_paths_strictly_under_dest() {
        let odd = |lower: Option<&str>, display: Option<&str>| {
            let mut meta = file("/s/x");
            if let Metadata::File(f) = &mut meta {
                f.path_lower = lower.map(String::from);
                f.path_display = display.map(String::from);
            }
            meta
        };
        let entries = [
            odd(Some("/s/a"), Some("/elsewhere/a")),
            odd(Some("/s/b"), Some("/s/B2")),
            odd(Some("/s/c"), None),
            file("/s/../x"),
            file("/s/./y"),
            file("/s//z"),
            file("/s/w\\..\\..\\v"),
            file("/s"),
            file_at("/s/bad-rev", "xyz"),
            file("/s/ok.csv"),
        ];
        let remote: HashMap<String, Metadata> = (entries.iter().enumerate())
            .map(|(i, m)| (i.to_string(), m.clone()))
            .collect();
        let vetted = vet("/s", &remote);
        let offered: Vec<&str> = vetted
            .entries
            .values()
            .map(|l| l.display.as_str())
            .collect();
        assert_eq!(offered, ["/s/ok.csv"]);
        assert_eq!(
            vetted.hostile.len(),
            entries.len() - 1,
            "{:?}",
            vetted.hostile
        );
        // The dry run and the real run plan from this one listing.
        let d = plan("/s", &vetted, &HashSet::new(), &[], &Filter::none());
        assert_eq!(removed(&d), ["/s/ok.csv"]);
    }

    #[test]
    fn other_scripts_keep_their_files_and_nested_folders() {
        let remote = listing(&[
            file("/s/mine-gone.csv"),
            file("/s/theirs.csv"),
            folder("/s/sub"),
            file("/s/sub/extra.csv"),
        ]);
        let posted = [
            script("/s", true, &["/s/x"], Some(remote.clone())),
            // Another folder script into the same dest: its files stay, the rest goes.
            script("/s", true, &["/s/theirs.csv"], Some(remote.clone())),
            // One into a folder inside: that folder is its own to mirror.
            script("/s/sub", true, &[], Some(HashMap::new())),
        ];
        let leave = Leave::default();
        let d = deletions(0, &posted, &[], &Filter::none(), leave).unwrap();
        assert_eq!(removed(&d), ["/s/mine-gone.csv"]);
        let unlisted = [script("/s", true, &["/s/x"], None)];
        let d = deletions(0, &unlisted, &[], &Filter::none(), leave);
        assert_eq!(d, Ok(Deletions::default()));
    }

    #[test]
    fn a_script_switched_off_keeps_all_under_its_dest() {
        let remote = listing(&[folder("/s/off"), file("/s/off/x.csv"), file("/s/stale.csv")]);
        let posted = [script("/s", true, &["/s/keep.csv"], Some(remote))];
        let removed_with = |disabled: &[&str]| {
            let disabled: Vec<String> = disabled.iter().map(|d| d.to_string()).collect();
            let d = deletions(0, &posted, &disabled, &Filter::none(), Leave::default());
            d.unwrap()
                .all
                .into_iter()
                .map(|d| d.remote)
                .collect::<Vec<_>>()
        };
        assert_eq!(removed_with(&["/s/OFF"]), ["/s/stale.csv"]);
        assert_eq!(removed_with(&["/s"]), Vec::<String>::new());
        assert_eq!(
            removed_with(&["/", "/s2"]),
            ["/s/off", "/s/off/x.csv", "/s/stale.csv"]
        );
    }

    #[test]
    fn only_a_file_neither_empty_nor_hidden_is_a_result() {
        let dir = tempfile::tempdir().unwrap();
        let tree = |files: &[(&str, &[u8])]| {
            let files = (files.iter()).map(|(rel, data)| {
                let path = dir.path().join(rel.replace('/', "_"));
                std::fs::write(&path, data).unwrap();
                crate::upload::walk::LocalFile::new(
                    &path,
                    rel.to_string(),
                    &std::fs::metadata(&path).unwrap(),
                )
            });
            LocalTree {
                files: files.collect(),
                ..LocalTree::default()
            }
        };
        let placeholders: &[(&str, &[u8])] = &[
            (".gitkeep", b""),
            (".dropboxignore", b"*.tmp"),
            ("run/.keep", b"x"),
            ("run/empty.csv", b""),
        ];
        assert!(!holds_results(&tree(placeholders)));
        assert!(!holds_results(&LocalTree::default()));
        assert!(holds_results(&tree(&[
            (".gitkeep", b""),
            ("run/r.csv", b"1")
        ])));
    }

    #[test]
    fn the_root_and_an_empty_tree_need_leave_and_the_run_a_limit() {
        let remote = listing(&[file("/a/x"), file("/top.txt")]);
        let none = Filter::none();
        let mirror = |script: Posted, leave| deletions(0, &[script], &[], &none, leave);
        let at_root = || script("/", true, &["/a", "/a/x"], Some(remote.clone()));
        assert_eq!(
            mirror(at_root(), Leave::default()),
            Err(Refused::Root("/".into()))
        );
        // In a team's space, each folder at the top is a root; below them, not.
        let in_team = |dest: &str| Posted {
            team: true,
            ..script(dest, true, &[], Some(remote.clone()))
        };
        let refused = mirror(in_team("/Emma Ulator"), Leave::default());
        assert_eq!(refused, Err(Refused::Root("/Emma Ulator".into())));
        assert!(mirror(in_team("/Lab/results"), Leave::default()).is_ok());
        let allowed = Leave {
            root: true,
            ..Leave::default()
        };
        assert!(mirror(in_team("/Lab"), allowed).is_ok());
        let root = Leave {
            root: true,
            ..Leave::default()
        };
        assert_eq!(removed(&mirror(at_root(), root).unwrap()), ["/top.txt"]);
        // Nothing posted: deleting what dest holds needs saying so.
        let empty = || script("/a", true, &["/a"], Some(remote.clone()));
        let why = mirror(empty(), Leave::default()).unwrap_err();
        let (dest, count) = ("/a".to_string(), 1);
        assert_eq!(why, Refused::Empty { dest, count });
        assert!(
            why.to_string()
                .contains("would delete 1 file or folder under /a: give --allow-empty-mirror"),
            "{why}"
        );
        let empty_ok = Leave {
            empty: true,
            ..Leave::default()
        };
        assert_eq!(removed(&mirror(empty(), empty_ok).unwrap()), ["/a/x"]);
        let nothing_there = script("/b", true, &[], Some(remote.clone()));
        assert!(mirror(nothing_there, Leave::default()).is_ok());
        assert_eq!(over_limit(100, DEFAULT_MAX_DELETE), None);
        let why = over_limit(101, 100).unwrap().to_string();
        assert!(
            why.contains("would delete 101 files and folders, more than --max-delete 100")
                && why.contains("post with --max-delete 101"),
            "{why}"
        );
    }

    #[test]
    fn a_folder_goes_whole_only_if_it_holds_nothing_but_listed_folders() {
        let first = listing(&[
            folder("/s/g"),
            file("/s/g/a.txt"),
            folder("/s/g/changed-in"),
            file("/s/g/changed-in/c.txt"),
            folder("/s/g/failed-in"),
            file("/s/g/failed-in/f.txt"),
            folder("/s/g/made-again"),
            folder("/s/g/new-in"),
            folder("/s/g/now-a-file"),
            folder("/s/g/same"),
            folder("/s/g/same/deep"),
            folder("/s/g/same-x"),
        ]);
        let d = planned("/s", &first, &HashSet::new(), &[], &Filter::none());
        // Listed again once the files went: c.txt was replaced (Dropbox refused its
        // parent_rev), f.txt could not be deleted, a colleague posted into new-in, deleted
        // made-again and made it anew, and put a file where now-a-file was.
        let now = listing(&[
            folder("/s/g"),
            folder("/s/g/changed-in"),
            file_at("/s/g/changed-in/c.txt", "fedcba987"),
            folder("/s/g/failed-in"),
            file("/s/g/failed-in/f.txt"),
            folder_id("/s/g/made-again", "id:9"),
            folder("/s/g/new-in"),
            file("/s/g/new-in/colleague.csv"),
            file("/s/g/now-a-file"),
            folder("/s/g/same"),
            folder("/s/g/same/deep"),
            folder("/s/g/same-x"),
        ]);
        let emptied_of = |now: &HashMap<String, Metadata>| {
            let mut kept = Vec::new();
            let go = emptied("/s/g", &d.candidates, &vet("/s/g", now), &mut kept);
            let kept: Vec<(String, String)> =
                (kept.into_iter()).map(|k| (k.remote, k.reason)).collect();
            (go, kept)
        };
        let (go, kept) = emptied_of(&now);
        // `same-x` sorts between `same` and its contents: each goes whole, `deep` with `same`.
        assert_eq!(go, ["/s/g/same", "/s/g/same-x"]);
        let why = |path: &str, reason: &str| (path.to_string(), reason.to_string());
        assert_eq!(
            kept,
            [
                why(
                    "/s/g",
                    "holds /s/g/changed-in/c.txt, written since the listing"
                ),
                why(
                    "/s/g/changed-in",
                    "holds /s/g/changed-in/c.txt, written since the listing"
                ),
                why(
                    "/s/g/failed-in",
                    "holds /s/g/failed-in/f.txt, which could not be deleted"
                ),
                why("/s/g/made-again", CHANGED),
                why(
                    "/s/g/new-in",
                    "holds /s/g/new-in/colleague.csv, written since the listing"
                ),
                why("/s/g/now-a-file", CHANGED),
            ]
        );
        // A listing that names what is not under the folder vouches for none of it.
        let mut odd = now.clone();
        odd.extend(listing(&[file("/elsewhere/z")]));
        let (go, kept) = emptied_of(&odd);
        assert!(go.is_empty());
        assert_eq!(kept.len(), 9);
        let hostile = "listed again, it named /elsewhere/z, no path under it";
        assert!(
            kept.iter()
                .all(|(_, why)| [hostile, CHANGED].contains(&why.as_str()))
        );
        // A folder gone meanwhile is no longer there to delete.
        assert_eq!(emptied_of(&HashMap::new()), (vec![], vec![]));
        assert!(under("/", "/x") && under("", "/x") && !under("/a", "/ab") && !under("/a", "/a"));
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), ["/a", "/a/b"]);
    }

    #[test]
    fn what_a_filter_leaves_out_is_kept_in_either_normalisation() {
        // The listed name decomposed (a Mac posted it) and the pattern composed, or the
        // other way round: still the file the pattern names, so it stays.
        let (nfc, nfd) = ("r\u{e9}sum\u{e9}.pdf", "re\u{301}sume\u{301}.pdf");
        for (pattern, listed) in [(nfc, nfd), (nfd, nfc)] {
            let remote = listing(&[file(&format!("/s/{listed}")), file("/s/stale.csv")]);
            let excludes = [Pattern {
                glob: pattern.into(),
                origin: "--exclude".into(),
            }];
            let filter = Filter::new(&excludes, &[], None).unwrap();
            let d = planned("/s", &remote, &HashSet::new(), &[], &filter);
            assert_eq!(removed(&d), ["/s/stale.csv"], "pattern {pattern:?}");
        }
    }
}
