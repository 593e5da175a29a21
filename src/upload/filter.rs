//! What a post leaves out: `--exclude`/`--include` (and the script's `exclude`/`include`
//! params) and the `.dropboxignore` file at the posted folder's root, all in gitignore syntax
//! (ripgrep's `ignore` crate), matched without regard to case, as Dropbox names are.
//!
//! A path is posted only if no source leaves it out; the first source that does is the rule
//! reported:
//! 1. an exclude pattern matches it;
//! 2. include patterns exist and none matches it or a folder above it (folders themselves are
//!    always walked into, so `--include '*.csv'` finds CSV files at any depth);
//! 3. `.dropboxignore` ignores it (gitignore rules: the last matching line wins, `!`
//!    re-includes, nothing under an ignored folder comes back).
//!
//! The walk asks before it opens or even stats anything, and does not enter a folder that is
//! left out; [`Filter::excluded_path`] answers the same for a path known only by name (a
//! Dropbox listing), by walking down to it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// The ignore file read at the root of a posted folder.
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

/// The filters of one script.
#[derive(Debug, Default)]
pub struct Filter {
    excludes: Option<Rules>,
    includes: Option<Rules>,
    ignore_file: Option<Rules>,
}

/// Checks one `--exclude`/`--include` pattern (clap's value parser, and config params).
pub fn check_glob(glob: &str) -> Result<(), String> {
    if glob.starts_with('!') {
        return Err(format!(
            "{glob:?}: a pattern cannot start with `!`; use --include to post only what matches"
        ));
    }
    let mut builder = GitignoreBuilder::new("");
    (builder.add_line(None, &literal(glob)))
        .map(|_| ())
        .map_err(|e| format!("{glob:?} is not a valid pattern: {e}"))
}

/// A command-line or config pattern as one gitignore line: a leading `#` is literal there,
/// not a comment.
fn literal(glob: &str) -> String {
    match glob.strip_prefix('#') {
        Some(rest) => format!("\\#{rest}"),
        None => glob.to_string(),
    }
}

/// The key the ignore crate reports a matched line by.
fn original(line: &str) -> &str {
    if line.ends_with("\\ ") {
        line
    } else {
        line.trim_end()
    }
}

fn builder() -> GitignoreBuilder {
    let mut builder = GitignoreBuilder::new("");
    builder
        .case_insensitive(true)
        .expect("toggling case never fails");
    builder
}

fn build(builder: GitignoreBuilder, described: HashMap<String, String>) -> Option<Rules> {
    let set = builder.build().ok()?;
    (!set.is_empty()).then_some(Rules { set, described })
}

fn patterns(kind: &str, list: &[Pattern]) -> Result<Option<Rules>, FilterError> {
    let mut builder = builder();
    let mut described = HashMap::new();
    for p in list {
        let line = literal(&p.glob);
        check_glob(&p.glob).map_err(|e| FilterError(format!("{} {kind}: {e}", p.origin)))?;
        builder
            .add_line(None, &line)
            .map_err(|e| FilterError(format!("{} {kind} {:?}: {e}", p.origin, p.glob)))?;
        described
            .entry(original(&line).to_string())
            .or_insert_with(|| format!("{kind} {:?} ({})", p.glob, p.origin));
    }
    Ok(build(builder, described))
}

impl Filter {
    /// Leaves nothing out.
    pub fn none() -> Filter {
        Filter::default()
    }

    /// The filter of a script: its patterns, and for a folder (`root`) the ignore file at
    /// its root, if there is one. A pattern or an ignore-file line that is not valid is an
    /// error: posting what the user meant to leave out must not be the fallback.
    pub fn new(
        excludes: &[Pattern],
        includes: &[Pattern],
        root: Option<&Path>,
    ) -> Result<Filter, FilterError> {
        Ok(Filter {
            excludes: patterns("exclude", excludes)?,
            includes: patterns("include", includes)?,
            ignore_file: match root {
                Some(root) => ignore_file(&root.join(IGNORE_FILE))?,
                None => None,
            },
        })
    }

    /// Why `rel` (relative to the root, `/`-separated) is left out, for a walk that has let
    /// its parent folders through; `None` to keep it.
    pub fn excluded(&self, rel: &str, is_dir: bool) -> Option<String> {
        let path = Path::new(rel);
        let rule = |rules: &Option<Rules>| {
            let rules = rules.as_ref()?;
            rules.describe(rules.set.matched(path, is_dir))
        };
        rule(&self.excludes)
            .or_else(|| self.missed_includes(rel, is_dir))
            .or_else(|| rule(&self.ignore_file))
    }

    /// Like [`Filter::excluded`], for a path whose parent folders were not walked: the first
    /// folder on the way down that is left out decides.
    pub fn excluded_path(&self, rel: &str, is_dir: bool) -> Option<String> {
        let mut at = 0;
        while let Some(i) = rel[at..].find('/') {
            at += i;
            if let Some(rule) = self.excluded(&rel[..at], true) {
                return Some(rule);
            }
            at += 1;
        }
        self.excluded(rel, is_dir)
    }

    /// An empty folder is posted (created) unless left out; with include patterns, only when
    /// one of them matches it or a folder above it.
    pub fn excluded_empty_dir(&self, rel: &str) -> Option<String> {
        self.unincluded(rel)
            .then(|| "no include pattern matches this folder".to_string())
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

/// `path`, if it exists, as compiled rules; each reported with its line.
fn ignore_file(path: &Path) -> Result<Option<Rules>, FilterError> {
    let shown = path.display();
    let text = match crate::files::read_bounded(path, MAX_IGNORE_FILE) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e @ crate::files::ReadError::TooLarge(_)) => {
            return Err(FilterError(format!(
                "{shown}: {e}; is it really an ignore file?"
            )));
        }
        Err(e) => return Err(FilterError(format!("cannot read {shown}: {e}"))),
    };
    let mut builder = builder();
    let mut described = HashMap::new();
    let from = Some(PathBuf::from(IGNORE_FILE));
    for (i, line) in text.lines().enumerate() {
        let line = if i == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        builder
            .add_line(from.clone(), line)
            .map_err(|e| FilterError(format!("{shown} line {}: {e}; fix or remove it", i + 1)))?;
        described
            .entry(original(line).to_string())
            .or_insert_with(|| format!("{IGNORE_FILE} line {}: {}", i + 1, original(line)));
    }
    Ok(build(builder, described))
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
    }

    #[test]
    fn bad_patterns_and_ignore_files_are_errors() {
        assert!(check_glob("!x").is_err());
        assert!(check_glob("a/**/b").is_ok());
        assert!(check_glob("#literal").is_ok());
        let f = filter(&["#notes"], &[], None);
        assert!(
            f.excluded("#notes", false).is_some(),
            "# is literal on the command line"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(IGNORE_FILE), "ok\n{a,b\n").unwrap();
        let err = Filter::new(&[], &[], Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
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
}
