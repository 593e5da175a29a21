//! The local side: which files and empty folders a post job sends.
//!
//! Hidden files are included; symlinks are followed while they stay inside the posted folder
//! (one leading out of it is reported and not followed, unless the job may leave it; a loop
//! or a dangling link is reported); fifos, sockets and devices are skipped with a warning; a
//! name that is not UTF-8 cannot become a Dropbox path, so it is reported as a failure by its
//! path and the rest proceeds. A folder that cannot be read is reported, never sent as empty.
//! What the job's [`Filter`] leaves out is decided by name, before anything about it is
//! read, and is listed as excluded (a folder once, not entered).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use walkdir::WalkDir;

use super::filter::Filter;

/// A regular file to send, as it was when the tree was walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub path: PathBuf,
    /// Relative to the job's root with `/` separators (the basename for a file job).
    pub rel: String,
    pub size: u64,
    pub modified: SystemTime,
    /// Identifies this version of the bytes without reading them (`None` where the
    /// platform cannot tell); see `hash_cache`.
    pub stamp: Option<Stamp>,
}

/// Device, inode, and mtime and ctime to the nanosecond. Any write moves ctime, which
/// users cannot set back, and a replaced file is a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl Stamp {
    #[cfg(unix)]
    pub fn of(meta: &std::fs::Metadata) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        Some(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    pub fn of(_: &std::fs::Metadata) -> Option<Stamp> {
        None
    }
}

/// A local entry that cannot be sent, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    /// Where it would have gone, relative to the job's root (`None` if not known).
    pub rel: Option<String>,
    pub reason: String,
}

/// A file or folder the filter left out, with the rule that did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excluded {
    pub path: PathBuf,
    /// Relative to the job's root, `/`-separated (lossy for a name that is not UTF-8).
    pub rel: String,
    pub is_dir: bool,
    pub rule: String,
}

#[derive(Debug, Default)]
pub struct LocalTree {
    pub files: Vec<LocalFile>,
    /// Folders (relative, `""` = the root itself) with nothing inside, not even what the
    /// filter left out.
    pub empty_dirs: Vec<String>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    pub excluded: Vec<Excluded>,
}

/// A single file; it lands as `dest/<basename>`.
pub fn walk_file(path: &Path, filter: &Filter) -> LocalTree {
    let mut tree = LocalTree::default();
    if let Some(name) = path.file_name() {
        let rel = name.to_string_lossy();
        if tree.exclude(filter, path, &rel, false) {
            return tree;
        }
    }
    let name = path.file_name().map(|n| n.to_str());
    let rel = name.flatten().map(str::to_string);
    match (std::fs::metadata(path), name) {
        (Err(e), _) => tree.problem(path, rel, unreadable(path, &e)),
        (_, None) => tree.problem(path, rel, "has no file name".into()),
        (_, Some(None)) => tree.problem(path, rel, NOT_UTF8.into()),
        (Ok(meta), Some(Some(name))) if meta.is_file() => {
            tree.files
                .push(LocalFile::new(path, name.to_string(), &meta));
        }
        (Ok(_), _) => tree.problem(path, rel, "is not a regular file".into()),
    }
    tree
}

/// Why `path` cannot be read; a dangling symlink names where it points.
fn unreadable(path: &Path, error: &dyn std::fmt::Display) -> String {
    match std::fs::read_link(path) {
        Ok(target) if std::fs::metadata(path).is_err() => format!(
            "dangling symlink: it points to {}, which does not exist",
            target.display()
        ),
        _ => format!("cannot read: {error}"),
    }
}

const NOT_UTF8: &str = "name is not valid UTF-8, so it cannot be a Dropbox path; rename it";

/// A folder's contents, recursively; they land under `dest/`. Symlinks that lead out of
/// `root` are followed only with `may_leave`.
pub fn walk_folder(root: &Path, filter: &Filter, may_leave: bool) -> LocalTree {
    let mut tree = LocalTree::default();
    let mut dirs: Vec<String> = Vec::new();
    let mut parents: HashSet<String> = HashSet::new();
    // Folders whose listing failed: reported, so not sent as empty.
    let mut unread: HashSet<String> = HashSet::new();
    let real_root = std::fs::canonicalize(root).ok();
    let rel_of = |path: &Path| {
        let rel = path.strip_prefix(root).unwrap_or(path);
        rel.to_str()
            .map(|s| s.replace(std::path::MAIN_SEPARATOR, "/"))
    };
    let mut entries = WalkDir::new(root).follow_links(true).into_iter();
    while let Some(entry) = entries.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                // Whatever went wrong there was meant to be left out anyway.
                let lossy = relative(root, &path);
                let is_dir = e.loop_ancestor().is_some();
                if !lossy.is_empty() && tree.exclude(filter, &path, &lossy, is_dir) {
                    continue;
                }
                let rel = rel_of(&path);
                let reason = if e.loop_ancestor().is_some() {
                    "symlink loop: points back to one of its own parent folders; skipped".into()
                } else {
                    let io = e.io_error().map_or(e.to_string(), |io| io.to_string());
                    unreadable(&path, &io)
                };
                // Neither it nor its folder is sent as empty: something in it failed.
                if let Some(rel) = rel.as_deref().filter(|r| !r.is_empty()) {
                    parents.insert(parent_of(rel).to_string());
                }
                unread.extend(rel.clone());
                tree.problem(&path, rel, reason);
                continue;
            }
        };
        let file_type = entry.file_type();
        if entry.depth() > 0 {
            let lossy = relative(root, entry.path());
            if tree.exclude(filter, entry.path(), &lossy, file_type.is_dir()) {
                // Not empty: it holds something, only not to post.
                parents.insert(parent_of(&lossy).to_string());
                if file_type.is_dir() {
                    entries.skip_current_dir();
                }
                continue;
            }
        }
        let Some(rel) = rel_of(entry.path()) else {
            tree.problem(entry.path(), None, NOT_UTF8.into());
            if entry.file_type().is_dir() {
                entries.skip_current_dir();
            }
            continue;
        };
        if entry.path_is_symlink() && !may_leave {
            let target = std::fs::canonicalize(entry.path());
            let inside = matches!((&target, &real_root), (Ok(t), Some(r)) if t.starts_with(r));
            if !inside {
                let shown = target.map_or_else(|_| "?".into(), |t| t.display().to_string());
                let reason = format!(
                    "symlink to {shown}, outside the posted folder; not followed \
                     (post --allow-outside follows it)"
                );
                if entry.file_type().is_dir() {
                    entries.skip_current_dir();
                }
                if entry.depth() > 0 {
                    parents.insert(parent_of(&rel).to_string());
                }
                tree.problem(entry.path(), Some(rel), reason);
                continue;
            }
        }
        if entry.depth() > 0 {
            parents.insert(parent_of(&rel).to_string());
        }
        if file_type.is_dir() {
            dirs.push(rel);
        } else if file_type.is_file() {
            match entry.metadata() {
                Ok(meta) => tree.files.push(LocalFile::new(entry.path(), rel, &meta)),
                Err(e) => tree.problem(entry.path(), Some(rel), format!("cannot read: {e}")),
            }
        } else {
            tree.warnings.push(format!(
                "skipping {}: not a regular file or folder (fifo, socket or device)",
                entry.path().display()
            ));
        }
    }
    for dir in dirs
        .into_iter()
        .filter(|d| !parents.contains(d) && !unread.contains(d))
    {
        match filter.excluded_empty_dir(&dir).filter(|_| !dir.is_empty()) {
            Some(rule) => (tree.excluded).push(Excluded::new(&root.join(&dir), &dir, true, rule)),
            None => tree.empty_dirs.push(dir),
        }
    }
    tree
}

fn parent_of(rel: &str) -> &str {
    rel.rfind('/').map_or("", |i| &rel[..i])
}

/// `path` relative to `root`, `/`-separated; lossy where a name is not UTF-8, which is
/// enough to match patterns against.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path).to_string_lossy();
    rel.replace(std::path::MAIN_SEPARATOR, "/")
}

impl Excluded {
    fn new(path: &Path, rel: &str, is_dir: bool, rule: String) -> Excluded {
        Excluded {
            path: path.to_path_buf(),
            rel: rel.to_string(),
            is_dir,
            rule,
        }
    }
}

impl LocalFile {
    pub fn new(path: &Path, rel: String, meta: &std::fs::Metadata) -> LocalFile {
        LocalFile {
            path: path.to_path_buf(),
            rel,
            size: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            stamp: Stamp::of(meta),
        }
    }

    /// How the file differs from what the walk saw, going by `now`'s size and mtime.
    pub fn change_since_walk(&self, now: &std::fs::Metadata) -> Option<String> {
        if now.len() != self.size {
            return Some(format!("size {} is now {}", self.size, now.len()));
        }
        (now.modified().ok() != Some(self.modified))
            .then(|| "its modification time moved".to_string())
    }
}

impl LocalTree {
    /// Whether `filter` leaves `rel` out; if so it is listed as excluded.
    fn exclude(&mut self, filter: &Filter, path: &Path, rel: &str, is_dir: bool) -> bool {
        let rule = filter.excluded(rel, is_dir);
        let left_out = rule.is_some();
        if let Some(rule) = rule {
            self.excluded.push(Excluded::new(path, rel, is_dir, rule));
        }
        left_out
    }

    fn problem(&mut self, path: &Path, rel: Option<String>, reason: String) {
        self.problems.push(Problem {
            path: path.to_path_buf(),
            rel,
            reason,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn rels(tree: &LocalTree) -> Vec<&str> {
        let mut v: Vec<&str> = tree.files.iter().map(|f| f.rel.as_str()).collect();
        v.sort();
        v
    }

    #[test]
    fn nested_hidden_empty_and_empty_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        fs::create_dir_all(root.join("empty/inner")).unwrap();
        fs::write(root.join("a/b/c/deep.txt"), "deep").unwrap();
        fs::write(root.join(".hidden"), "h").unwrap();
        fs::write(root.join("zero"), "").unwrap();
        let tree = walk_folder(root, &Filter::none(), false);
        assert_eq!(rels(&tree), vec![".hidden", "a/b/c/deep.txt", "zero"]);
        assert_eq!(tree.empty_dirs, vec!["empty/inner".to_string()]);
        assert!(tree.problems.is_empty() && tree.warnings.is_empty());
        let zero = tree.files.iter().find(|f| f.rel == "zero").unwrap();
        assert_eq!(zero.size, 0);
    }

    #[test]
    fn an_empty_root_is_itself_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            walk_folder(dir.path(), &Filter::none(), false).empty_dirs,
            vec![String::new()]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_and_loops_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("linked.txt"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("sub/loop")).unwrap();
        std::os::unix::fs::symlink(outside.join("linked.txt"), root.join("f")).unwrap();
        let tree = walk_folder(&root, &Filter::none(), true);
        assert_eq!(rels(&tree), vec!["f", "out/linked.txt"]);
        assert_eq!(tree.problems.len(), 1, "{:?}", tree.problems);
        assert!(tree.problems[0].reason.contains("loop"));
        // Without the opt-in, links out of the posted folder are reported, not followed.
        let tree = walk_folder(&root, &Filter::none(), false);
        assert_eq!(rels(&tree), Vec::<&str>::new());
        let mut reasons: Vec<_> = tree.problems.iter().map(|p| p.rel.clone()).collect();
        reasons.sort();
        assert_eq!(
            reasons,
            [
                Some("f".into()),
                Some("out".into()),
                Some("sub/loop".into())
            ]
        );
        assert!(
            tree.problems
                .iter()
                .any(|p| p.reason.contains("outside the posted folder"))
        );
        assert!(tree.empty_dirs.is_empty(), "{:?}", tree.empty_dirs);
    }

    #[cfg(unix)]
    #[test]
    fn fifos_are_skipped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        fs::write(dir.path().join("ok.txt"), "ok").unwrap();
        let tree = walk_folder(dir.path(), &Filter::none(), false);
        assert_eq!(rels(&tree), vec!["ok.txt"]);
        assert_eq!(tree.warnings.len(), 1);
        assert!(tree.warnings[0].contains("pipe"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn non_utf8_names_are_reported_and_the_rest_proceeds() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let bad = std::ffi::OsStr::from_bytes(b"bad\xff");
        fs::create_dir(dir.path().join(bad)).unwrap();
        fs::write(dir.path().join(bad).join("inside.txt"), "x").unwrap();
        fs::write(dir.path().join("good.txt"), "g").unwrap();
        let tree = walk_folder(dir.path(), &Filter::none(), false);
        assert_eq!(rels(&tree), vec!["good.txt"]);
        assert_eq!(tree.problems.len(), 1);
        assert!(tree.problems[0].reason.contains("UTF-8"));
        assert!(tree.empty_dirs.is_empty());
    }

    #[test]
    fn what_the_filter_leaves_out_is_listed_and_not_entered() {
        use crate::upload::filter::Pattern;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, bytes) in [
            ("keep.csv", "k"),
            ("skip.ckpt", "s"),
            ("data/big.bin", "b"),
            ("only-left-out/x.ckpt", "x"),
        ] {
            fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            fs::write(root.join(path), bytes).unwrap();
        }
        fs::create_dir_all(root.join("empty")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling.ckpt")).unwrap();
        let pattern = |glob: &str| Pattern {
            glob: glob.into(),
            origin: "--exclude".into(),
        };
        let filter = Filter::new(&[pattern("*.ckpt"), pattern("data/")], &[], None).unwrap();
        let tree = walk_folder(root, &filter, false);
        assert_eq!(rels(&tree), vec!["keep.csv"]);
        assert!(tree.problems.is_empty(), "{:?}", tree.problems);
        // A folder holding only what is left out is not "empty": it is not created.
        assert_eq!(tree.empty_dirs, vec!["empty".to_string()]);
        let mut excluded: Vec<(&str, bool)> = tree
            .excluded
            .iter()
            .map(|x| (x.rel.as_str(), x.is_dir))
            .collect();
        excluded.sort();
        let mut want = vec![
            ("data", true),
            ("only-left-out/x.ckpt", false),
            ("skip.ckpt", false),
        ];
        if cfg!(unix) {
            want.insert(0, ("dangling.ckpt", false));
        }
        assert_eq!(excluded, want);

        // With includes, an empty folder none of them matches is left out too.
        let include = Pattern {
            glob: "*.csv".into(),
            origin: "--include".into(),
        };
        let tree = walk_folder(root, &Filter::new(&[], &[include], None).unwrap(), false);
        assert_eq!(rels(&tree), vec!["keep.csv"]);
        assert!(tree.empty_dirs.is_empty());
        assert!(tree.excluded.iter().any(|x| x.rel == "empty" && x.is_dir));
        // A single file is filtered by its name.
        let single = walk_file(&root.join("skip.ckpt"), &filter);
        assert!(single.files.is_empty() && single.problems.is_empty());
        assert_eq!(single.excluded.len(), 1);
    }

    #[test]
    fn single_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.csv");
        fs::write(&f, "1,2").unwrap();
        let tree = walk_file(&f, &Filter::none());
        assert_eq!(rels(&tree), vec!["r.csv"]);
        assert_eq!(tree.files[0].size, 3);
        let missing = walk_file(&dir.path().join("nope"), &Filter::none());
        assert!(missing.files.is_empty());
        assert!(missing.problems[0].reason.starts_with("cannot read"));
        let folder = walk_file(dir.path(), &Filter::none());
        assert_eq!(folder.problems[0].reason, "is not a regular file");
    }
}
