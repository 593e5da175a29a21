//! Compare the local tree with Dropbox's listing of `dest`: what to send, what may be
//! unchanged (same size: the engine compares content hashes), which folders to create.

use std::collections::HashMap;

use crate::dropbox::types::{FileMetadata, Metadata, WriteMode};

use super::walk::{LocalFile, LocalTree, Problem};

/// The write mode asked for on the command line (`update` takes each file's rev).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
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
    pub files: Vec<PlannedFile>,
    /// Absolute Dropbox paths of empty local folders missing remotely.
    pub folders: Vec<String>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
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

/// Dropbox compares paths case-insensitively; listings key entries by `path_lower`.
pub fn key(path: &str) -> String {
    path.to_lowercase()
}

/// Index a recursive listing by `path_lower`.
pub fn index(listing: Vec<Metadata>) -> HashMap<String, Metadata> {
    listing
        .into_iter()
        .filter_map(|m| Some((key(m.path_lower().or(m.path_display())?), m)))
        .collect()
}

pub fn make_plan(
    tree: LocalTree,
    dest: &str,
    remote: &HashMap<String, Metadata>,
    mode: Mode,
    force: bool,
) -> Plan {
    let files = tree
        .files
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
    let folders = tree
        .empty_dirs
        .iter()
        .map(|rel| remote_path(dest, rel))
        .filter(|p| p != "/" && !matches!(remote.get(&key(p)), Some(Metadata::Folder(_))))
        .collect();
    Plan {
        files,
        folders,
        problems: tree.problems,
        warnings: tree.warnings,
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
mod tests {
    use super::*;
    use crate::dropbox::types::FolderMetadata;
    use std::path::PathBuf;
    use std::time::SystemTime;

    fn local(rel: &str, size: u64) -> LocalFile {
        LocalFile {
            path: PathBuf::from(rel),
            rel: rel.into(),
            size,
            modified: SystemTime::UNIX_EPOCH,
        }
    }

    fn remote_file(path: &str, size: u64, hash: &str) -> Metadata {
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
}
