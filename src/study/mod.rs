//! Setting a librec-auto study up for posting (`dropbox-post init`).
//!
//! [`plan`] checks the study and computes every change first: a `dropbox_post.py` script in
//! `conf/config.xml` (spliced in byte for byte, see [`splice`]), `keys/` with a
//! `.gitattributes` that keeps sealed files byte-exact, and `.gitignore` entries for the clear
//! credential files the docs name. Nothing already there is changed or repeated, so a second
//! run finds nothing to do. [`Plan::apply`] writes each file to a temporary file beside it and
//! renames them into place only once all were written: a study it cannot write to is left as
//! it was.

mod splice;

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{self, ConfigError, JobKind, Problem};
use crate::exit::{ExitKind, Failure};
use crate::files::{AtomicFile, Existing, ReadError, read_bounded};

/// The sealed credential the script names, and the folder `init` creates for it.
pub const KEY: &str = "keys/dropbox.enc";
const KEYS_DIR: &str = "keys";
const CONFIG: &str = "conf/config.xml";
/// Sealed files are ASCII but line-ending sensitive: git must not convert them.
const GITATTRIBUTES: &str = "keys/.gitattributes";
const ENC_RULE: &str = "*.enc -text";
const GITIGNORE: &str = ".gitignore";
/// The clear credential files the docs and `--help` name: the token `encrypt --key` seals and
/// a `--password-file`.
const IGNORED: [&str; 2] = ["token.txt", "pw.txt"];
const IGNORE_HEADER: &str = "# dropbox-post: clear tokens and passwords stay out of git";

/// The script `init` adds, its values checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    kind: JobKind,
    path: String,
    dest: String,
    src: String,
}

/// Why `init` cannot set the study up. Nothing was changed when it returns one, but for
/// [`StudyError::Write`].
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error("{study}: {problem}")]
    Study { study: String, problem: String },
    #[error("cannot name a Dropbox folder after {}; pass --dest /FOLDER", .study.display())]
    NoDefaultDest { study: PathBuf },
    #[error("{path} is a {is}, not a {wanted}; pass --option {is}, or a --path that is a {wanted}")]
    WrongKind {
        path: String,
        is: &'static str,
        wanted: &'static str,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path}: {problem}")]
    Conflict { path: String, problem: String },
    // io::Error fields are not `source`s: the message says them, a source would repeat them.
    #[error("cannot write in {} ({error}); is the study read-only? Nothing was changed", .dir.display())]
    NotWritable { dir: PathBuf, error: std::io::Error },
    #[error("cannot write {}: {error}", .path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The splice produced a config that does not hold the script: a bug.
    #[error("adding the script to {} went wrong ({problem}); nothing was changed, please report it", .path.display())]
    Splice { path: PathBuf, problem: String },
}

impl From<StudyError> for Failure {
    fn from(error: StudyError) -> Self {
        let kind = match &error {
            StudyError::Write { .. } | StudyError::Splice { .. } => ExitKind::Internal,
            StudyError::NoDefaultDest { .. } | StudyError::WrongKind { .. } => ExitKind::Usage,
            _ => ExitKind::Config,
        };
        Failure::new(kind, error)
    }
}

impl Script {
    /// `path` relative to the study; `dest` an absolute Dropbox folder; `src` the folder
    /// librec-auto runs `dropbox_post.py` from.
    pub fn new(kind: JobKind, path: &str, dest: &str, src: &str) -> Result<Script, String> {
        let text = |what: &str, value: &str| {
            let value = value.trim();
            if value.is_empty() {
                Err(format!("{what} is empty"))
            } else if value.chars().any(char::is_control) {
                Err(format!("{what} {value:?} contains a control character"))
            } else {
                Ok(value.to_string())
            }
        };
        Ok(Script {
            kind,
            path: text("--path", path)?,
            dest: config::normalize_dest(dest.trim())
                .map_err(|p: Problem| format!("--dest: {p}"))?,
            src: text("--src", src)?,
        })
    }

    /// A script posting the same path to the same folder: adding ours would upload twice.
    fn same_as(&self, written: &config::RawScript) -> bool {
        let path = written.param("path").map(Path::new);
        let dest = written.param("dest").map(config::normalize_dest);
        path == Some(Path::new(&self.path)) && matches!(dest, Some(Ok(d)) if d == self.dest)
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.kind.noun(), self.path, self.dest)
    }
}

/// The default `dest`: the study folder's name under the app folder's root.
pub fn default_dest(study: &Path) -> Result<String, StudyError> {
    let real = fs::canonicalize(study).map_err(|e| cannot_open(study, e))?;
    real.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| config::normalize_dest(&format!("/{name}")).ok())
        .ok_or_else(|| StudyError::NoDefaultDest {
            study: study.to_path_buf(),
        })
}

fn cannot_open(study: &Path, e: std::io::Error) -> StudyError {
    StudyError::Study {
        study: study_name(study),
        problem: format!(
            "cannot open the study folder ({}); pass the study folder (the one holding \
             conf/config.xml)",
            crate::files::ReadError::Io(e)
        ),
    }
}

/// What `init` does to one path of the study.
#[derive(Debug)]
struct Change {
    /// Relative to the study.
    rel: &'static str,
    what: What,
    /// The file's new content (`None` for the keys folder).
    write: Option<FileWrite>,
}

#[derive(Debug)]
enum What {
    CreateDir,
    CreateFile(String),
    Add(String),
    /// Nothing to do; why.
    Already(String),
}

#[derive(Debug)]
struct FileWrite {
    old: Option<Vec<u8>>,
    new: Vec<u8>,
}

/// Every change `init` would make to a study, computed and checked, nothing written yet.
#[derive(Debug)]
pub struct Plan {
    study: PathBuf,
    changes: Vec<Change>,
}

/// Checks the study at `study` and works out what adding `script` changes.
pub fn plan(study: &Path, script: &Script) -> Result<Plan, StudyError> {
    let problem = |problem: &str| StudyError::Study {
        study: study_name(study),
        problem: problem.to_string(),
    };
    match fs::metadata(study) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(problem(
                "not a folder; pass the study folder (the one holding conf/)",
            ));
        }
        Err(e) => return Err(cannot_open(study, e)),
    }
    if !study.join("conf").is_dir() {
        return Err(problem(
            "no conf/ folder, so not a librec-auto study; pass the study folder (the one holding conf/config.xml)",
        ));
    }
    // The path may not exist yet (librec-auto writes post/ when it runs), but if it does, it
    // must be what the script will post.
    if let Ok(m) = fs::metadata(study.join(&script.path)) {
        let is = if m.is_dir() {
            JobKind::Folder
        } else {
            JobKind::File
        };
        if is != script.kind {
            return Err(StudyError::WrongKind {
                path: shown(study, &script.path),
                is: is.noun(),
                wanted: script.kind.noun(),
            });
        }
    }
    let mut changes = vec![config_change(study, script)?];

    let keys = study.join(KEYS_DIR);
    match fs::metadata(&keys) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(StudyError::Conflict {
                path: shown(study, KEYS_DIR),
                problem: "exists but is not a folder; move it away, init puts sealed keys there"
                    .into(),
            });
        }
        Err(_) => changes.push(Change {
            rel: "keys/",
            what: What::CreateDir,
            write: None,
        }),
    }
    changes.push(lines_change(
        study,
        GITATTRIBUTES,
        None,
        &[ENC_RULE],
        has_enc_rule,
    )?);
    changes.push(lines_change(
        study,
        GITIGNORE,
        Some(IGNORE_HEADER),
        &IGNORED,
        |line, entry| line == entry || line.strip_prefix('/') == Some(entry),
    )?);
    Ok(Plan {
        study: study.to_path_buf(),
        changes,
    })
}

fn config_change(study: &Path, script: &Script) -> Result<Change, StudyError> {
    let path = study.join(CONFIG);
    let file = shown(study, CONFIG);
    let text = config::read_text(&path)?;
    let scripts = config::parse(&text, &file)?;
    if let Some(existing) = scripts.iter().find(|s| s.is_dropbox() && script.same_as(s)) {
        return Ok(Change {
            rel: CONFIG,
            what: What::Already(format!(
                "already posts {} → {} (the script on line {}); left as it is",
                script.path, script.dest, existing.line
            )),
            write: None,
        });
    }
    let splice_error = |problem: String| StudyError::Splice {
        path: path.clone(),
        problem,
    };
    let new = splice::add_script(
        &text,
        &splice::NewScript {
            src: &script.src,
            option: script.kind.noun(),
            encrypted_key: KEY,
            path: &script.path,
            dest: &script.dest,
        },
    )
    .map_err(|e| splice_error(e.to_string()))?;
    // The result must read back with the new script in it, or nothing is written.
    let line = config::parse(&new, &file)
        .map_err(|e| splice_error(e.to_string()))?
        .iter()
        .find(|s| s.is_dropbox() && script.same_as(s))
        .map(|s| s.line)
        .ok_or_else(|| splice_error("the script is not in the result".into()))?;
    Ok(Change {
        rel: CONFIG,
        what: What::Add(format!(
            "a dropbox_post.py script ({script}) at line {line}"
        )),
        write: Some(FileWrite {
            old: Some(text.into_bytes()),
            new: new.into_bytes(),
        }),
    })
}

/// `.gitattributes` says `*.enc -text` (or `binary`, which implies it).
fn has_enc_rule(line: &str, _: &str) -> bool {
    let mut words = line.split_whitespace();
    words.next() == Some("*.enc") && words.any(|w| w == "-text" || w == "binary")
}

/// `.gitignore` and `.gitattributes` are a few lines; a bigger file is not read.
const MAX_GIT_FILE: u64 = 16 << 20;

/// A line-based git file (`rel`) with the `entries` it lacks appended, in its line endings.
fn lines_change(
    study: &Path,
    rel: &'static str,
    header: Option<&str>,
    entries: &[&str],
    present: fn(&str, &str) -> bool,
) -> Result<Change, StudyError> {
    let path = study.join(rel);
    let conflict = |problem: String| StudyError::Conflict {
        path: shown(study, rel),
        problem,
    };
    let old = match read_bounded(&path, MAX_GIT_FILE) {
        Ok(bytes) => Some(bytes.to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(ReadError::NotRegular(what)) => {
            return Err(conflict(format!("exists but is {what}; move it away")));
        }
        Err(e) => return Err(conflict(format!("cannot read it: {e}"))),
    };
    let text = String::from_utf8_lossy(old.as_deref().unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let missing: Vec<&str> = entries
        .iter()
        .copied()
        .filter(|entry| !lines.iter().any(|line| present(line, entry)))
        .collect();
    let listed = |entries: &[&str]| entries.join(", ");
    if missing.is_empty() {
        return Ok(Change {
            rel,
            what: What::Already(format!("already has {}", listed(entries))),
            write: None,
        });
    }
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut new = old.clone().unwrap_or_default();
    if !new.is_empty() && !new.ends_with(b"\n") {
        new.extend_from_slice(nl.as_bytes());
    }
    for line in header
        .filter(|h| !lines.contains(h))
        .into_iter()
        .chain(missing.iter().copied())
    {
        new.extend_from_slice(line.as_bytes());
        new.extend_from_slice(nl.as_bytes());
    }
    let what = match old {
        None => What::CreateFile(listed(&missing)),
        Some(_) => What::Add(listed(&missing)),
    };
    Ok(Change {
        rel,
        what,
        write: Some(FileWrite { old, new }),
    })
}

/// A file written in full beside its target, not yet renamed into place.
struct Staged {
    file: AtomicFile,
    replace: bool,
}

impl Plan {
    /// Whether applying the plan would change anything.
    pub fn changes_anything(&self) -> bool {
        self.changes
            .iter()
            .any(|c| !matches!(c.what, What::Already(_)))
    }

    /// One line per path: what was (or, for a dry run, would be) done, or why not.
    pub fn report(&self, dry_run: bool) -> Vec<String> {
        self.changes
            .iter()
            .map(|c| {
                let (done, todo, object) = match &c.what {
                    What::CreateDir => ("created", "would create", String::new()),
                    What::CreateFile(o) => ("created with", "would create with", o.clone()),
                    What::Add(o) => ("added", "would add", o.clone()),
                    What::Already(why) => ("", "", why.clone()),
                };
                let verb = if dry_run { todo } else { done };
                let sep = if verb.is_empty() || object.is_empty() {
                    ""
                } else {
                    " "
                };
                format!("{}: {verb}{sep}{object}", shown(&self.study, c.rel))
            })
            .collect()
    }

    /// The config's change as a unified diff (empty when it is left as it is).
    pub fn config_diff(&self) -> String {
        let Some(write) = self
            .changes
            .iter()
            .find(|c| c.rel == CONFIG)
            .and_then(|c| c.write.as_ref())
        else {
            return String::new();
        };
        let old = String::from_utf8_lossy(write.old.as_deref().unwrap_or_default());
        let new = String::from_utf8_lossy(&write.new);
        let name = shown(&self.study, CONFIG);
        similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .header(&name, &name)
            .to_string()
    }

    /// Makes the changes. Every file is first written in full next to its target (which
    /// proves the folders writable); only then are they renamed into place.
    pub fn apply(&self) -> Result<(), StudyError> {
        let mut created_dir = None;
        let staged = self.stage(&mut created_dir).inspect_err(|_| {
            // The staged files were dropped (deleted) on the way out, so the folder is empty.
            if let Some(dir) = &created_dir {
                let _ = fs::remove_dir(dir);
            }
        })?;
        for s in staged {
            let path = s.file.target().to_path_buf();
            let existing = if s.replace {
                Existing::Replace
            } else {
                Existing::Keep
            };
            s.file
                .commit(existing)
                .map_err(|error| StudyError::Write { path, error })?;
        }
        Ok(())
    }

    fn stage(&self, created_dir: &mut Option<PathBuf>) -> Result<Vec<Staged>, StudyError> {
        let mut staged = Vec::new();
        for change in &self.changes {
            let path = self.study.join(change.rel);
            match (&change.what, &change.write) {
                (What::CreateDir, _) => {
                    fs::create_dir(&path).map_err(|error| StudyError::NotWritable {
                        dir: self.study.clone(),
                        error,
                    })?;
                    *created_dir = Some(path);
                }
                (_, Some(write)) => staged.push(stage(&path, write)?),
                _ => {}
            }
        }
        Ok(staged)
    }
}

fn stage(path: &Path, write: &FileWrite) -> Result<Staged, StudyError> {
    let replace = write.old.is_some();
    // Write through a symlink to the file it points at, keeping the link.
    let target = if replace {
        fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    } else {
        path.to_path_buf()
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    // A new file gets the permissions of any new file; a replaced one keeps its own.
    let file = if replace {
        AtomicFile::new(&target)
    } else {
        AtomicFile::public(&target)
    };
    let mut file = file.map_err(|error| StudyError::NotWritable {
        dir: dir.to_path_buf(),
        error,
    })?;
    let write_error = |error| StudyError::Write {
        path: target.clone(),
        error,
    };
    file.file().write_all(&write.new).map_err(write_error)?;
    if replace {
        let permissions = fs::metadata(&target).map_err(write_error)?.permissions();
        fs::set_permissions(file.temp_path(), permissions).map_err(write_error)?;
    }
    file.sync().map_err(write_error)?;
    Ok(Staged { file, replace })
}

/// The study folder in a message.
fn study_name(study: &Path) -> String {
    if study == Path::new(".") {
        "the current folder".to_string()
    } else {
        study.display().to_string()
    }
}

/// `rel` as the user would type it from where they ran `init`.
pub fn shown(study: &Path, rel: &str) -> String {
    if study == Path::new(".") {
        rel.to_string()
    } else {
        study.join(rel).display().to_string()
    }
}

/// What to do after `init`: a line saying what, then the two commands, one per line: seal
/// a credential (or check the sealed one), then see what `post` would do.
pub fn next_steps(study: &Path) -> String {
    let quote = |s: String| shlex::try_quote(&s).map(|q| q.into_owned()).unwrap_or(s);
    let key = quote(shown(study, KEY));
    let config = quote(shown(study, CONFIG));
    let (what, first) = if study.join(KEY).exists() {
        (
            "Next: check the sealed credential, then see what post would do:".to_string(),
            format!("dropbox-post key check --encrypted {key}"),
        )
    } else {
        (
            format!(
                "Next: seal the Dropbox token saved in token.txt, then see what post would do\n\
                 (for a credential that does not expire, run `dropbox-post auth --app-key KEY \
                 --encrypted {key}` instead of encrypt):"
            ),
            format!("dropbox-post encrypt --key token.txt --encrypted {key}"),
        )
    };
    format!("{what}\n  {first}\n  dropbox-post post --config {config} --dry-run")
}

#[cfg(test)]
mod tests;
