//! Compare the local tree with Dropbox's listing of `dest`: what to send, what may be
//! unchanged (same size: the engine compares content hashes), which folders to create; and,
//! before any of that, which local files Dropbox could not keep apart ([`refuse_clashes`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use crate::dropbox::client::DropboxClient;
use crate::dropbox::error::ApiError;
use crate::dropbox::route_error::RouteError;
use dropbox_wire::path::key;
use dropbox_wire::types::{FileMetadata, Metadata, WriteMode};

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
    /// The rev of the file the listing showed at `remote` (`None`: none was there): what
    /// a commit found wrong is rolled back to.
    pub replaces: Option<String>,
}

/// An empty local folder missing remotely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFolder {
    pub local: PathBuf,
    /// Absolute Dropbox path.
    pub remote: String,
}

#[derive(Debug, Default)]
pub struct Plan {
    /// The Dropbox folder everything lands under.
    pub dest: String,
    pub files: Vec<PlannedFile>,
    pub folders: Vec<PlannedFolder>,
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
        Err(e) if e.route_error() == Some(RouteError::NotFound) => Ok(HashMap::new()),
        Err(e) => Err(e),
    }
}

/// What to do with `tree` (whose clashes [`refuse_clashes`] took out) given `remote`.
pub fn make_plan(
    tree: LocalTree,
    dest: &str,
    remote: &HashMap<String, Metadata>,
    mode: Mode,
    force: bool,
) -> Plan {
    let files = (tree.files.into_iter())
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
                replaces: existing.map(|f| f.rev.clone()),
                remote: path,
                local,
            }
        })
        .collect();
    let mut seen = HashSet::new();
    let folders = (tree.empty_dirs.iter())
        .map(|rel| PlannedFolder {
            local: match rel.as_str() {
                "" => tree.root.clone(),
                rel => tree.root.join(rel),
            },
            remote: remote_path(dest, rel),
        })
        .filter(|f| f.remote != "/")
        .filter(|f| !matches!(remote.get(&key(&f.remote)), Some(Metadata::Folder(_))))
        .filter(|f| seen.insert(key(&f.remote)))
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

/// One script's walked tree and where it lands, for [`refuse_clashes`].
pub struct Landing<'a> {
    /// The script's number, for messages.
    pub script: usize,
    /// Which Dropbox it goes to (credential and space): only trees into the same can clash.
    pub space: usize,
    pub dest: &'a str,
    pub tree: &'a mut LocalTree,
}

/// Takes out of the trees of a run, before anything is sent, the files Dropbox could not
/// keep apart, each reported (a problem: the run fails) with the other one. Dropbox ignores
/// case and Unicode normalisation, so `Run.csv` and `run.csv` (or `é` composed and
/// decomposed) would be one file there, each upload silently replacing the other, whether
/// one script or two post them; and a file cannot share its name with a folder. The same
/// local file posted to the same place by two scripts is no clash.
pub fn refuse_clashes(landings: &mut [Landing<'_>]) {
    // By Dropbox (space and key): the files landing there, and the scripts with a folder there.
    let mut files: HashMap<(usize, String), Vec<(usize, usize)>> = HashMap::new();
    let mut folders: HashMap<(usize, String), BTreeMap<usize, String>> = HashMap::new();
    for (i, landing) in landings.iter().enumerate() {
        let tree = &landing.tree;
        let rels = (tree.files.iter().map(|f| f.rel.as_str()))
            .chain(tree.empty_dirs.iter().map(String::as_str));
        for (j, rel) in rels.enumerate() {
            let remote = remote_path(landing.dest, rel);
            if j < tree.files.len() {
                files
                    .entry((landing.space, key(&remote)))
                    .or_default()
                    .push((i, j));
            } else {
                folders
                    .entry((landing.space, key(&remote)))
                    .or_default()
                    .entry(i)
                    .or_insert(remote.clone());
            }
            for (at, _) in remote.match_indices('/').skip(1) {
                let folder = &remote[..at];
                let by = folders.entry((landing.space, key(folder))).or_default();
                by.entry(i).or_insert_with(|| folder.to_string());
            }
        }
    }
    let mut refused: Vec<HashMap<usize, String>> = vec![HashMap::new(); landings.len()];
    for (at, here) in &files {
        for &(i, j) in here {
            let this = &landings[i];
            let file = &this.tree.files[j];
            let other = here.iter().find(|&&(oi, oj)| {
                (oi, oj) != (i, j) && (oi == i || !same_file(file, &landings[oi].tree.files[oj]))
            });
            let folder = || {
                let by = folders.get(at)?;
                by.get_key_value(&i).or_else(|| by.iter().next())
            };
            let reason = match (other, folder()) {
                (Some(&(oi, oj)), _) if oi == i => format!(
                    "`{}` and `{}` would be one file on Dropbox, which ignores case and \
                     Unicode normalisation; neither was sent: rename one",
                    file.rel, this.tree.files[oj].rel
                ),
                (Some(&(oi, oj)), _) => format!(
                    "{} (script {}) would be the same file on Dropbox, which ignores case and \
                     Unicode normalisation; neither was sent: rename one or post them to \
                     different dests",
                    landings[oi].tree.files[oj].path.display(),
                    landings[oi].script
                ),
                (None, Some((&fi, folder))) if fi == i => format!(
                    "`{}` would be the same name as the folder `{}` on Dropbox, which ignores \
                     case and Unicode normalisation; not sent: rename one",
                    file.rel,
                    folder
                        .strip_prefix(this.dest.trim_end_matches('/'))
                        .map_or(folder.as_str(), |rel| rel.trim_start_matches('/'))
                ),
                (None, Some((&fi, folder))) => format!(
                    "script {} posts into a folder {folder} there, which ignores case and \
                     Unicode normalisation; not sent: rename one or post them to different \
                     dests",
                    landings[fi].script
                ),
                (None, None) => continue,
            };
            refused[i].insert(j, reason);
        }
    }
    for (landing, mut refused) in landings.iter_mut().zip(refused) {
        let tree = &mut *landing.tree;
        let files = std::mem::take(&mut tree.files);
        for (j, file) in files.into_iter().enumerate() {
            match refused.remove(&j) {
                Some(reason) => tree.problems.push(Problem {
                    path: file.path,
                    rel: Some(file.rel),
                    reason,
                }),
                None => tree.files.push(file),
            }
        }
    }
}

/// Whether `a` and `b` are one local file (symlinks resolved); `false` when either cannot
/// be resolved.
fn same_file(a: &LocalFile, b: &LocalFile) -> bool {
    match (
        std::fs::canonicalize(&a.path),
        std::fs::canonicalize(&b.path),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
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
    use dropbox_wire::types::FolderMetadata;
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
            root: "local".into(),
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
        assert_eq!(
            plan.folders,
            vec![PlannedFolder {
                local: PathBuf::from("local/empty"),
                remote: "/res/empty".into()
            }]
        );
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

    /// `trees` (each with its dest, script 1, 2, …) into one Dropbox, clashes refused.
    fn refuse(trees: &mut [(&str, LocalTree)]) {
        let mut landings: Vec<Landing> = (trees.iter_mut().enumerate())
            .map(|(i, (dest, tree))| Landing {
                script: i + 1,
                space: 0,
                dest,
                tree,
            })
            .collect();
        refuse_clashes(&mut landings);
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
        let mut trees = [("/res", tree)];
        refuse(&mut trees);
        let [(_, tree)] = trees;
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
        let folders: Vec<&str> = plan.folders.iter().map(|f| f.remote.as_str()).collect();
        assert_eq!(folders, ["/res/out", "/res/E"]);
    }

    #[test]
    fn scripts_into_one_dropbox_clash_unless_they_post_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = |rel: &str, at: &str| {
            let path = dir.path().join(at);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, at).unwrap();
            LocalFile {
                path,
                ..local(rel, 1)
            }
        };
        let tree = |files| LocalTree {
            files,
            ..Default::default()
        };
        let mut trees = [
            (
                "/s",
                tree(vec![
                    file("metrics.csv", "run1/metrics.csv"),
                    file("shared.csv", "shared.csv"),
                    file("sub", "sub"),
                ]),
            ),
            (
                "/S/",
                tree(vec![
                    file("Metrics.csv", "run2/Metrics.csv"),
                    file("shared.csv", "shared.csv"),
                    file("SUB/y.csv", "y.csv"),
                ]),
            ),
        ];
        refuse(&mut trees);
        let [(_, one), (_, two)] = &trees;
        let rels = |t: &LocalTree| t.files.iter().map(|f| f.rel.clone()).collect::<Vec<_>>();
        assert_eq!(rels(one), ["shared.csv"]);
        assert_eq!(rels(two), ["shared.csv", "SUB/y.csv"]);
        let reason = |t: &LocalTree, rel: &str| {
            let p = t.problems.iter().find(|p| p.rel.as_deref() == Some(rel));
            p.unwrap().reason.clone()
        };
        let other = dir.path().join("run2/Metrics.csv");
        let why = reason(one, "metrics.csv");
        assert!(
            why.starts_with(&format!(
                "{} (script 2) would be the same file",
                other.display()
            )),
            "{why}"
        );
        assert!(reason(two, "Metrics.csv").contains("run1/metrics.csv (script 1)"));
        assert!(reason(one, "sub").starts_with("script 2 posts into a folder /S/SUB there"));
        // Into another Dropbox (credential or space), the same names are no clash.
        let mut apart = [("/s", tree(vec![file("metrics.csv", "run1/metrics.csv")]))];
        let mut landings: Vec<Landing> = (trees.iter_mut().take(1).chain(&mut apart))
            .enumerate()
            .map(|(space, (dest, tree))| Landing {
                script: space + 1,
                space,
                dest,
                tree,
            })
            .collect();
        refuse_clashes(&mut landings);
        assert!(apart[0].1.problems.is_empty());
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
        /// Every local file of two scripts into one dest is either sent to its own Dropbox
        /// name (nothing else sent maps to it, and no folder is needed there) or reported;
        /// none is lost.
        #[test]
        fn planned_names_are_distinct_on_dropbox(
            rels in rels(),
            split in 0..8usize,
            dest in "/[A-Za-z ]{1,4}/?",
        ) {
            let tree = |rels: &[String]| LocalTree {
                files: rels.iter().map(|r| local(r, 1)).collect(),
                ..Default::default()
            };
            let (one, two) = rels.split_at(split.min(rels.len()));
            let mut trees = [(dest.as_str(), tree(one)), (dest.as_str(), tree(two))];
            refuse(&mut trees);
            let plans: Vec<Plan> = (trees.into_iter())
                .map(|(dest, tree)| make_plan(tree, dest, &HashMap::new(), Mode::Overwrite, false))
                .collect();
            let files: Vec<&PlannedFile> = plans.iter().flat_map(|p| &p.files).collect();
            let problems: Vec<&Problem> = plans.iter().flat_map(|p| &p.problems).collect();
            prop_assert_eq!(files.len() + problems.len(), rels.len());
            let sent: HashSet<String> = files.iter().map(|f| key(&f.remote)).collect();
            prop_assert_eq!(sent.len(), files.len());
            for f in &files {
                prop_assert_eq!(&f.remote, &remote_path(&dest, &f.local.rel));
                let folder_key = format!("{}/", key(&f.remote));
                prop_assert!(!files.iter().any(|g| key(&g.remote).starts_with(&folder_key)));
            }
            for p in problems {
                let rel = p.path.to_str().unwrap();
                let k = key(rel);
                let clash = rels.iter().any(|r| r != rel && (key(r) == k || key(r).starts_with(&format!("{k}/"))));
                prop_assert!(clash, "{} was refused without a clash", rel);
            }
        }
    }
}
