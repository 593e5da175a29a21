//! The one place that decides whether a local path may be posted: `--exclude`/`--include`
//! (and the script's `exclude`/`include` params) and the `.dropboxignore` files of the posted
//! folder, all in gitignore syntax (ripgrep's `ignore` crate), matched as Dropbox compares
//! names: patterns and names both folded by [`key`] (lower case, Unicode NFC), so `Résumé.pdf`
//! typed on Linux matches the decomposed `résumé.pdf` a Mac wrote, and the other way round.
//!
//! A path is posted only if no source leaves it out; the first source that does is the rule
//! reported:
//! 1. an exclude pattern matches it, relative to the posted folder, or relative to the study
//!    directory when it lies there (both as the config names the folder and with symlinks
//!    resolved): `keys/` leaves out `keys/token.txt` whether a script posts the study's `keys`
//!    folder, that file, or a folder holding a link to it;
//! 2. include patterns exist and none matches it or a folder above it, relative to the posted
//!    folder (folders themselves are always walked into, so `--include '*.csv'` finds CSV
//!    files at any depth);
//! 3. a `.dropboxignore` leaves it out: the one in its folder or in any folder above it up to
//!    the posted folder, as git reads `.gitignore` files (a file's lines are relative to its
//!    folder, the deepest file with a matching line decides, the last matching line within a
//!    file, `!` re-includes, nothing under a folder left out comes back).
//!
//! The posted path itself is held to the excludes ([`Filter::excluded_root`]), and so is
//! where a symlink leads ([`Filter::excluded_target`]): a link is left out when its target
//! is, by the target's own path in the posted folder or in the study.
//!
//! The walk asks by name before it opens or even stats anything, and does not enter a folder
//! that is left out; it reads each folder's ignore file as it enters it ([`Filter::enter`]).
//! [`Filter::excluded_path`] answers for a path known only by name (a Dropbox listing), by
//! walking down to it, with the ignore files the walk read and what it left out by where a
//! link leads (so a mirror keeps all the filters left out).
//!
//! An ignore file is UTF-8 (with or without a byte-order mark) or UTF-16 with one (what
//! Windows PowerShell 5's `>` writes), with any line ends. Any other encoding, an ignore file that cannot be read
//! (a dangling symlink, a FIFO, a folder) and a line that is not a valid pattern are errors:
//! posting what the user meant to leave out must never be the fallback.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::patterns::{BACKSLASH, backslash_separator, check_glob, literal};
use dropbox_wire::path::key;

/// The ignore file read in each folder of a posted folder.
pub const IGNORE_FILE: &str = ".dropboxignore";
/// An ignore file is a few lines; a bigger one is refused rather than read.
const MAX_IGNORE_FILE: u64 = 1 << 20;

/// One pattern with where it was written, for messages and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub glob: String,
    /// E.g. `--exclude` or `conf/config.xml line 12`.
    pub origin: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(String);

/// One source of patterns, compiled, with a description of each for reports.
#[derive(Debug)]
struct Rules {
    set: Gitignore,
    described: HashMap<String, String>,
}

impl Rules {
    fn describe(&self, matched: Match<&ignore::gitignore::Glob>) -> Option<String> {
        match matched {
            Match::Ignore(glob) => Some(
                self.described
                    .get(glob.original())
                    .cloned()
                    .unwrap_or_else(|| glob.original().to_string()),
            ),
            _ => None,
        }
    }
}

/// What the walk found that later questions depend on; paths relative to the posted folder,
/// folded by [`key`].
#[derive(Debug, Default)]
struct Seen {
    /// The folders whose ignore file was looked for, as named (`""` for the posted folder
    /// itself).
    entered: HashSet<String>,
    /// The ignore files read so far, by the key of the folder holding each: local folders
    /// whose names fold together (`Sub/`, `sub/`) are one folder on Dropbox, so the ignore
    /// files of all of them apply.
    ignore_files: HashMap<String, Vec<Rules>>,
    /// What was left out by where a symlink on its way leads, with the rule.
    links: HashMap<String, String>,
}

/// The filters of one script.
#[derive(Debug, Default)]
pub struct Filter {
    excludes: Option<Rules>,
    includes: Option<Rules>,
    /// The posted folder, where ignore files are read (`None` for a file).
    root: Option<PathBuf>,
    /// Filled by the walk; read by the walk and, after it, the mirror.
    seen: Mutex<Seen>,
    /// The posted folder (for a file, the folder holding it) with symlinks resolved.
    real_root: Option<PathBuf>,
    /// Where the posted path lies in its study, when it does.
    study: Option<InStudy>,
}

#[derive(Debug)]
struct InStudy {
    /// The study directory with symlinks resolved.
    real: PathBuf,
    /// The posted folder (for a file, the folder holding it) relative to the study, as the
    /// script names it and with symlinks resolved (once when they agree); `""`: the study.
    /// When it leads out of the study, also the resolved folder relative to the root.
    bases: Vec<String>,
    /// The exclude that leaves out the posted path itself, or a folder above it.
    rule: Option<String>,
}

/// The key the ignore crate reports a matched line by.
fn original(line: &str) -> &str {
    if line.ends_with("\\ ") {
        line
    } else {
        line.trim_end()
    }
}

/// The compiled rules (`None`: no rules). Each line parsed, they can still fail to compile
/// together (globset's size limit, some 150,000 `?` in all): `what` is then refused, never
/// dropped, as dropping would post what it leaves out.
fn build(
    builder: GitignoreBuilder,
    described: HashMap<String, String>,
    what: impl FnOnce() -> String,
) -> Result<Option<Rules>, FilterError> {
    let set = builder.build().map_err(|e| {
        let what = what();
        // The cause can quote the compiled pattern whole.
        tracing::debug!("{what}: {:.200}", e.to_string());
        FilterError(format!(
            "{what} cannot be compiled: too large together; use fewer or shorter patterns"
        ))
    })?;
    Ok((!set.is_empty()).then_some(Rules { set, described }))
}

fn patterns(kind: &str, list: &[Pattern]) -> Result<Option<Rules>, FilterError> {
    let mut builder = GitignoreBuilder::new("");
    let mut described = HashMap::new();
    for p in list {
        let line = literal(&key(&p.glob));
        check_glob(&p.glob).map_err(|e| FilterError(format!("{} {kind}: {e}", p.origin)))?;
        builder
            .add_line(None, &line)
            .map_err(|e| FilterError(format!("{} {kind} {:?}: {e}", p.origin, p.glob)))?;
        described
            .entry(original(&line).to_string())
            .or_insert_with(|| format!("{kind} {:?} ({})", p.glob, p.origin));
    }
    let origins = || {
        let mut origins: Vec<&str> = list.iter().map(|p| p.origin.as_str()).collect();
        origins.sort_unstable();
        origins.dedup();
        format!("the {kind} patterns ({})", origins.join(", "))
    };
    build(builder, described, origins)
}

impl Filter {
    /// Leaves nothing out.
    pub fn none() -> Filter {
        Filter::default()
    }

    /// The filter of a script's patterns, and for a folder (`root`) its ignore files: the
    /// one at its root is read now, the others as the walk enters their folders. A pattern
    /// or an ignore-file line that is not valid is an error.
    pub fn new(
        excludes: &[Pattern],
        includes: &[Pattern],
        root: Option<&Path>,
    ) -> Result<Filter, FilterError> {
        let filter = Filter {
            excludes: patterns("exclude", excludes)?,
            includes: patterns("include", includes)?,
            root: root.map(Path::to_path_buf),
            real_root: root.and_then(|r| std::fs::canonicalize(r).ok()),
            ..Filter::default()
        };
        if let Some(root) = root {
            filter.enter(root, "")?;
        }
        Ok(filter)
    }

    /// The filter of a script that posts `path` (a folder if `is_dir`) from `study_dir`:
    /// [`Filter::new`], with the excludes also matched relative to the study, the posted
    /// path itself included. A folder left out is not looked into, not even for its
    /// ignore file.
    pub fn for_job(
        excludes: &[Pattern],
        includes: &[Pattern],
        path: &Path,
        is_dir: bool,
        study_dir: &Path,
    ) -> Result<Filter, FilterError> {
        let mut filter = Filter::new(excludes, includes, None)?;
        let folder = match path.parent() {
            Some(parent) if !is_dir => parent,
            _ => path,
        };
        filter.real_root = std::fs::canonicalize(folder).ok();
        filter.study = filter.in_study(study_dir, folder);
        if is_dir && filter.excluded_root().is_none() {
            filter.root = Some(path.to_path_buf());
            filter.enter(path, "")?;
        }
        Ok(filter)
    }

    /// Where `folder` (the posted folder, or a posted file's) lies in `study_dir` (or, outside
    /// it, below the file system's root), and the exclude that leaves it (or a folder above
    /// it) out.
    fn in_study(&self, study_dir: &Path, folder: &Path) -> Option<InStudy> {
        let real = std::fs::canonicalize(study_dir).ok()?;
        // As named: a `..` is left to the resolved form, which says where it really is.
        let named = (folder.strip_prefix(study_dir).ok())
            .filter(|rel| !rel.components().any(|c| c == Component::ParentDir));
        let resolved = (self.real_root.as_deref()).and_then(|r| r.strip_prefix(&real).ok());
        let mut bases: Vec<String> = (named.into_iter().chain(resolved))
            .map(|rel| key(&slashed(rel)))
            .collect();
        // Leading out of the study (a path with `..`, or named through a link in it, with
        // `--allow-outside` or a config's `allow_outside`): also matched from the file
        // system's root, so that the user's `keys/` or `**/keys/**` still leaves out
        // `../other/keys/token.txt` (only patterns not anchored can match there).
        if resolved.is_none() {
            bases.extend(self.real_root.as_deref().map(|r| key(&slashed(r))));
        }
        bases.dedup();
        if bases.is_empty() {
            return None;
        }
        let rule = bases
            .iter()
            .find_map(|base| self.exclude_rule_on_the_way(base, true));
        Some(InStudy { real, bases, rule })
    }

    /// Why the posted path itself is left out: an exclude matches it (a folder script's
    /// folder) or a folder above it in the study. `None` to post it.
    pub fn excluded_root(&self) -> Option<String> {
        self.study.as_ref()?.rule.clone()
    }

    /// Reads the ignore file of folder `dir`, at `rel` in the posted folder (`""`: the posted
    /// folder), as the walk enters it; a folder read before is not read again. Nothing for
    /// a posted file: only folders have ignore files.
    pub fn enter(&self, dir: &Path, rel: &str) -> Result<(), FilterError> {
        if self.root.is_none() {
            return Ok(());
        }
        if !self.seen().entered.insert(rel.to_string()) {
            return Ok(());
        }
        if let Some(rules) = ignore_file(&dir.join(IGNORE_FILE), rel)? {
            let mut seen = self.seen();
            seen.ignore_files.entry(key(rel)).or_default().push(rules);
        }
        Ok(())
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().expect("filter lock poisoned")
    }

    /// Why `rel` (relative to the root, `/`-separated) is left out, for a walk that has let
    /// its parent folders through; `None` to keep it.
    pub fn excluded(&self, rel: &str, is_dir: bool) -> Option<String> {
        self.left_out(&key(rel), is_dir)
    }

    /// Like [`Filter::excluded`], for a path whose parent folders were not walked: the posted
    /// path, then the first folder on the way down that is left out decides.
    pub fn excluded_path(&self, rel: &str, is_dir: bool) -> Option<String> {
        self.excluded_root().or_else(|| {
            let rel = key(rel);
            steps(&rel, is_dir).find_map(|(prefix, dir)| self.left_out(prefix, dir))
        })
    }

    /// [`Filter::excluded`] of a folded `rel`, or why the walk left it out by where it leads.
    fn left_out(&self, rel: &str, is_dir: bool) -> Option<String> {
        self.excluded_by_pattern(rel, is_dir)
            .or_else(|| self.missed_includes(rel, is_dir))
            .or_else(|| self.ignored(rel, is_dir))
            .or_else(|| self.seen().links.get(rel).cloned())
    }

    /// Why `rel`, a symlink or a path under one, is left out by where it really is: `target`
    /// (resolved) as a path in the posted folder (excludes and ignore files, read on the way
    /// down as a walk would) or in the study (excludes), a folder above it included. `None`
    /// to follow it. What is left out is remembered, for [`Filter::excluded_path`].
    pub fn excluded_target(
        &self,
        rel: &str,
        target: &Path,
        is_dir: bool,
    ) -> Result<Option<String>, FilterError> {
        let rule = self.target_rule(target, is_dir)?;
        if let Some(rule) = &rule {
            self.seen().links.insert(key(rel), rule.clone());
        }
        Ok(rule)
    }

    fn target_rule(&self, target: &Path, is_dir: bool) -> Result<Option<String>, FilterError> {
        if let Some(real_root) = &self.real_root
            && let Ok(rel) = target.strip_prefix(real_root)
        {
            let rel = slashed(rel);
            for (prefix, dir) in steps(&rel, is_dir) {
                let folded = key(prefix);
                let rule = self.exclude_rule(&folded, dir);
                if let Some(rule) = rule.or_else(|| self.ignored(&folded, dir)) {
                    return Ok(Some(rule));
                }
                if dir {
                    self.enter(&real_root.join(prefix), prefix)?;
                }
            }
        }
        // Relative to the study; elsewhere (followed with `--allow-outside`) from the file
        // system's root, as a posted path outside the study is.
        let in_study = (self.study.as_ref()).and_then(|s| target.strip_prefix(&s.real).ok());
        Ok(self.exclude_rule_on_the_way(&key(&slashed(in_study.unwrap_or(target))), is_dir))
    }

    /// The exclude that matches a folder on the way down to `rel` (folded), or `rel`.
    fn exclude_rule_on_the_way(&self, rel: &str, is_dir: bool) -> Option<String> {
        steps(rel, is_dir).find_map(|(prefix, dir)| self.exclude_rule(prefix, dir))
    }

    /// An empty folder is posted (created) unless left out; with include patterns, only when
    /// one of them matches it or a folder above it.
    pub fn excluded_empty_dir(&self, rel: &str) -> Option<String> {
        self.unincluded(&key(rel))
            .then(|| "no include pattern matches this folder".to_string())
    }

    /// The exclude pattern that matches `rel` (folded) as written.
    fn exclude_rule(&self, rel: &str, is_dir: bool) -> Option<String> {
        let rules = self.excludes.as_ref()?;
        rules.describe(rules.set.matched(rel, is_dir))
    }

    /// The exclude pattern that matches `rel` (folded) relative to the posted folder or, the
    /// posted folder being in the study, relative to the study.
    fn excluded_by_pattern(&self, rel: &str, is_dir: bool) -> Option<String> {
        self.excludes.as_ref()?;
        let bases = self.study.iter().flat_map(|s| &s.bases);
        self.exclude_rule(rel, is_dir).or_else(|| {
            bases
                .filter(|base| !base.is_empty())
                .find_map(|base| self.exclude_rule(&format!("{base}/{rel}"), is_dir))
        })
    }

    /// The ignore-file line that leaves `rel` (folded) out: the deepest ignore file above it
    /// with a matching line decides, as in git.
    fn ignored(&self, rel: &str, is_dir: bool) -> Option<String> {
        let files = &self.seen().ignore_files;
        let mut dir = rel;
        while !dir.is_empty() {
            dir = parent_of(dir);
            let Some(twins) = files.get(dir) else {
                continue;
            };
            let inside = if dir.is_empty() {
                rel
            } else {
                &rel[dir.len() + 1..]
            };
            // Any of them leaving it out leaves it out; one taking it back (`!`) decides
            // only when none leaves it out.
            let mut taken_back = false;
            for rules in twins {
                match rules.set.matched(inside, is_dir) {
                    Match::None => {}
                    Match::Whitelist(_) => taken_back = true,
                    matched => return rules.describe(matched),
                }
            }
            if taken_back {
                return None;
            }
        }
        None
    }

    /// Folders are not held to includes while walking (`is_dir`), so that the files in them
    /// can be.
    fn missed_includes(&self, rel: &str, is_dir: bool) -> Option<String> {
        (!is_dir && self.unincluded(rel))
            .then(|| "no include pattern matches this file".to_string())
    }

    /// Include patterns exist and none matches `rel` or a folder above it.
    fn unincluded(&self, rel: &str) -> bool {
        self.includes.as_ref().is_some_and(|includes| {
            !(includes.set)
                .matched_path_or_any_parents(rel, false)
                .is_ignore()
        })
    }
}

/// The folders on the way down to `rel`, then `rel` itself: each with whether it is a folder.
fn steps(rel: &str, is_dir: bool) -> impl Iterator<Item = (&str, bool)> {
    let folders = rel.match_indices('/').map(move |(i, _)| (&rel[..i], true));
    folders.chain((!rel.is_empty()).then_some((rel, is_dir)))
}

/// `rel` without its last component (`""` for a top-level name).
fn parent_of(rel: &str) -> &str {
    rel.rfind('/').map_or("", |i| &rel[..i])
}

/// A relative path `/`-separated, as the filters take it (lossy where a name is not UTF-8,
/// which is enough to match patterns against).
fn slashed(rel: &Path) -> String {
    let parts: Vec<_> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

/// The ignore file `path` of the folder at `rel` in the posted folder, if there is one, as
/// compiled rules; each reported with its file and line. A path that is there but cannot
/// be read (a dangling symlink, a FIFO) is an error, not "none".
fn ignore_file(path: &Path, rel: &str) -> Result<Option<Rules>, FilterError> {
    let shown = path.display();
    let bytes = match dropbox_post_files::read_bounded(path, MAX_IGNORE_FILE) {
        Ok(bytes) => bytes,
        // Not there; or in a folder that cannot be searched, so nothing in it can be posted
        // either (the walk reports the folder).
        Err(_) if std::fs::symlink_metadata(path).is_err() => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let target = std::fs::read_link(path).unwrap_or_default();
            return Err(FilterError(format!(
                "{shown} is a symlink to {}, which does not exist; fix or remove it",
                target.display()
            )));
        }
        Err(e @ dropbox_post_files::ReadError::TooLarge(_)) => {
            return Err(FilterError(format!(
                "{shown}: {e}; is it really an ignore file?"
            )));
        }
        Err(e) => {
            return Err(FilterError(format!(
                "cannot read {shown}: {e}; fix or remove it"
            )));
        }
    };
    let text = decode(&bytes).map_err(|why| FilterError(format!("{shown}: {why}")))?;
    let name = match rel {
        "" => IGNORE_FILE.to_string(),
        dir => format!("{dir}/{IGNORE_FILE}"),
    };
    let mut builder = GitignoreBuilder::new("");
    let mut described = HashMap::new();
    let from = Some(PathBuf::from(&name));
    // A lone `\r` ends a line too (old Mac editors): otherwise the file is one line that
    // matches nothing.
    for (i, line) in text.replace("\r\n", "\n").split(['\n', '\r']).enumerate() {
        // A byte-order mark inside (files joined with `cat`, one saved "with BOM") would make
        // its line match nothing.
        let line = line.strip_prefix('\u{feff}').unwrap_or(line);
        // Comments may name Windows paths (`# bin\Debug`): only patterns are judged.
        if !line.starts_with('#') && backslash_separator(line) {
            return Err(FilterError(format!("{shown} line {}: {BACKSLASH}", i + 1)));
        }
        let folded = key(line);
        builder.add_line(from.clone(), &folded).map_err(|e| {
            // Not the line itself: an ignore file may be a link to a file that is not one
            // (a credential), and errors end up in logs.
            let why = match e {
                ignore::Error::Glob { err, .. } => err,
                e => e.to_string(),
            };
            FilterError(format!("{shown} line {}: {why}; fix or remove it", i + 1))
        })?;
        described
            .entry(original(&folded).to_string())
            .or_insert_with(|| format!("{name} line {}: {}", i + 1, original(line)));
    }
    build(builder, described, || format!("the patterns of {shown}"))
}

/// What to do with an ignore file that cannot be decoded.
const SAVE: &str = "save it as UTF-8";

/// An ignore file's text: UTF-8, with or without a byte-order mark, or UTF-16 with one.
/// Anything else would match nothing it says, so it is refused with what to do.
fn decode(bytes: &[u8]) -> Result<String, String> {
    let text = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        utf8(rest)?
    } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        utf16(rest, u16::from_le_bytes)?
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        utf16(rest, u16::from_be_bytes)?
    } else {
        utf8(bytes)?
    };
    if text.contains('\0') {
        // UTF-16 without a byte-order mark (or UTF-32) is valid UTF-8 full of NULs.
        return Err(format!(
            "holds NUL characters, so it is not text in UTF-8 (UTF-16 needs a byte-order mark); {SAVE}"
        ));
    }
    Ok(text)
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        let valid = &bytes[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        format!("line {line} is not UTF-8 (and the file has no UTF-16 byte-order mark); {SAVE}")
    })
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, String> {
    let broken = || format!("starts with a UTF-16 byte-order mark but is not UTF-16; {SAVE}");
    if !bytes.len().is_multiple_of(2) {
        return Err(broken());
    }
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| broken())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(globs: &[&str], origin: &str) -> Vec<Pattern> {
        globs
            .iter()
            .map(|g| Pattern {
                glob: g.to_string(),
                origin: origin.into(),
            })
            .collect()
    }

    fn filter(excludes: &[&str], includes: &[&str], ignore: Option<&str>) -> Filter {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = ignore {
            std::fs::write(dir.path().join(IGNORE_FILE), text).unwrap();
        }
        Filter::new(
            &pats(excludes, "--exclude"),
            &pats(includes, "--include"),
            Some(dir.path()),
        )
        .unwrap()
    }

    #[test]
    fn nothing_is_left_out_by_default() {
        let f = filter(&[], &[], None);
        assert_eq!(f.excluded("a/b.csv", false), None);
        assert_eq!(f.excluded_path("a/b.csv", false), None);
        assert_eq!(f.excluded_empty_dir("empty"), None);
        assert_eq!(Filter::none().excluded("x", true), None);
    }

    #[test]
    fn excludes_use_gitignore_syntax_and_ignore_case() {
        let f = filter(&["*.pt", "/data/", "cache"], &[], None);
        assert_eq!(
            f.excluded("run/model.PT", false).as_deref(),
            Some(r#"exclude "*.pt" (--exclude)"#)
        );
        assert!(f.excluded("data", true).is_some());
        assert!(
            f.excluded("data", false).is_none(),
            "data/ matches folders only"
        );
        assert!(f.excluded("sub/data", true).is_none(), "/data is anchored");
        assert!(f.excluded("a/Cache", true).is_some());
        assert!(f.excluded("a/cache.csv", false).is_none());
        // Known only by name: a folder above decides.
        assert!(f.excluded_path("data/x/y.csv", false).is_some());
        assert!(f.excluded_path("x/cache/y.csv", false).is_some());
        assert!(f.excluded_path("x/y.csv", false).is_none());
    }

    #[test]
    fn includes_keep_only_what_they_match_at_any_depth() {
        let f = filter(&["secret*"], &["*.csv", "results"], None);
        assert!(f.excluded("a/b", true).is_none(), "folders are walked into");
        assert!(f.excluded("a/b/r.csv", false).is_none());
        assert!(f.excluded("results/model.bin", false).is_none());
        assert_eq!(
            f.excluded("a/model.bin", false).as_deref(),
            Some("no include pattern matches this file")
        );
        // Excludes win over includes.
        assert!(f.excluded("secret.csv", false).unwrap().contains("exclude"));
        assert!(f.excluded_empty_dir("a/empty").is_some());
        assert!(f.excluded_empty_dir("results/empty").is_none());
    }

    #[test]
    fn the_ignore_file_follows_gitignore_rules_and_names_its_line() {
        let f = filter(
            &[],
            &[],
            Some("\u{feff}# checkpoints\n*.ckpt\n!best.ckpt\nscratch/\n!scratch/keep.txt\n"),
        );
        assert_eq!(
            f.excluded("a/last.ckpt", false).as_deref(),
            Some(".dropboxignore line 2: *.ckpt")
        );
        assert!(f.excluded("a/best.ckpt", false).is_none(), "! re-includes");
        assert_eq!(
            f.excluded("scratch", true).as_deref(),
            Some(".dropboxignore line 4: scratch/")
        );
        // As in git, nothing comes back from under an ignored folder.
        assert!(f.excluded_path("scratch/keep.txt", false).is_some());
    }

    #[test]
    fn sources_add_up_and_excludes_are_reported_first() {
        let f = filter(&["*.log"], &["*.log", "*.csv"], Some("*.csv\n"));
        assert!(f.excluded("a.log", false).unwrap().contains("exclude"));
        assert!(
            f.excluded("a.csv", false)
                .unwrap()
                .contains(".dropboxignore")
        );
        assert!(f.excluded("a.txt", false).unwrap().contains("no include"));
        // An ignore file cannot take back what an exclude leaves out.
        let f = filter(&["token.txt"], &[], Some("!token.txt\n"));
        assert!(f.excluded_path("a/token.txt", false).is_some());
    }

    #[test]
    fn bad_patterns_and_ignore_files_are_errors() {
        assert!(check_glob("!x").is_err());
        assert!(check_glob("a/**/b").is_ok());
        assert!(check_glob("#literal").is_ok());
        // A Windows separator; real escapes stay.
        for glob in ["keys\\token.txt", "data\\2024", "a\\b/c"] {
            let err = check_glob(glob).unwrap_err();
            assert!(err.contains("does not separate folders: use /"), "{err}");
        }
        for glob in ["\\#notes", "\\!x", "a\\*b", "trailing\\ ", "c:\\\\x"] {
            assert!(check_glob(glob).is_ok(), "{glob}");
        }
        assert!(with_ignore_file(b"# build output (bin\\Debug)\n*.tmp\n").is_ok());
        let err = with_ignore_file(b"ok\nkeys\\token.txt\n")
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("line 2: `\\` escapes the next character in gitignore syntax and does not separate folders: use /"), "{err}");
        assert!(!err.contains("token"), "the line is not shown: {err}");
        let f = filter(&["#notes"], &[], None);
        assert!(
            f.excluded("#notes", false).is_some(),
            "# is literal on the command line"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(IGNORE_FILE), "ok\n{a,b\n").unwrap();
        let err = Filter::new(&[], &[], Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2: unclosed alternate group"), "{err}");
        assert!(!err.contains("{a,b"), "the line is not shown: {err}");
        std::fs::write(
            dir.path().join(IGNORE_FILE),
            vec![b'x'; MAX_IGNORE_FILE as usize + 1],
        )
        .unwrap();
        assert!(Filter::new(&[], &[], Some(dir.path())).is_err());
        let bad = pats(&["!x"], "conf/config.xml line 3");
        let err = Filter::new(&bad, &[], None).unwrap_err();
        assert!(
            err.to_string().starts_with("conf/config.xml line 3"),
            "{err}"
        );
    }

    fn write(dir: &Path, rel: &str, bytes: impl AsRef<[u8]>) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// The filter of a folder whose root ignore file holds `bytes`.
    fn with_ignore_file(bytes: &[u8]) -> Result<Filter, FilterError> {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), IGNORE_FILE, bytes);
        Filter::new(&[], &[], Some(dir.path()))
    }

    /// With any line ends: `\n`, `\r\n` or `\r` alone.
    #[test]
    fn ignore_files_in_utf8_or_in_utf16_with_a_bom_are_read() {
        let text = "# keys\nkeys/\r\n*.env\n";
        let (mut le, mut be) = (vec![0xFF, 0xFE], vec![0xFE, 0xFF]);
        for unit in text.encode_utf16() {
            le.extend(unit.to_le_bytes());
            be.extend(unit.to_be_bytes());
        }
        let bom = [b"\xEF\xBB\xBF", text.as_bytes()].concat();
        let cr = text.replace(['\r', '\n'], "\r");
        for bytes in [text.as_bytes().to_vec(), bom, le, be, cr.into_bytes()] {
            let f = with_ignore_file(&bytes).unwrap();
            assert_eq!(
                f.excluded("keys", true).as_deref(),
                Some(".dropboxignore line 2: keys/")
            );
            assert!(f.excluded("a/.env", false).is_some());
        }
    }

    #[test]
    fn patterns_too_large_to_compile_together_are_errors() {
        // Each line parses; the set passes globset's size limit only together.
        let half = format!("*{}", "?".repeat(80_000));
        let pattern = |origin: &str| Pattern {
            glob: half.clone(),
            origin: origin.into(),
        };
        let both = [pattern("--exclude"), pattern("conf/config.xml line 9")];
        let error = Filter::new(&both, &[], None).unwrap_err().to_string();
        assert_eq!(
            error,
            "the exclude patterns (--exclude, conf/config.xml line 9) cannot be compiled: \
             too large together; use fewer or shorter patterns"
        );
        assert!(Filter::new(&[], &both, None).is_err());
        assert!(Filter::new(&both[..1], &[], None).is_ok());

        let error = with_ignore_file(format!("{half}\n{half}\n").as_bytes()).unwrap_err();
        assert!(
            error.to_string().ends_with(
                ".dropboxignore cannot be compiled: too large together; use fewer or shorter \
                 patterns"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_byte_order_mark_inside_an_ignore_file_starts_a_line_that_still_counts() {
        let filter = with_ignore_file(b"secret.txt\n\xef\xbb\xbf*.key\n").unwrap();
        assert!(filter.excluded("b.key", false).is_some());
        assert!(filter.excluded("secret.txt", false).is_some());
    }

    #[test]
    fn the_ignore_files_of_folders_that_fold_together_all_apply() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Sub/a.csv", "a");
        write(dir.path(), "sub/.dropboxignore", "token.txt\n");
        write(
            dir.path(),
            "SUB/.dropboxignore",
            "*.txt\n!keep.txt\n!token.txt\n",
        );
        let filter = Filter::new(&[], &[], Some(dir.path())).unwrap();
        for rel in ["Sub", "sub", "SUB"] {
            filter.enter(&dir.path().join(rel), rel).unwrap();
        }
        for rel in ["Sub/token.txt", "sub/token.txt", "sub/other.txt"] {
            assert!(filter.excluded(rel, false).is_some(), "{rel}");
        }
        // Left out by one twin and taken back by the other (token.txt): left out; taken
        // back by one and named by neither (keep.txt): kept.
        assert!(filter.excluded("sub/keep.txt", false).is_none());
        assert!(filter.excluded("sub/a.csv", false).is_none());
    }

    #[test]
    fn ignore_files_that_cannot_be_read_as_written_are_errors() {
        let bad: [(&[u8], &str); 4] = [
            (b"ok\nr\xe9sum\xe9.pdf\n", "line 2 is not UTF-8"),
            (b"k\0e\0y\0s\0/\0", "NUL"),
            (b"\xFF\xFEk\0e", "is not UTF-16"),
            (b"\xFF\xFE\x00\xD8", "is not UTF-16"),
        ];
        for (bytes, why) in bad {
            let err = with_ignore_file(bytes).unwrap_err().to_string();
            assert!(
                err.contains(why) && err.ends_with("save it as UTF-8"),
                "{err}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(IGNORE_FILE)).unwrap();
        let err = Filter::new(&[], &[], Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_or_fifo_ignore_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(IGNORE_FILE);
        std::os::unix::fs::symlink("nowhere", &file).unwrap();
        let err = Filter::new(&[], &[], Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("symlink to nowhere"), "{err}");
        std::fs::remove_file(&file).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&file).status();
        assert!(made.unwrap().success());
        assert!(Filter::new(&[], &[], Some(dir.path())).is_err());
    }

    #[test]
    fn names_and_patterns_match_in_either_normalisation() {
        let (nfc, nfd) = ("r\u{e9}sum\u{e9}.pdf", "re\u{301}sume\u{301}.pdf");
        for (pattern, name) in [(nfc, nfd), (nfd, nfc)] {
            let upper = name.to_uppercase();
            let f = filter(&[pattern], &[], None);
            assert!(f.excluded(name, false).is_some());
            assert!(f.excluded(&upper, false).is_some());
            assert!(f.excluded_path(&format!("a/{name}"), false).is_some());
            let f = filter(&[], &[pattern], None);
            assert!(f.excluded(name, false).is_none());
            let f = filter(&[], &[], Some(&format!("{pattern}\n")));
            assert!(f.excluded(name, false).is_some());
            assert!(f.excluded_path(&upper, false).is_some());
        }
    }

    #[test]
    fn nested_ignore_files_apply_below_their_folder_and_the_deepest_decides() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, IGNORE_FILE, "*.csv\nscratch/\n");
        write(root, "sub/.dropboxignore", "!keep.csv\n/top.txt\n");
        let f = Filter::new(&[], &[], Some(root)).unwrap();
        assert!(f.excluded("sub/keep.csv", false).is_some(), "not read yet");
        f.enter(&root.join("sub"), "sub").unwrap();
        assert!(f.excluded("sub/keep.csv", false).is_none(), "! re-includes");
        assert!(f.excluded("sub/deeper/keep.csv", false).is_none());
        assert!(
            f.excluded("keep.csv", false).is_some(),
            "nothing above its folder"
        );
        assert!(f.excluded("sub/other.csv", false).is_some());
        assert_eq!(
            f.excluded("sub/top.txt", false).as_deref(),
            Some("sub/.dropboxignore line 2: /top.txt")
        );
        assert!(
            f.excluded("sub/deeper/top.txt", false).is_none(),
            "anchored"
        );
        // Known only by name (the mirror's question), with what the walk read.
        assert!(f.excluded_path("sub/top.txt", false).is_some());
        assert!(f.excluded_path("sub/keep.csv", false).is_none());
        // Nothing comes back from under a folder left out.
        assert!(f.excluded_path("scratch/sub/keep.csv", false).is_some());
    }

    #[test]
    fn the_posted_path_is_held_to_the_excludes_relative_to_the_study() {
        let dir = tempfile::tempdir().unwrap();
        let study = dir.path();
        write(study, "keys/token.txt", "t");
        write(study, "post/r.csv", "r");
        let job = |glob: &str, path: &str, is_dir: bool| {
            let excludes = pats(&[glob], "--exclude");
            Filter::for_job(&excludes, &[], &study.join(path), is_dir, study).unwrap()
        };
        for glob in ["keys/", "keys/token.txt", "**/keys/**", "/keys"] {
            let f = job(glob, "keys/token.txt", false);
            let rule = f.excluded_root().or_else(|| f.excluded("token.txt", false));
            assert_eq!(rule, Some(format!("exclude {glob:?} (--exclude)")));
        }
        assert!(job("keys/", "keys", true).excluded_root().is_some());
        // A `..` on the way is judged by where the path really is.
        let f = job("keys/", "post/../keys/token.txt", false);
        assert!(f.excluded_root().is_some());
        // `**/keys/**` is what is in the folder: the folder itself is walked, its files not.
        let f = job("**/keys/**", "keys", true);
        assert!(f.excluded_root().is_none());
        assert!(f.excluded("token.txt", false).is_some());
        // A folder left out is left out by name too (a mirror keeps all it holds).
        assert!(
            job("keys", "keys", true)
                .excluded_path("a", false)
                .is_some()
        );
        // Other paths: relative to the posted folder as ever, and to the study.
        let f = job("keys/", "post", true);
        assert!(f.excluded_root().is_none() && f.excluded("r.csv", false).is_none());
        assert!(f.excluded_path("x/keys/a", false).is_some());
        assert!(
            job("/post/r.csv", "post", true)
                .excluded("r.csv", false)
                .is_some()
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("keys", study.join("results")).unwrap();
            assert!(job("keys/", "results", true).excluded_root().is_some());
            assert!(
                job("keys/", "results/token.txt", false)
                    .excluded_root()
                    .is_some()
            );
        }
    }

    /// Issue 21 red team: a config's `allow_outside` must not take a path past the user's
    /// own excludes; outside the study they are matched from the file system's root.
    #[test]
    fn a_path_outside_the_study_is_held_to_the_excludes_not_anchored() {
        let dir = tempfile::tempdir().unwrap();
        let (study, other) = (dir.path().join("study"), dir.path().join("other"));
        write(&other, "keys/token.txt", "t");
        write(&other, "post/r.csv", "r");
        write(&study, "post/r.csv", "r");
        let job = |glob: &str, path: &str, is_dir: bool| {
            let excludes = pats(&[glob], "--exclude");
            Filter::for_job(&excludes, &[], &study.join(path), is_dir, &study).unwrap()
        };
        for glob in ["keys/", "**/keys/**", "token.txt"] {
            let f = job(glob, "../other/keys/token.txt", false);
            let rule = f.excluded_root().or_else(|| f.excluded("token.txt", false));
            assert_eq!(
                rule,
                Some(format!("exclude {glob:?} (--exclude)")),
                "{glob}"
            );
        }
        assert!(
            job("keys/", "../other/keys", true)
                .excluded_root()
                .is_some()
        );
        // Anchored patterns mean the study or the posted folder, not the disk.
        assert!(
            job("/other", "../other/post", true)
                .excluded_root()
                .is_none()
        );
        assert!(
            job("keys/", "../other/post", true)
                .excluded("r.csv", false)
                .is_none()
        );
        // A symlink to somewhere else entirely is judged from the root too, whether inside
        // a posted folder or posted itself.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(other.join("keys"), study.join("results")).unwrap();
            assert!(job("keys/", "results", true).excluded_root().is_some());
            std::os::unix::fs::symlink(other.join("keys"), study.join("post/latest")).unwrap();
            let f = job("keys/", "post", true);
            let rule = f
                .excluded_target("latest", &other.join("keys"), true)
                .unwrap();
            assert_eq!(rule, Some("exclude \"keys/\" (--exclude)".to_string()));
        }
    }

    #[test]
    fn symlinks_are_judged_by_where_they_lead() {
        let dir = tempfile::tempdir().unwrap();
        let study = dir.path();
        write(study, "keys/token.txt", "t");
        write(study, ".env", "e");
        write(study, "post/.dropboxignore", "hidden/\n");
        write(study, "post/hidden/x.txt", "x");
        write(study, "post/Deep/.dropboxignore", "x.txt\n");
        write(study, "post/Deep/x.txt", "x");
        let excludes = pats(&["keys/", "*.env"], "--exclude");
        let f = Filter::for_job(&excludes, &[], &study.join("post"), true, study).unwrap();
        let target = |rel: &str, is_dir: bool| {
            let real = std::fs::canonicalize(study.join(rel)).unwrap();
            f.excluded_target("link", &real, is_dir).unwrap()
        };
        assert_eq!(
            target("keys", true).as_deref(),
            Some(r#"exclude "keys/" (--exclude)"#)
        );
        assert!(target("keys/token.txt", false).is_some());
        assert!(target(".env", false).is_some());
        assert_eq!(
            target("post/hidden/x.txt", false).as_deref(),
            Some(".dropboxignore line 1: hidden/")
        );
        // An ignore file on the way is read, as the walk would read it.
        assert_eq!(
            target("post/Deep/x.txt", false).as_deref(),
            Some("Deep/.dropboxignore line 1: x.txt")
        );
        assert_eq!(target("post/Deep", true), None);
        assert_eq!(target("post/.dropboxignore", false), None);
    }
}
