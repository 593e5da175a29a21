//! `--delete`: after a run in which everything was sent, delete what a folder script's
//! `dest` holds with no local counterpart, so Dropbox mirrors the local tree.
//!
//! What is deleted is decided from the listing of `dest` taken before the upload (anything
//! that appeared since is left alone) and is never outside `dest`. Kept: every path with a
//! local counterpart (by Dropbox's case-insensitive key), everything the script's filters
//! leave out (as if it were local), everything another script of the run posts, and any
//! folder that still holds something kept. A folder whose every entry goes is deleted whole,
//! in one entry of `files/delete_batch`; the report lists each file and folder under it.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::{ApiError, Reason, entry_failure, reason_of};
use crate::dropbox::path::key;
use crate::dropbox::types::{DeleteBatchResultEntry, Metadata};

use super::filter::Filter;
use super::plan::remote_path;
use super::report::{CANNOT_DELETE, Deletion};
use super::walk::LocalTree;
use crate::dropbox::limits::MAX_BATCH;

/// What one script of the run put under its `dest`, kept for the mirror at the end.
pub struct Posted {
    pub dest: String,
    /// A folder script (only those mirror; the others' paths are kept).
    pub folder: bool,
    /// Keys of what it posts: the local tree as Dropbox paths ([`posted_keys`]).
    pub keys: HashSet<String>,
    /// `dest` as listed before the upload; `None` if it could not be listed.
    pub listing: Option<HashMap<String, Metadata>>,
}

/// The deletions that mirror script `i` of the run, given what every script posted.
pub fn deletions(i: usize, posted: &[Posted], filter: &Filter) -> Deletions {
    let this = &posted[i];
    let Some(listing) = &this.listing else {
        return Deletions::default();
    };
    let mut kept = this.keys.clone();
    let mut nested = Vec::new();
    for (_, other) in posted.iter().enumerate().filter(|&(j, _)| j != i) {
        kept.extend(other.keys.iter().cloned());
        // A folder script into the same `dest` keeps only its own files (above).
        if other.folder && under(&key(&this.dest), &key(&other.dest)) {
            nested.push(other.dest.clone());
        }
    }
    plan(&this.dest, listing, &kept, &nested, filter)
}

/// The Dropbox keys (see `dropbox::path::key`) of everything a script posts under `dest`:
/// its files and the folders on their way, and its empty folders.
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

/// What one mirror would delete.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Deletions {
    /// Every file and folder that goes, parents first.
    pub all: Vec<Deletion>,
    /// What to ask Dropbox to delete: the topmost of them (a folder takes its contents).
    pub batch: Vec<String>,
}

/// What under `dest` to delete. `listing`: `dest` as listed before the upload, by key;
/// `kept`: keys of what this run posts (this script's files and folders, and other
/// scripts'); `nested`: the `dest` of other scripts inside this one, kept whole.
pub fn plan(
    dest: &str,
    listing: &HashMap<String, Metadata>,
    kept: &HashSet<String>,
    nested: &[String],
    filter: &Filter,
) -> Deletions {
    let base = key(dest);
    let depth = dest.split('/').filter(|s| !s.is_empty()).count();
    // Candidates by key, sorted so that a folder comes before its contents.
    let mut candidates = BTreeMap::new();
    for (k, meta) in listing {
        let (display, folder) = match meta {
            Metadata::File(f) => (f.path_display.as_deref(), false),
            Metadata::Folder(f) => (f.path_display.as_deref(), true),
            Metadata::Deleted(_) => continue,
        };
        if under(&base, k) {
            let display = display.unwrap_or(k);
            candidates.insert(k.clone(), (display.to_string(), folder));
        }
    }
    let nested: Vec<String> = nested.iter().map(|d| key(d)).collect();
    let in_nested = |k: &str| nested.iter().any(|n| k == n || under(n, k));
    let mut keep: HashSet<&str> = HashSet::new();
    for (k, (display, folder)) in &candidates {
        let rel: Vec<&str> = display.split('/').filter(|s| !s.is_empty()).collect();
        let rel = rel.get(depth..).unwrap_or_default().join("/");
        let left_out = filter.excluded_path(&rel, *folder).is_some();
        if kept.contains(k) || in_nested(k) || left_out {
            keep.insert(k);
        }
    }
    // A folder holding anything kept stays; so do the folders above another script's dest.
    let holds: HashSet<String> = (keep.iter().copied())
        .chain(nested.iter().map(String::as_str))
        .flat_map(|k| k.match_indices('/').map(move |(i, _)| k[..i].to_string()))
        .collect();
    let mut out = Deletions::default();
    let mut gone: HashSet<&str> = HashSet::new();
    for (k, (display, folder)) in &candidates {
        if keep.contains(k.as_str()) || (*folder && holds.contains(k)) {
            continue;
        }
        out.all.push(Deletion {
            remote: display.clone(),
            folder: *folder,
        });
        // Parents come first: a folder already going takes this with it.
        if !k.match_indices('/').any(|(i, _)| gone.contains(&k[..i])) {
            out.batch.push(display.clone());
        }
        gone.insert(k);
    }
    out
}

/// Whether key `k` is strictly inside the folder of key `folder` (`/` or `""`: the root).
fn under(folder: &str, k: &str) -> bool {
    let folder = folder.trim_end_matches('/');
    k.len() > folder.len() + 1 && k.starts_with(folder) && k.as_bytes()[folder.len()] == b'/'
}

/// Carries out `deletions` (with `dry_run`, only reports them): what was deleted, and what
/// could not be, with the reason. A path already gone counts as deleted.
pub async fn run(
    client: &DropboxClient,
    dest: &str,
    deletions: Deletions,
    dry_run: bool,
) -> Result<(Vec<Deletion>, Vec<(String, String)>), ApiError> {
    if dry_run {
        return Ok((deletions.all, Vec::new()));
    }
    // The plan never goes outside `dest`; this holds even if it were wrong.
    let base = key(dest);
    if let Some(outside) = deletions.batch.iter().find(|p| !under(&base, &key(p))) {
        let reason = format!("not under {dest}: nothing deleted");
        return Ok((Vec::new(), vec![(outside.clone(), reason)]));
    }
    let mut failed: Vec<(String, String)> = Vec::new();
    for batch in deletions.batch.chunks(MAX_BATCH) {
        let mut todo: Vec<String> = batch.to_vec();
        let mut tries = 0;
        while !todo.is_empty() {
            tries += 1;
            let results = client.delete_batch(&todo).await?;
            let mut again = Vec::new();
            for (path, result) in todo.into_iter().zip(results) {
                let failure = match result {
                    DeleteBatchResultEntry::Success { .. } => continue,
                    DeleteBatchResultEntry::Failure { failure } => failure,
                };
                match reason_of(&failure) {
                    Reason::NotFound => {}
                    Reason::TooManyWriteOperations if tries < client.pacer().max_attempts() => {
                        again.push(path);
                    }
                    _ => {
                        let why = entry_failure("files/delete_batch", &failure, &path);
                        let why = format!("{CANNOT_DELETE}: {why}");
                        failed.push((path, why));
                    }
                }
            }
            if !again.is_empty() {
                tokio::time::sleep(client.pacer().backoff(tries)).await;
            }
            todo = again;
        }
    }
    let failed_keys: Vec<String> = failed.iter().map(|(p, _)| key(p)).collect();
    let deleted = (deletions.all.into_iter())
        .filter(|d| {
            let k = key(&d.remote);
            !failed_keys.iter().any(|f| k == *f || under(f, &k))
        })
        .collect();
    Ok((deleted, failed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropbox::types::FolderMetadata;
    use crate::upload::filter::Pattern;

    fn file(path: &str) -> Metadata {
        crate::upload::plan::tests::remote_file(path, 1, "h")
    }

    fn folder(path: &str) -> Metadata {
        Metadata::Folder(FolderMetadata {
            name: path.rsplit('/').next().unwrap().into(),
            id: "id:2".into(),
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

    #[test]
    fn only_what_has_no_local_counterpart_goes_and_folders_whole() {
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
        let d = plan("/s", &remote, &kept, &[], &Filter::none());
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
        assert_eq!(
            d.batch,
            [
                "/S/empty-remote",
                "/S/gone",
                "/S/mixed/goes.txt",
                "/S/Old.csv"
            ]
        );
        assert!(d.all.iter().find(|x| x.remote == "/S/gone").unwrap().folder);
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
        let filter = Filter::new(
            &[
                Pattern {
                    glob: "*.CKPT".into(),
                    origin: "--exclude".into(),
                },
                Pattern {
                    glob: "cache/".into(),
                    origin: "--exclude".into(),
                },
            ],
            &[],
            None,
        )
        .unwrap();
        let kept = keys(&["/s/from-file-script.csv"]);
        let nested = vec!["/s/other".to_string(), "/s/on-the-way/new".to_string()];
        let d = plan("/s", &remote, &kept, &nested, &filter);
        assert_eq!(removed(&d), ["/s/stale.csv"]);
    }

    #[test]
    fn other_scripts_keep_their_files_and_nested_folders() {
        let remote = listing(&[
            file("/s/mine-gone.csv"),
            file("/s/theirs.csv"),
            folder("/s/sub"),
            file("/s/sub/extra.csv"),
        ]);
        let script = |dest: &str, folder: bool, keys: &[&str], listing| Posted {
            dest: dest.into(),
            folder,
            keys: self::keys(keys),
            listing,
        };
        let posted = [
            script("/s", true, &[], Some(remote.clone())),
            // Another folder script into the same dest: its files stay, the rest goes.
            script("/s", true, &["/s/theirs.csv"], Some(remote.clone())),
            // One into a folder inside: that folder is its own to mirror.
            script("/s/sub", true, &[], Some(HashMap::new())),
        ];
        let d = deletions(0, &posted, &Filter::none());
        assert_eq!(removed(&d), ["/s/mine-gone.csv"]);
        let unlisted = [script("/s", true, &[], None)];
        assert_eq!(
            deletions(0, &unlisted, &Filter::none()),
            Deletions::default()
        );
    }

    #[test]
    fn nothing_at_or_above_dest_and_the_root_works() {
        let remote = listing(&[folder("/a"), file("/a/x"), file("/top.txt")]);
        let d = plan("/a", &remote, &HashSet::new(), &[], &Filter::none());
        assert_eq!(removed(&d), ["/a/x"]);
        let d = plan("/", &remote, &keys(&["/a", "/a/x"]), &[], &Filter::none());
        assert_eq!(removed(&d), ["/top.txt"]);
        let d = plan("/a/x", &remote, &HashSet::new(), &[], &Filter::none());
        assert!(d.all.is_empty());
        // `-` sorts between a folder and its contents: still one batch entry per tree.
        let remote = listing(&[folder("/a/g"), folder("/a/g-x"), file("/a/g/y")]);
        let d = plan("/a", &remote, &HashSet::new(), &[], &Filter::none());
        assert_eq!(d.batch, ["/a/g", "/a/g-x"]);
        assert!(under("/", "/x") && under("", "/x") && !under("/a", "/ab") && !under("/a", "/a"));
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
            let d = plan("/s", &remote, &HashSet::new(), &[], &filter);
            assert_eq!(removed(&d), ["/s/stale.csv"], "pattern {pattern:?}");
        }
    }
}
