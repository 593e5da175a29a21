//! Setting a librec-auto study up for posting (`dropbox-post init`).
//!
//! [`plan`] checks the study and computes every change first: a `dropbox_post.py` script in
//! `conf/config.xml` (spliced in byte for byte, see [`splice`]), `keys/` with a
//! `.gitattributes` that keeps sealed files byte-exact, and `.gitignore` entries for the clear
//! credential files the docs name. Nothing already there is changed or repeated, so a second
//! run finds nothing to do. [`Plan::apply`] writes each file to a temporary file beside it and
//! renames them into place only once all were written: a study it cannot write to is left as
//! it was.
//!
//! Every path is reached through [`dropbox_post_files::confine`]: a symbolic link on the way (a
//! cloned study can carry `.gitignore -> ~/.bashrc`) is refused before anything is written.
//! The config is locked from the moment it is read until the plan is dropped, and replaced
//! after every other file, so concurrent runs edit the study one after the other, each
//! seeing what the others added.

mod splice;

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{self, ConfigError, JobKind, Problem};
use dropbox_post_files::confine::{Folder, Missing, NewFile, Refused};
use dropbox_post_files::{Existing, ReadError, read_open};

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
    #[error(
        "{0}; init writes only inside the study, never through a link (a cloned study can \
         carry one that leads anywhere): replace it with the file or folder itself, or remove \
         it, then run init again"
    )]
    Link(Refused),
    #[error(
        "{path} is read-only; init would replace it: make it writable (chmod u+w {path}) and \
         run init again"
    )]
    ReadOnly { path: String },
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
            dropbox_post_files::ReadError::Io(e)
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
    /// What the file held, and its permissions (which it keeps); `None` for a new file.
    old: Option<(Vec<u8>, u32)>,
    new: Vec<u8>,
}

/// Every change `init` would make to a study, computed and checked, nothing written yet.
#[derive(Debug)]
pub struct Plan {
    study: PathBuf,
    root: Folder,
    changes: Vec<Change>,
    /// The config, locked for as long as the plan lives.
    _lock: File,
}

/// Checks the study at `study` and works out what adding `script` changes. The config stays
/// locked until the plan is dropped. `waiting` hears of the config when another init holds
/// it and this one waits.
pub fn plan(study: &Path, script: &Script, waiting: &dyn Fn(&Path)) -> Result<Plan, StudyError> {
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
    let root = Folder::open(study).map_err(|e| cannot_open(study, e))?;
    let conflict = |rel: &str, refused: Refused| refusal(&root, rel, refused);
    if root
        .folder(Path::new("conf"), Missing::None)
        .map_err(|r| conflict("conf", r))?
        .is_none()
    {
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
    let (config, lock) = config_change(&root, script, waiting)?;
    let mut changes = vec![config];
    match root.folder(Path::new(KEYS_DIR), Missing::None) {
        Ok(Some(_)) => {}
        Ok(None) => changes.push(Change {
            rel: "keys/",
            what: What::CreateDir,
            write: None,
        }),
        Err(refused) => return Err(conflict(KEYS_DIR, refused)),
    }
    changes.push(lines_change(
        &root,
        GITATTRIBUTES,
        None,
        &[ENC_RULE],
        has_enc_rule,
    )?);
    changes.push(lines_change(
        &root,
        GITIGNORE,
        Some(IGNORE_HEADER),
        &IGNORED,
        |line, entry| line == entry || line.strip_prefix('/') == Some(entry),
    )?);
    Ok(Plan {
        study: study.to_path_buf(),
        root,
        changes,
        _lock: lock,
    })
}

/// What a path `confine` refused means for init.
fn refusal(root: &Folder, rel: &str, refused: Refused) -> StudyError {
    let path = root.shown(Path::new(rel)).display().to_string();
    match refused {
        Refused::Link { .. } => StudyError::Link(refused),
        Refused::NotFolder { .. } if rel == KEYS_DIR => StudyError::Conflict {
            path,
            problem: "exists but is not a folder; move it away, init puts sealed keys there".into(),
        },
        Refused::NotFolder { .. } => StudyError::Conflict {
            path: refused.path().display().to_string(),
            problem: "is not a folder; move it away".into(),
        },
        Refused::NotFile { what, .. } => StudyError::Conflict {
            path,
            problem: format!("exists but is {what}; move it away"),
        },
        Refused::Io { error, .. } => StudyError::Conflict {
            path,
            problem: format!("cannot read it: {}", ReadError::Io(error)),
        },
    }
}

/// The regular file `rel` of the study (`None` if missing), opened for writing when `write`
/// (the config, to lock it); one init would replace must not be read-only.
fn open_study_file(root: &Folder, rel: &str, write: bool) -> Result<Option<File>, StudyError> {
    let read_only = || StudyError::ReadOnly {
        path: root.shown(Path::new(rel)).display().to_string(),
    };
    let file = match root.open_file(Path::new(rel), write) {
        Ok(file) => file,
        Err(Refused::Io { error, .. })
            if write && error.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            return match root.open_file(Path::new(rel), false) {
                Ok(Some(f)) if f.metadata().is_ok_and(|m| m.permissions().readonly()) => {
                    Err(read_only())
                }
                _ => Err(StudyError::Conflict {
                    path: root.shown(Path::new(rel)).display().to_string(),
                    problem: format!(
                        "cannot open it for writing ({}); init would replace it",
                        ReadError::Io(error)
                    ),
                }),
            };
        }
        Err(refused) => return Err(refusal(root, rel, refused)),
    };
    match file {
        Some(f) if f.metadata().is_ok_and(|m| m.permissions().readonly()) => Err(read_only()),
        file => Ok(file),
    }
}

/// The config, opened and locked: an init holding the lock may replace the file meanwhile,
/// so once locked it must still be the file the name leads to, else the new one is locked.
fn lock_config(root: &Folder, waiting: &dyn Fn(&Path)) -> Result<File, StudyError> {
    let path = root.shown(Path::new(CONFIG));
    let missing = || {
        StudyError::Config(ConfigError::Read {
            file: path.display().to_string(),
            error: ReadError::Io(std::io::ErrorKind::NotFound.into()),
        })
    };
    let lock_error = |error: std::io::Error| StudyError::Conflict {
        path: path.display().to_string(),
        problem: format!(
            "cannot lock it ({}); is another program editing it?",
            ReadError::Io(error)
        ),
    };
    let mut waited = false;
    loop {
        let file = open_study_file(root, CONFIG, true)?.ok_or_else(missing)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                if !waited {
                    waiting(&path);
                    waited = true;
                }
                file.lock().map_err(lock_error)?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(e)),
        }
        let now = open_study_file(root, CONFIG, false)?.ok_or_else(missing)?;
        if same_file(&file, &now) {
            return Ok(file);
        }
    }
}

#[cfg(unix)]
fn same_file(a: &File, b: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Without inode numbers the file is taken as the one locked: the lock still keeps two
/// inits from writing at once.
#[cfg(not(unix))]
fn same_file(_: &File, _: &File) -> bool {
    true
}

/// The file's permissions, which a replaced file keeps.
fn mode_of(file: &File) -> Result<u32, ReadError> {
    let permissions = file.metadata()?.permissions();
    #[cfg(unix)]
    let mode = std::os::unix::fs::PermissionsExt::mode(&permissions) & 0o7777;
    #[cfg(not(unix))]
    let mode = if permissions.readonly() { 0o444 } else { 0o666 };
    Ok(mode)
}

fn config_change(
    root: &Folder,
    script: &Script,
    waiting: &dyn Fn(&Path),
) -> Result<(Change, File), StudyError> {
    let path = root.shown(Path::new(CONFIG));
    let file = path.display().to_string();
    let lock = lock_config(root, waiting)?;
    let reader = lock.try_clone().map_err(|e| {
        StudyError::Config(ConfigError::Read {
            file: file.clone(),
            error: ReadError::Io(e),
        })
    })?;
    let mode = mode_of(&lock).map_err(|error| {
        StudyError::Config(ConfigError::Read {
            file: file.clone(),
            error,
        })
    })?;
    let text = config::read_open_text(reader, &path)?;
    let scripts = config::parse(&text, &file)?;
    if let Some(existing) = scripts.iter().find(|s| s.is_dropbox() && script.same_as(s)) {
        let change = Change {
            rel: CONFIG,
            what: What::Already(format!(
                "already posts {} → {} (the script on line {}); left as it is",
                script.path, script.dest, existing.line
            )),
            write: None,
        };
        return Ok((change, lock));
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
    let change = Change {
        rel: CONFIG,
        what: What::Add(format!(
            "a dropbox_post.py script ({script}) at line {line}"
        )),
        write: Some(FileWrite {
            old: Some((text.into_bytes(), mode)),
            new: new.into_bytes(),
        }),
    };
    Ok((change, lock))
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
    root: &Folder,
    rel: &'static str,
    header: Option<&str>,
    entries: &[&str],
    present: fn(&str, &str) -> bool,
) -> Result<Change, StudyError> {
    let conflict = |problem: String| StudyError::Conflict {
        path: root.shown(Path::new(rel)).display().to_string(),
        problem,
    };
    let old = match open_study_file(root, rel, false)? {
        Some(file) => {
            let mode = mode_of(&file).map_err(|e| conflict(format!("cannot read it: {e}")))?;
            let bytes = read_open(file, MAX_GIT_FILE)
                .map_err(|e| conflict(format!("cannot read it: {e}")))?;
            Some((bytes.to_vec(), mode))
        }
        None => None,
    };
    let text = String::from_utf8_lossy(old.as_ref().map_or(&[][..], |(b, _)| b)).into_owned();
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
    let mut new = old.as_ref().map(|(b, _)| b.clone()).unwrap_or_default();
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
    file: NewFile,
    replace: bool,
    is_config: bool,
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
        let old = String::from_utf8_lossy(write.old.as_ref().map_or(&[][..], |(b, _)| b));
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
        let mut created_dir = false;
        let staged = self.stage(&mut created_dir).inspect_err(|_| {
            // The staged files were dropped (deleted) on the way out, so the folder is empty.
            if created_dir {
                let _ = self.root.remove_folder(Path::new(KEYS_DIR));
            }
        })?;
        // The config last: the lock is on the file it replaces, so the next init locks the
        // new one as soon as it is in place, and must then find everything else done.
        let mut staged = staged;
        staged.sort_by_key(|s| s.is_config);
        for s in staged {
            let path = s.file.path().to_path_buf();
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

    fn stage(&self, created_dir: &mut bool) -> Result<Vec<Staged>, StudyError> {
        let mut staged = Vec::new();
        for change in &self.changes {
            match (&change.what, &change.write) {
                (What::CreateDir, _) => {
                    self.root
                        .folder(Path::new(KEYS_DIR), Missing::Create)
                        .map_err(|r| self.not_writable(KEYS_DIR, r))?;
                    *created_dir = true;
                }
                (_, Some(write)) => staged.push(self.stage_file(change.rel, write)?),
                _ => {}
            }
        }
        Ok(staged)
    }

    /// A write refused by the OS means a study init cannot write in; a link that appeared
    /// since the plan, what it means in the plan.
    fn not_writable(&self, rel: &str, refused: Refused) -> StudyError {
        match refused {
            Refused::Io { error, .. } => StudyError::NotWritable {
                dir: self.study.clone(),
                error,
            },
            other => refusal(&self.root, rel, other),
        }
    }

    fn stage_file(&self, rel: &str, write: &FileWrite) -> Result<Staged, StudyError> {
        // A new file gets the permissions of any new file; a replaced one keeps its own.
        let (mode, replace) = match &write.old {
            Some((_, mode)) => (*mode, true),
            None => (0o666, false),
        };
        let mut file = self
            .root
            .new_file(Path::new(rel), mode)
            .map_err(|r| self.not_writable(rel, r))?;
        let write_error = |error| StudyError::Write {
            path: self.root.shown(Path::new(rel)),
            error,
        };
        file.file().write_all(&write.new).map_err(write_error)?;
        if replace {
            file.set_mode(mode).map_err(write_error)?;
        }
        file.sync().map_err(write_error)?;
        Ok(Staged {
            file,
            replace,
            is_config: rel == CONFIG,
        })
    }
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
