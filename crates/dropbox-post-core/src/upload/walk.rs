//! The local side: which files and empty folders a post job sends.
//!
//! Hidden files are included; symlinks are followed while they stay inside the posted folder
//! (one leading out of it is reported and not followed, unless the job may leave it; a loop
//! or a dangling link is reported); fifos, sockets and devices are skipped with a warning; a
//! name that is not UTF-8 cannot become a Dropbox path, so it is reported as a failure by its
//! path and the rest proceeds. A folder that cannot be read is reported, never sent as empty.
//! What the job's [`Filter`] leaves out is decided by name, before anything about it is
//! read, and is listed as excluded (a folder once, not entered); then, for a symlink or
//! anything under a followed one, by where it really is. Each folder's ignore file is read
//! as the walk enters it; one that cannot be read stops the walk with an error, before
//! anything is sent.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use walkdir::WalkDir;

use super::filter::{Filter, FilterError};
use dropbox_wire::limits::MAX_FILE_BYTES;

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
    /// The folder the `rel`s are relative to (for a file, the folder holding it).
    pub root: PathBuf,
    pub files: Vec<LocalFile>,
    /// Folders (relative, `""` = the root itself) with nothing inside, not even what the
    /// filter left out.
    pub empty_dirs: Vec<String>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
    /// Entries neither file nor folder (FIFOs, sockets, devices), skipped with a warning.
    pub skipped: Vec<String>,
    pub excluded: Vec<Excluded>,
}

/// A single file; it lands as `dest/<basename>`.
pub fn walk_file(path: &Path, filter: &Filter) -> Result<LocalTree, FilterError> {
    let mut tree = LocalTree {
        root: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ..LocalTree::default()
    };
    if let Some(name) = path.file_name() {
        let rel = name.to_string_lossy();
        let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let real = link.then(|| std::fs::canonicalize(path).ok()).flatten();
        if tree.exclude_root(filter, path, &rel, false)
            || tree.exclude(filter, path, &rel, false)
            || tree.exclude_real(filter, path, &rel, real.as_deref(), false)?
        {
            return Ok(tree);
        }
    }
    let name = path.file_name().map(|n| n.to_str());
    let rel = name.flatten().map(str::to_string);
    match (std::fs::metadata(path), name) {
        (Err(e), _) => tree.problem(path, rel, unreadable(path, &e)),
        (_, None) => tree.problem(path, rel, "has no file name".into()),
        (_, Some(None)) => tree.problem(path, rel, NOT_UTF8.into()),
        (Ok(meta), Some(Some(name))) if meta.is_file() => {
            tree.file(path, name.to_string(), &meta);
        }
        (Ok(_), _) => tree.problem(path, rel, "is not a regular file".into()),
    }
    Ok(tree)
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
pub fn walk_folder(
    root: &Path,
    filter: &Filter,
    may_leave: bool,
) -> Result<LocalTree, FilterError> {
    let mut tree = LocalTree {
        root: root.to_path_buf(),
        ..LocalTree::default()
    };
    if tree.exclude_root(filter, root, "", true) {
        return Ok(tree);
    }
    // The symlinked folders the walk is in, outermost first, with where each leads.
    let mut links: Vec<(String, PathBuf)> = Vec::new();
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
        let (depth, is_dir, link) = (entry.depth(), file_type.is_dir(), entry.path_is_symlink());
        // Where it really is, when a symlink is on the way: the filter judges that too.
        // (The posted folder itself was judged by where it is before the walk began.)
        let under = real_under(&mut links, &rel);
        let real = match link {
            true => std::fs::canonicalize(entry.path()).ok(),
            false => under,
        };
        if depth > 0 && tree.exclude_real(filter, entry.path(), &rel, real.as_deref(), is_dir)? {
            parents.insert(parent_of(&rel).to_string());
            if is_dir {
                entries.skip_current_dir();
            }
            continue;
        }
        if link && !may_leave {
            let inside = matches!((&real, &real_root), (Some(t), Some(r)) if t.starts_with(r));
            if !inside {
                let shown = real.map_or_else(|| "?".into(), |t| t.display().to_string());
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
            filter.enter(entry.path(), &rel)?;
            if let (true, Some(real)) = (depth > 0 && link, real) {
                links.push((rel.clone(), real));
            }
            dirs.push(rel);
        } else if file_type.is_file() {
            match entry.metadata() {
                Ok(meta) => tree.file(entry.path(), rel, &meta),
                Err(e) => tree.problem(entry.path(), Some(rel), format!("cannot read: {e}")),
            }
        } else {
            tree.warnings.push(format!(
                "skipping {}: not a regular file or folder (fifo, socket or device)",
                entry.path().display()
            ));
            tree.skipped.push(rel);
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
    Ok(tree)
}

/// Where `rel` really is when it lies in a symlinked folder of `links` (the innermost);
/// drops the links the walk has left.
fn real_under(links: &mut Vec<(String, PathBuf)>, rel: &str) -> Option<PathBuf> {
    while let Some((at, _)) = links.last() {
        if rel
            .strip_prefix(at.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
        {
            break;
        }
        links.pop();
    }
    let (at, real) = links.last()?;
    Some(real.join(&rel[at.len() + 1..]))
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

    /// How the file differs from what the walk saw, going by `now`'s device and inode (a
    /// file put in its place, or a symlink to another, is not the file the filters let
    /// through), size and mtime.
    pub fn change_since_walk(&self, now: &std::fs::Metadata) -> Option<String> {
        let inode = |stamp: Stamp| (stamp.dev, stamp.ino);
        if let (Some(then), Some(now)) = (self.stamp, Stamp::of(now))
            && inode(then) != inode(now)
        {
            return Some("it is another file than the one walked".into());
        }
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
        self.left_out(path, rel, is_dir, filter.excluded(rel, is_dir))
    }

    /// Whether `filter` leaves out the posted path itself (listed as excluded, at `rel`).
    fn exclude_root(&mut self, filter: &Filter, path: &Path, rel: &str, is_dir: bool) -> bool {
        self.left_out(path, rel, is_dir, filter.excluded_root())
    }

    /// Whether `filter` leaves `rel` out by where it really is (`real`, when a symlink is on
    /// its way); if so it is listed as excluded.
    fn exclude_real(
        &mut self,
        filter: &Filter,
        path: &Path,
        rel: &str,
        real: Option<&Path>,
        is_dir: bool,
    ) -> Result<bool, FilterError> {
        let rule = match real {
            Some(real) => filter.excluded_target(rel, real, is_dir)?,
            None => None,
        };
        Ok(self.left_out(path, rel, is_dir, rule))
    }

    fn left_out(&mut self, path: &Path, rel: &str, is_dir: bool, rule: Option<String>) -> bool {
        let left_out = rule.is_some();
        if let Some(rule) = rule {
            self.excluded.push(Excluded::new(path, rel, is_dir, rule));
        }
        left_out
    }

    /// A regular file to post; one Dropbox cannot hold (a sparse 3 TiB file, say) fails
    /// here, before hours of sending end in `too_large`.
    fn file(&mut self, path: &Path, rel: String, meta: &std::fs::Metadata) {
        if meta.len() > MAX_FILE_BYTES {
            let why = "is larger than Dropbox's largest file (2 TiB)".to_string();
            return self.problem(path, Some(rel), why);
        }
        self.files.push(LocalFile::new(path, rel, meta));
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
    fn a_file_larger_than_dropbox_holds_fails_in_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("huge.bin");
        // Sparse: no disk is used.
        let file = fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        fs::write(dir.path().join("r.csv"), "1").unwrap();
        let tree = walk_folder(dir.path(), &Filter::none(), false).unwrap();
        assert_eq!(tree.files.len(), 1);
        assert_eq!(tree.problems.len(), 1);
        assert!(
            tree.problems[0].reason.contains("largest file"),
            "{:?}",
            tree.problems
        );
        let tree = walk_file(&big, &Filter::none()).unwrap();
        assert!(tree.files.is_empty() && tree.problems.len() == 1);
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
        let tree = walk_folder(root, &Filter::none(), false).unwrap();
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
            walk_folder(dir.path(), &Filter::none(), false)
                .unwrap()
                .empty_dirs,
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
        let tree = walk_folder(&root, &Filter::none(), true).unwrap();
        assert_eq!(rels(&tree), vec!["f", "out/linked.txt"]);
        assert_eq!(tree.problems.len(), 1, "{:?}", tree.problems);
        assert!(tree.problems[0].reason.contains("loop"));
        // Without the opt-in, links out of the posted folder are reported, not followed.
        let tree = walk_folder(&root, &Filter::none(), false).unwrap();
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
        let tree = walk_folder(dir.path(), &Filter::none(), false).unwrap();
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
        let tree = walk_folder(dir.path(), &Filter::none(), false).unwrap();
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
        let tree = walk_folder(root, &filter, false).unwrap();
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
        let tree = walk_folder(root, &Filter::new(&[], &[include], None).unwrap(), false).unwrap();
        assert_eq!(rels(&tree), vec!["keep.csv"]);
        assert!(tree.empty_dirs.is_empty());
        assert!(tree.excluded.iter().any(|x| x.rel == "empty" && x.is_dir));
        // A single file is filtered by its name.
        let single = walk_file(&root.join("skip.ckpt"), &filter).unwrap();
        assert!(single.files.is_empty() && single.problems.is_empty());
        assert_eq!(single.excluded.len(), 1);
    }

    fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
        fs::create_dir_all(root.join(rel).parent().unwrap()).unwrap();
        fs::write(root.join(rel), bytes).unwrap();
    }

    fn excludes(globs: &[&str]) -> Vec<crate::upload::filter::Pattern> {
        (globs.iter())
            .map(|g| crate::upload::filter::Pattern {
                glob: g.to_string(),
                origin: "--exclude".into(),
            })
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_left_out_by_where_they_lead() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let study = dir.path();
        for rel in ["keys/token.txt", ".env", "data/secret.txt", "data/ok.txt"] {
            write(study, rel, rel);
        }
        write(study, "post/ok.csv", "ok");
        write(study, "post/keys/inner.txt", "inner");
        let post = study.join("post");
        symlink("keys", post.join("latest")).unwrap();
        symlink("../keys", post.join("out")).unwrap();
        symlink("../keys/token.txt", post.join("token-copy")).unwrap();
        symlink("../.env", post.join("env-copy")).unwrap();
        symlink("../data", post.join("runs")).unwrap();
        // `/data/secret.txt` names only where runs/secret.txt really is.
        let excludes = excludes(&["keys/", "*.env", "/data/secret.txt"]);
        let filter = Filter::for_job(&excludes, &[], &post, true, study).unwrap();
        let tree = walk_folder(&post, &filter, true).unwrap();
        assert_eq!(rels(&tree), ["ok.csv", "runs/ok.txt"]);
        let mut excluded: Vec<&str> = tree.excluded.iter().map(|x| x.rel.as_str()).collect();
        excluded.sort();
        let want = [
            "env-copy",
            "keys",
            "latest",
            "out",
            "runs/secret.txt",
            "token-copy",
        ];
        assert_eq!(excluded, want);
        // The mirror, asking by name after the walk, keeps them too.
        for rel in ["latest/inner.txt", "Env-Copy", "runs/secret.txt"] {
            assert!(filter.excluded_path(rel, false).is_some(), "{rel}");
        }
        assert!(filter.excluded_path("runs/ok.txt", false).is_none());
        // Without leave to go out, a link left out is excluded rather than refused.
        let tree = walk_folder(&post, &filter, false).unwrap();
        assert_eq!(rels(&tree), ["ok.csv"]);
        let refused: Vec<_> = tree.problems.iter().map(|p| p.rel.as_deref()).collect();
        assert_eq!(refused, [Some("runs")]);
        // A posted folder that is itself a link is not "outside" itself.
        symlink("post", study.join("results")).unwrap();
        let results = study.join("results");
        let filter = Filter::for_job(&excludes, &[], &results, true, study).unwrap();
        let tree = walk_folder(&results, &filter, false).unwrap();
        assert_eq!(rels(&tree), ["ok.csv"]);
        let refused: Vec<_> = tree.problems.iter().map(|p| p.rel.as_deref()).collect();
        assert_eq!(refused, [Some("runs")]);
    }

    #[test]
    fn nested_ignore_files_are_read_as_the_walk_enters_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".dropboxignore", "*.log\n");
        write(root, "a/.dropboxignore", "!keep.log\nsecret/\n");
        for rel in ["a/keep.log", "a/x.log", "a/secret/s.txt", "b/secret/ok.txt"] {
            write(root, rel, rel);
        }
        let filter = Filter::new(&[], &[], Some(root)).unwrap();
        let tree = walk_folder(root, &filter, false).unwrap();
        let want = [
            ".dropboxignore",
            "a/.dropboxignore",
            "a/keep.log",
            "b/secret/ok.txt",
        ];
        assert_eq!(rels(&tree), want);
        let mut excluded: Vec<_> = (tree.excluded.iter())
            .map(|x| (x.rel.as_str(), x.rule.as_str()))
            .collect();
        excluded.sort();
        let want = [
            ("a/secret", "a/.dropboxignore line 2: secret/"),
            ("a/x.log", ".dropboxignore line 1: *.log"),
        ];
        assert_eq!(excluded, want);
        // The mirror asks after the walk, by name, with the files the walk read.
        assert!(filter.excluded_path("a/secret/gone.txt", false).is_some());
        assert!(filter.excluded_path("a/keep.log", false).is_none());
        // One that cannot be read stops the walk.
        fs::write(root.join("b/.dropboxignore"), b"\xff\n").unwrap();
        let filter = Filter::new(&[], &[], Some(root)).unwrap();
        let err = walk_folder(root, &filter, false).unwrap_err().to_string();
        assert!(
            err.contains("b/.dropboxignore: line 1 is not UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn a_posted_path_left_out_is_one_excluded_entry() {
        let dir = tempfile::tempdir().unwrap();
        let study = dir.path();
        write(study, "keys/token.txt", "t");
        write(study, "keys/.dropboxignore", b"\xff");
        let keys = study.join("keys");
        let filter = Filter::for_job(&excludes(&["keys/"]), &[], &keys, true, study).unwrap();
        let tree = walk_folder(&keys, &filter, false).unwrap();
        assert!(tree.files.is_empty() && tree.empty_dirs.is_empty());
        let excluded: Vec<_> = tree
            .excluded
            .iter()
            .map(|x| (x.rel.as_str(), x.is_dir))
            .collect();
        assert_eq!(excluded, [("", true)]);
        let file = keys.join("token.txt");
        let filter = Filter::for_job(&excludes(&["keys/"]), &[], &file, false, study).unwrap();
        let tree = walk_file(&file, &filter).unwrap();
        assert!(tree.files.is_empty());
        assert_eq!(tree.excluded[0].rel, "token.txt");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_swapped_for_a_link_since_the_walk_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let (walked, secret) = (dir.path().join("r.csv"), dir.path().join("token.txt"));
        fs::write(&walked, "1,2").unwrap();
        fs::write(&secret, "tok").unwrap();
        let file = LocalFile::new(&walked, "r.csv".into(), &fs::metadata(&walked).unwrap());
        // Same size and mtime, another file: what a second writer could put in its place.
        let mtime = fs::metadata(&walked).unwrap().modified().unwrap();
        fs::File::options()
            .write(true)
            .open(&secret)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        fs::remove_file(&walked).unwrap();
        std::os::unix::fs::symlink(&secret, &walked).unwrap();
        let change = file.change_since_walk(&fs::metadata(&walked).unwrap());
        assert_eq!(
            change.as_deref(),
            Some("it is another file than the one walked")
        );
    }

    #[test]
    fn single_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.csv");
        fs::write(&f, "1,2").unwrap();
        let tree = walk_file(&f, &Filter::none()).unwrap();
        assert_eq!(rels(&tree), vec!["r.csv"]);
        assert_eq!(tree.files[0].size, 3);
        let missing = walk_file(&dir.path().join("nope"), &Filter::none()).unwrap();
        assert!(missing.files.is_empty());
        assert!(missing.problems[0].reason.starts_with("cannot read"));
        let folder = walk_file(dir.path(), &Filter::none()).unwrap();
        assert_eq!(folder.problems[0].reason, "is not a regular file");
    }
}
