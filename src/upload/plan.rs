//! Compare the local tree with Dropbox's listing of `dest`: what to send, what may be
//! unchanged (same size: the engine compares content hashes), which folders to create.

use std::collections::{HashMap, HashSet};

use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::{ApiError, Reason};
use crate::dropbox::path::key;
use crate::dropbox::types::{FileMetadata, Metadata, WriteMode};

use super::walk::{Excluded, LocalFile, LocalTree, Problem};

/// The write mode asked for on the command line (`update` takes each file's rev).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Never replace an existing file that differs (it is reported as a conflict).
    Add,
    /// Replace whatever is there.
    #[default]
    Overwrite,
    /// Replace only the revision seen when listing (fails if someone changed it since).
    Update,
}

#[derive(Debug, Clone)]
pub struct PlannedFile {
    pub local: LocalFile,
    /// Absolute Dropbox path.
    pub remote: String,
    pub mode: WriteMode,
    /// The remote file's content hash when its size matches: if ours is equal, skip.
    pub unchanged_if: Option<String>,
}

#[derive(Debug, Default)]
pub struct Plan {
    /// The Dropbox folder everything lands under.
    pub dest: String,
    pub files: Vec<PlannedFile>,
    /// Absolute Dropbox paths of empty local folders missing remotely.
    pub folders: Vec<String>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    /// What the filter left out, for the report.
    pub excluded: Vec<Excluded>,
}

/// `dest` + `rel` as a Dropbox path (`dest` is absolute; `"/"` is the root).
pub fn remote_path(dest: &str, rel: &str) -> String {
    let base = dest.trim_end_matches('/');
    if rel.is_empty() {
        if base.is_empty() {
            "/".into()
        } else {
            base.into()
        }
    } else {
        format!("{base}/{rel}")
    }
}

/// Index a recursive listing by `path_lower`.
pub fn index(listing: Vec<Metadata>) -> HashMap<String, Metadata> {
    listing
        .into_iter()
        .filter_map(|m| Some((key(m.path_lower().or(m.path_display())?), m)))
        .collect()
}

/// Everything under `folder` (recursively), keyed by lower-case path; a missing folder is
/// empty.
pub async fn list(
    client: &DropboxClient,
    folder: &str,
) -> Result<HashMap<String, Metadata>, ApiError> {
    let path = if folder == "/" { "" } else { folder };
    match client.list_folder_recursive(path).await {
        Ok(listing) => Ok(index(listing)),
        Err(e) if e.reason() == Some(Reason::NotFound) => Ok(HashMap::new()),
        Err(e) => Err(e),
    }
}

pub fn make_plan(
    mut tree: LocalTree,
    dest: &str,
    remote: &HashMap<String, Metadata>,
    mode: Mode,
    force: bool,
) -> Plan {
    let clashes = clashes(&tree);
    let (clashing, files): (Vec<LocalFile>, Vec<LocalFile>) = std::mem::take(&mut tree.files)
        .into_iter()
        .partition(|f| clashes.contains_key(&f.rel));
    for file in clashing {
        let reason = clashes[&file.rel].clone();
        tree.problems.push(Problem {
            path: file.path,
            rel: Some(file.rel),
            reason,
        });
    }
    let files = files
        .into_iter()
        .map(|local| {
            let path = remote_path(dest, &local.rel);
            let existing = match remote.get(&key(&path)) {
                Some(Metadata::File(f)) => Some(f),
                _ => None,
            };
            PlannedFile {
                mode: write_mode(mode, existing),
                unchanged_if: existing
                    .filter(|f| !force && f.size == local.size)
                    .and_then(|f| f.content_hash.clone()),
                remote: path,
                local,
            }
        })
        .collect();
    let mut seen = HashSet::new();
    let folders = tree
        .empty_dirs
        .iter()
        .map(|rel| remote_path(dest, rel))
        .filter(|p| p != "/" && !matches!(remote.get(&key(p)), Some(Metadata::Folder(_))))
        .filter(|p| seen.insert(key(p)))
        .collect();
    Plan {
        dest: dest.to_string(),
        files,
        folders,
        problems: tree.problems,
        warnings: tree.warnings,
        excluded: tree.excluded,
    }
}

/// Local files that Dropbox cannot keep apart, by `rel`, with the reason. Dropbox ignores case
/// and Unicode normalisation, so `Run.csv` and `run.csv` (or `é` composed and decomposed)
/// would be one file there, each upload silently replacing the other; and a file cannot
/// share its name with a folder. Such files are reported and not sent.
fn clashes(tree: &LocalTree) -> HashMap<String, String> {
    let mut by_key: HashMap<String, Vec<&str>> = HashMap::new();
    for f in &tree.files {
        by_key.entry(key(&f.rel)).or_default().push(&f.rel);
    }
    let folders: HashMap<String, &str> = tree
        .files
        .iter()
        .map(|f| f.rel.as_str())
        .flat_map(|rel| rel.match_indices('/').map(move |(i, _)| &rel[..i]))
        .chain(tree.empty_dirs.iter().map(String::as_str))
        .map(|dir| (key(dir), dir))
        .collect();
    let mut out = HashMap::new();
    for (k, rels) in by_key {
        for &rel in &rels {
            let reason = if let Some(other) = rels.iter().find(|&&r| r != rel) {
                format!(
                    "`{rel}` and `{other}` would be one file on Dropbox, which ignores case and \
                     Unicode normalisation; neither was sent: rename one"
                )
            } else if let Some(dir) = folders.get(&k) {
                format!(
                    "`{rel}` would be the same name as the folder `{dir}` on Dropbox, which \
                     ignores case and Unicode normalisation; not sent: rename one"
                )
            } else {
                continue;
            };
            out.insert(rel.to_string(), reason);
        }
    }
    out
}

fn write_mode(mode: Mode, existing: Option<&FileMetadata>) -> WriteMode {
    match (mode, existing) {
        (Mode::Add, _) | (Mode::Update, None) => WriteMode::Add,
        (Mode::Overwrite, _) => WriteMode::Overwrite,
        (Mode::Update, Some(f)) => WriteMode::Update {
            update: f.rev.clone(),
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dropbox::types::FolderMetadata;
    use proptest::prelude::*;
    use std::path::{Path, PathBuf};
    use std::time::SystemTime;

    fn local(rel: &str, size: u64) -> LocalFile {
        LocalFile {
            path: PathBuf::from(rel),
            rel: rel.into(),
            size,
            modified: SystemTime::UNIX_EPOCH,
            stamp: None,
        }
    }

    pub(crate) fn remote_file(path: &str, size: u64, hash: &str) -> Metadata {
        Metadata::File(FileMetadata {
            name: path.rsplit('/').next().unwrap().into(),
            id: "id:1".into(),
            client_modified: "2026-01-01T00:00:00Z".into(),
            server_modified: "2026-01-01T00:00:00Z".into(),
            rev: "0123456789abc".into(),
            size,
            path_lower: Some(path.to_lowercase()),
            path_display: Some(path.into()),
            is_downloadable: true,
            content_hash: Some(hash.into()),
        })
    }

    #[test]
    fn paths_join_under_dest() {
        assert_eq!(remote_path("/res", "a/b.csv"), "/res/a/b.csv");
        assert_eq!(remote_path("/res/", "b.csv"), "/res/b.csv");
        assert_eq!(remote_path("/", "b.csv"), "/b.csv");
        assert_eq!(remote_path("/res", ""), "/res");
        assert_eq!(remote_path("/", ""), "/");
    }

    #[test]
    fn only_same_size_files_may_be_skipped_and_case_is_ignored() {
        let tree = LocalTree {
            files: vec![
                local("Same.csv", 3),
                local("grown.csv", 4),
                local("new.csv", 1),
            ],
            empty_dirs: vec!["empty".into(), "there".into()],
            ..Default::default()
        };
        let remote = index(vec![
            remote_file("/Res/same.CSV", 3, "h1"),
            remote_file("/Res/grown.csv", 3, "h2"),
            Metadata::Folder(FolderMetadata {
                name: "there".into(),
                id: "id:2".into(),
                path_lower: Some("/res/there".into()),
                path_display: Some("/Res/there".into()),
            }),
        ]);
        let plan = make_plan(tree, "/res", &remote, Mode::Overwrite, false);
        let hints: Vec<_> = plan
            .files
            .iter()
            .map(|f| (f.remote.as_str(), f.unchanged_if.as_deref()))
            .collect();
        assert_eq!(
            hints,
            vec![
                ("/res/Same.csv", Some("h1")),
                ("/res/grown.csv", None),
                ("/res/new.csv", None)
            ]
        );
        assert_eq!(plan.folders, vec!["/res/empty".to_string()]);
        assert!(plan.files.iter().all(|f| f.mode == WriteMode::Overwrite));
    }

    #[test]
    fn force_and_modes() {
        let tree = || LocalTree {
            files: vec![local("a", 3), local("b", 3)],
            ..Default::default()
        };
        let remote = index(vec![remote_file("/d/a", 3, "h")]);
        let forced = make_plan(tree(), "/d", &remote, Mode::Overwrite, true);
        assert!(forced.files.iter().all(|f| f.unchanged_if.is_none()));
        let update = make_plan(tree(), "/d", &remote, Mode::Update, false);
        assert_eq!(
            update.files[0].mode,
            WriteMode::Update {
                update: "0123456789abc".into()
            }
        );
        assert_eq!(update.files[1].mode, WriteMode::Add);
        let add = make_plan(tree(), "/d", &remote, Mode::Add, false);
        assert!(add.files.iter().all(|f| f.mode == WriteMode::Add));
    }

    #[test]
    fn names_dropbox_cannot_tell_apart_are_reported_not_sent() {
        let tree = LocalTree {
            files: vec![
                local("Run.csv", 1),
                local("run.csv", 2),
                local("caf\u{e9}.txt", 1),
                local("cafe\u{301}.txt", 1),
                local("data", 1),
                local("DATA/x.csv", 1),
                local("Out", 1),
                local("ok/a.txt", 1),
                local("OK/b.txt", 1),
            ],
            empty_dirs: vec!["out".into(), "E".into(), "e".into()],
            ..Default::default()
        };
        let plan = make_plan(tree, "/res", &HashMap::new(), Mode::Overwrite, false);
        let sent: Vec<&str> = plan.files.iter().map(|f| f.remote.as_str()).collect();
        assert_eq!(
            sent,
            vec!["/res/DATA/x.csv", "/res/ok/a.txt", "/res/OK/b.txt"]
        );
        let mut refused: Vec<_> = plan
            .problems
            .iter()
            .map(|p| p.path.to_str().unwrap())
            .collect();
        refused.sort();
        assert_eq!(
            refused,
            vec![
                "Out",
                "Run.csv",
                "cafe\u{301}.txt",
                "caf\u{e9}.txt",
                "data",
                "run.csv"
            ]
        );
        let run = plan
            .problems
            .iter()
            .find(|p| p.path == Path::new("Run.csv"));
        assert!(run.unwrap().reason.contains("`Run.csv` and `run.csv`"));
        let data = plan.problems.iter().find(|p| p.path == Path::new("data"));
        assert!(
            data.unwrap().reason.contains("folder `DATA`"),
            "{:?}",
            plan.problems
        );
        assert_eq!(
            plan.folders,
            vec!["/res/out".to_string(), "/res/E".to_string()]
        );
    }

    /// Relative paths from a small alphabet, so that case and normalisation variants of the
    /// same name turn up often.
    fn rels() -> impl Strategy<Value = Vec<String>> {
        let name = proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("A"),
                Just("\u{e9}"),
                Just("e\u{301}"),
                Just("\u{c9}"),
                Just(" "),
                Just("%"),
                Just("😀"),
                Just("\\"),
                Just("\""),
            ],
            1..3,
        )
        .prop_map(|parts| parts.concat());
        proptest::collection::vec(proptest::collection::vec(name, 1..3), 0..8).prop_map(|paths| {
            let mut rels: Vec<String> = paths.iter().map(|p| p.join("/")).collect();
            rels.sort();
            rels.dedup();
            rels
        })
    }

    proptest! {
        /// Every local file is either sent to its own Dropbox name (nothing else sent maps
        /// to it, and no folder is needed there) or reported; none is lost.
        #[test]
        fn planned_names_are_distinct_on_dropbox(rels in rels(), dest in "/[A-Za-z ]{1,4}/?") {
            let tree = LocalTree {
                files: rels.iter().map(|r| local(r, 1)).collect(),
                ..Default::default()
            };
            let plan = make_plan(tree, &dest, &HashMap::new(), Mode::Overwrite, false);
            prop_assert_eq!(plan.files.len() + plan.problems.len(), rels.len());
            let sent: HashSet<String> = plan.files.iter().map(|f| key(&f.remote)).collect();
            prop_assert_eq!(sent.len(), plan.files.len());
            for f in &plan.files {
                prop_assert_eq!(&f.remote, &remote_path(&dest, &f.local.rel));
                let folder_key = format!("{}/", key(&f.remote));
                prop_assert!(!plan.files.iter().any(|g| key(&g.remote).starts_with(&folder_key)));
            }
            for p in &plan.problems {
                let rel = p.path.to_str().unwrap();
                let k = key(rel);
                let clash = rels.iter().any(|r| r != rel && (key(r) == k || key(r).starts_with(&format!("{k}/"))));
                prop_assert!(clash, "{} was refused without a clash", rel);
            }
        }
    }
}
