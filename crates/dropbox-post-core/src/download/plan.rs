//! Where each remote file lands below the target, and what is left out: names that would
//! leave the target (the whole download is refused), a `.git` folder, two files at one
//! local name. Local folders are made here, through the target's [`Folder`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{DownloadError, Unsafe, refused_text};
use dropbox_post_files::ReadError;
use dropbox_post_files::confine::{Folder, Missing, Refused};
use dropbox_wire::path::{key, relative};
use dropbox_wire::types::{FileMetadata, Metadata};

/// A remote file and where it lands below the folder written into.
#[derive(Debug)]
pub struct Download {
    pub remote: FileMetadata,
    pub dest: PathBuf,
}

impl Download {
    /// The Dropbox path to show for it.
    pub fn shown(&self) -> &str {
        self.remote
            .path_display
            .as_deref()
            .unwrap_or(&self.remote.name)
    }
}

/// Why an entry of the listing is not written.
#[derive(Debug, thiserror::Error)]
pub enum LeftOut {
    /// Anything in a `.git` folder: its config and hooks run commands at the next git
    /// command there.
    #[error(
        "get never writes into a .git folder (git runs what its config and hooks say); it is \
         left out"
    )]
    GitFolder,
    /// Two files at one local name (a broken or hostile listing: Dropbox cannot hold them);
    /// writing both would silently keep only the last.
    #[error("Dropbox listed another file at this name; neither is written")]
    SharedName,
    /// A folder that could not be made below the target (a link on the way, a file there).
    #[error("{}", refused_text(.0))]
    Unwritable(Refused),
}

/// An entry of the listing that is not written.
#[derive(Debug)]
pub struct Unplaced {
    /// The Dropbox path, as displayed.
    pub remote: String,
    /// Where it would have landed, below the target.
    pub dest: PathBuf,
    pub is_folder: bool,
    pub why: LeftOut,
}

/// What a download writes: the folder it writes into, each file below it, and what of the
/// listing it leaves out.
#[derive(Debug)]
pub struct Placement {
    pub root: Folder,
    /// In local path order.
    pub files: Vec<Download>,
    pub left_out: Vec<Unplaced>,
}

fn open(dir: &Path) -> Result<Folder, DownloadError> {
    Folder::open(dir).map_err(|e| DownloadError::Open {
        dir: dir.to_path_buf(),
        error: ReadError::Io(e),
    })
}

/// The single file `path` (as asked for): at `local`, or inside it when it is a folder.
pub fn single(path: &str, file: FileMetadata, local: &Path) -> Result<Placement, DownloadError> {
    let (dir, name) = if local.is_dir() {
        (local, PathBuf::from(file_name(path, &file.name)?))
    } else {
        let name = local
            .file_name()
            .ok_or_else(|| DownloadError::NotAFileName(local.to_path_buf()))?;
        let dir = match local.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        (dir, PathBuf::from(name))
    };
    Ok(Placement {
        root: open(dir)?,
        files: vec![Download {
            remote: file,
            dest: name,
        }],
        left_out: Vec::new(),
    })
}

/// The listing `entries` of the folder `path`, below `local` (created if needed, as are the
/// folders of the listing). Every name is checked before anything is made: an unsafe one
/// writes nothing.
pub fn tree(path: &str, entries: Vec<Metadata>, local: &Path) -> Result<Placement, DownloadError> {
    let mut spellings = Spellings::default();
    let mut placed = Vec::new();
    for entry in entries {
        let Some(rel) = relative(path, &entry) else {
            continue;
        };
        let rel = spellings.place(&rel, matches!(entry, Metadata::Folder(_)));
        let dest = safe_relative(&rel)?;
        placed.push((entry, rel, dest));
    }
    // LOCAL itself is the user's to name, links on the way included.
    std::fs::create_dir_all(local).map_err(|error| DownloadError::Create {
        dir: local.to_path_buf(),
        error,
    })?;
    let root = open(local)?;
    let mut files = Vec::new();
    let mut left_out = Vec::new();
    for (entry, rel, dest) in placed {
        let is_folder = matches!(entry, Metadata::Folder(_));
        let why = match entry {
            Metadata::Deleted(_) => continue,
            _ if in_git_folder(&rel) => LeftOut::GitFolder,
            Metadata::Folder(_) => match root.folder(&dest, Missing::Create) {
                Ok(_) => continue,
                Err(refused) => LeftOut::Unwritable(refused),
            },
            Metadata::File(remote) => {
                files.push(Download { remote, dest });
                continue;
            }
        };
        left_out.push(Unplaced {
            remote: entry.path_display().unwrap_or(&rel).to_string(),
            dest,
            is_folder,
            why,
        });
    }
    let (mut files, twins) = one_per_name(files);
    left_out.extend(twins.into_iter().map(|twin| Unplaced {
        remote: twin.shown().to_string(),
        dest: twin.dest,
        is_folder: false,
        why: LeftOut::SharedName,
    }));
    files.sort_by(|a, b| a.dest.cmp(&b.dest));
    Ok(Placement {
        root,
        files,
        left_out,
    })
}

/// `files` split into those alone at their local name and those that share one.
fn one_per_name(files: Vec<Download>) -> (Vec<Download>, Vec<Download>) {
    let name = |dest: &Path| key(&dest.to_string_lossy());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for file in &files {
        *seen.entry(name(&file.dest)).or_default() += 1;
    }
    files
        .into_iter()
        .partition(|file| seen[&name(&file.dest)] == 1)
}

fn in_git_folder(rel: &str) -> bool {
    rel.split('/').any(is_dot_git)
}

/// Whether `name` is `.git` on some file system, as git itself judges tree entries: in any
/// case, with the trailing dots and spaces Windows drops, with the code points HFS+ ignores,
/// or as its 8.3 short name `GIT~1` (the folder may sit on a shared or exFAT disk).
fn is_dot_git(name: &str) -> bool {
    let hfs_ignored = |c: char| matches!(c, '\u{200C}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{206A}'..='\u{206F}' | '\u{FEFF}');
    let kept: String = name.chars().filter(|&c| !hfs_ignored(c)).collect();
    let folded = key(kept.trim_end_matches(['.', ' ']));
    folded == ".git" || folded == "git~1"
}

/// Local paths for a listing's entries: each folder keeps the spelling it is first seen
/// with, so that entries whose display paths spell a parent in another case (Dropbox vouches
/// only for the last name's) land in one local folder.
#[derive(Default)]
struct Spellings(HashMap<String, String>);

impl Spellings {
    /// `rel` (a folder's when `is_folder`) with each folder on the way as first placed.
    fn place(&mut self, rel: &str, is_folder: bool) -> String {
        let names: Vec<&str> = rel.split('/').collect();
        let folders = if is_folder {
            names.len()
        } else {
            names.len() - 1
        };
        let mut placed = String::new();
        for i in 0..folders {
            let spelled = match placed.is_empty() {
                true => names[i].to_string(),
                false => format!("{placed}/{}", names[i]),
            };
            placed = (self.0.entry(key(&names[..=i].join("/"))))
                .or_insert(spelled)
                .clone();
        }
        match (is_folder, placed.is_empty()) {
            (true, _) => placed,
            (false, true) => names[folders].to_string(),
            (false, false) => format!("{placed}/{}", names[folders]),
        }
    }
}

/// A Dropbox path below the folder, as a local relative path that cannot climb out of it.
fn safe_relative(rel: &str) -> Result<PathBuf, DownloadError> {
    let mut out = PathBuf::new();
    for part in rel.split('/') {
        if !safe_component(part) {
            return Err(unsafe_name(Unsafe::Path, rel));
        }
        out.push(part);
    }
    Ok(out)
}

/// The local name of the single file `asked` (the path the user gave): the name Dropbox
/// reports for it, which must be one safe component naming that same file (it may differ
/// only in case and Unicode normalisation, which Dropbox folds).
fn file_name<'a>(asked: &str, name: &'a str) -> Result<&'a str, DownloadError> {
    let last = asked.rsplit('/').next().unwrap_or_default();
    if !safe_component(name) || key(name) != key(last) {
        return Err(unsafe_name(Unsafe::Name, name));
    }
    Ok(name)
}

/// Is `part` one plain file name: not empty, not `.` or `..`, no separator, no NUL?
fn safe_component(part: &str) -> bool {
    // `\` separates folders only on Windows; elsewhere it is an ordinary character.
    !(part.is_empty()
        || part == "."
        || part == ".."
        || part.contains(['/', '\0'])
        || (cfg!(windows) && part.contains(['\\', ':'])))
}

fn unsafe_name(what: Unsafe, value: &str) -> DownloadError {
    DownloadError::UnsafeName {
        what,
        value: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::remote::tests::entry;
    use proptest::prelude::*;

    #[test]
    fn remote_paths_cannot_climb_out() {
        assert_eq!(
            safe_relative("a/b.txt").unwrap(),
            Path::new("a").join("b.txt")
        );
        for bad in ["../x", "a/../../x", "a//b", "", "a/\0b", "/x", "a/."] {
            assert!(safe_relative(bad).is_err(), "{bad}");
        }
        assert_eq!(safe_relative("a\\..\\b").is_err(), cfg!(windows));
    }

    /// A local file name: anything but `/`, NUL, `.` and `..`.
    fn name() -> impl Strategy<Value = String> {
        "[^/\\x00]{1,10}|[ %\"'\\\\😀é]{1,4}|e\u{301}"
            .prop_filter("reserved", |n| n != "." && n != "..")
    }

    /// Server-supplied text: path pieces an attacker would try, mixed with ordinary names.
    fn hostile() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("/".to_string()),
                Just("..".to_string()),
                Just(".".to_string()),
                Just("\\".to_string()),
                Just("\0".to_string()),
                Just("C:".to_string()),
                Just("~".to_string()),
                "[a-zA-Z0-9 ._-]{1,4}",
                any::<char>().prop_map(String::from),
            ],
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        /// Whatever Dropbox answers, a local path built from it stays below the target
        /// folder: one plain component per name, never a root, `.`, `..` or NUL.
        #[test]
        fn server_names_never_leave_the_target(
            rel in hostile(),
            name in hostile(),
            asked in hostile(),
        ) {
            use std::path::Component;
            let target = Path::new("/target/folder");
            if let Ok(local) = safe_relative(&rel) {
                let parts: Vec<_> = local.components().collect();
                prop_assert_eq!(parts.len(), rel.split('/').count());
                prop_assert!(parts.iter().all(|c| matches!(c, Component::Normal(_))));
                prop_assert!(!rel.contains('\0'));
                prop_assert!(target.join(&local).starts_with(target));
            }
            // Asked for by that very name (the common case), or by anything else.
            let named = format!("/res/{name}");
            for asked in [asked.as_str(), named.as_str()] {
                let Ok(local) = file_name(asked, &name) else {
                    continue;
                };
                let joined = target.join(local);
                prop_assert_eq!(joined.parent(), Some(target));
                prop_assert!(matches!(
                    joined.components().next_back(),
                    Some(Component::Normal(n)) if n == name.as_str()
                ));
                prop_assert!(!name.contains(['/', '\0']));
            }
        }

        /// `post` puts `rel` at `remote_path(dest, rel)`; `get` of `dest` (typed in any case)
        /// brings it back to `rel` below the local folder.
        #[cfg(unix)]
        #[test]
        fn get_brings_back_what_post_sent(
            names in proptest::collection::vec(name(), 1..5),
            dest in prop_oneof![Just("/".to_string()), "/[A-Za-zÉéΣσK\u{212a}İ ]{1,6}"],
            upper in any::<bool>(),
        ) {
            let rel = names.join("/");
            let remote = crate::upload::plan::remote_path(&dest, &rel);
            let meta = entry("file", &remote);
            let typed = if upper { dest.to_uppercase() } else { dest.clone() };
            let base = dropbox_wire::path::normalize(&typed);
            prop_assume!(key(&base) == key(dest.trim_end_matches('/')));
            let back = relative(&base, &meta);
            prop_assert_eq!(back.as_deref(), Some(rel.as_str()));
            let local = safe_relative(&rel).unwrap();
            prop_assert_eq!(local, names.iter().collect::<PathBuf>());
        }
    }

    #[test]
    fn each_folder_keeps_the_spelling_it_is_first_seen_with() {
        let mut spellings = Spellings::default();
        let placed: Vec<String> = [
            ("sub", true),
            ("Sub/a.txt", false),
            ("SUB/deeper", true),
            ("sUb/DEEPER/b.txt", false),
            ("top.txt", false),
            ("Other/x", false),
            ("other", true),
        ]
        .iter()
        .map(|(rel, folder)| spellings.place(rel, *folder))
        .collect();
        assert_eq!(
            placed,
            [
                "sub",
                "sub/a.txt",
                "sub/deeper",
                "sub/deeper/b.txt",
                "top.txt",
                "Other/x",
                "Other"
            ]
        );
    }

    #[test]
    fn files_sharing_a_local_name_are_refused_and_git_folders_left_out() {
        let file = |display: &str, rel: &str| {
            let meta = entry("file", display);
            let Metadata::File(f) = meta else {
                unreachable!()
            };
            Download {
                remote: f,
                dest: PathBuf::from(rel),
            }
        };
        let (alone, twins) = one_per_name(vec![
            file("/res/same.txt", "same.txt"),
            file("/res/Same.TXT", "Same.TXT"),
            file("/res/other.txt", "other.txt"),
        ]);
        let names = |v: &[Download]| -> Vec<String> {
            v.iter().map(|d| d.dest.display().to_string()).collect()
        };
        assert_eq!(names(&alone), ["other.txt"]);
        assert_eq!(names(&twins), ["same.txt", "Same.TXT"]);

        for rel in [
            ".git",
            ".git/config",
            "a/.GIT/hooks/post-checkout",
            ".Git/x",
            ".git./config",
            ".git /config",
            ".git. . /config",
            "GIT~1/config",
            ".g\u{200c}it/config",
            ".git\u{feff}/config",
        ] {
            assert!(in_git_folder(rel), "{rel}");
        }
        for rel in [
            ".gitignore",
            "a/.github/x",
            "git/config",
            "x.git",
            "git~2/x",
            "..git",
        ] {
            assert!(!in_git_folder(rel), "{rel}");
        }
    }

    #[test]
    fn a_single_files_name_must_be_the_one_asked_for() {
        assert_eq!(file_name("/res/Run.csv", "run.CSV").unwrap(), "run.CSV");
        assert_eq!(file_name("/a/cafe\u{301}", "Café").unwrap(), "Café");
        for (asked, name) in [
            ("/res/run.csv", "/tmp/x/escaped.txt"),
            ("/res/run.csv", "../escaped.txt"),
            ("/res/..", ".."),
            ("/res/run.csv", "other.csv"),
            ("/res/a", "a/b"),
            ("/res/a", "a\0"),
            ("/res/x", ""),
        ] {
            let err = file_name(asked, name).unwrap_err().to_string();
            assert!(err.contains("unsafe name"), "{name}: {err}");
        }
    }

    #[test]
    fn one_unsafe_path_in_a_listing_refuses_it_before_the_target_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("copy");
        let entries = vec![entry("folder", "/res/ok"), entry("file", "/res/../escaped")];
        let err = tree("/res", entries, &local).unwrap_err();
        assert!(
            matches!(
                err,
                DownloadError::UnsafeName {
                    what: Unsafe::Path,
                    ..
                }
            ),
            "{err}"
        );
        assert!(!local.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_listing_places_its_files_and_leaves_out_links_git_and_twins() {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("copy");
        std::fs::create_dir(&local).unwrap();
        std::os::unix::fs::symlink(dir.path(), local.join("linked")).unwrap();
        let entries = vec![
            entry("folder", "/res/linked"),
            entry("file", "/res/linked/x"),
            entry("file", "/res/.git/config"),
            entry("file", "/res/a.txt"),
            entry("file", "/res/A.txt"),
            entry("folder", "/res/sub"),
            entry("file", "/res/sub/b.txt"),
        ];
        let placement = tree("/res", entries, &local).unwrap();
        let files: Vec<_> = placement.files.iter().map(|f| f.dest.clone()).collect();
        // `linked/x` is placed: fetching it is refused at the link (fetch opens every file
        // through the target's folder).
        assert_eq!(files, [Path::new("linked/x"), Path::new("sub/b.txt")]);
        assert!(local.join("sub").is_dir());
        let left: Vec<_> = (placement.left_out.iter())
            .map(|l| (l.remote.as_str(), l.is_folder, l.why.to_string()))
            .collect();
        assert_eq!(left.len(), 4, "{left:?}");
        assert!(
            left[0].0 == "/res/linked" && left[0].1 && left[0].2.contains("never through a link")
        );
        assert_eq!(left[1].0, "/res/.git/config");
        assert!(matches!(placement.left_out[1].why, LeftOut::GitFolder));
        assert!(
            left[2..]
                .iter()
                .all(|l| l.2 == LeftOut::SharedName.to_string())
        );
    }
}
