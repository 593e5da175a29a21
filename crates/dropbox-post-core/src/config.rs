//! librec-auto study configs → validated post jobs.
//!
//! A librec-auto study keeps its config in `STUDY/conf/config.xml`. Every
//! `/librec-auto/post/script` whose `<script-name>` is `dropbox_post.py` (or the older
//! `dropbox-post.py`) becomes one [`PostJob`], in document order; other post scripts are left
//! to librec-auto (one note each).
//!
//! Params of a dropbox script (text is trimmed):
//! - `option`: `file`, `folder` or `no` (any case); `no` disables the script (a mirror of
//!   another script still keeps everything under its `dest`: [`StudyConfig::disabled_dests`]).
//! - `encrypted_key`: the sealed credential file.
//! - `path`: the file or folder to publish; must exist and be of the kind `option` names.
//! - `dest`: the Dropbox folder that receives the file, or the folder's contents (as
//!   librec-auto's own script did). Absolute (`/…`); `/` alone is the root.
//! - `password`: must be empty. librec-auto passes the password it was given when this param
//!   is present; a password written in the config would be committed in clear.
//! - `share` (optional): `true` or `false` (default).
//! - `allow_outside` (optional): `true` lets `path` lie outside the study directory and the
//!   posted folder hold symlinks that lead out of it. Not enough when the script shares:
//!   then only `post --allow-outside` opens that door (see [`PostJob::outside`]).
//! - `root` (optional): `home` or `team` (any case): which space `dest` is in, the
//!   account's own or a Dropbox team's shared space. Without it, `post --root` decides
//!   (default home).
//! - `exclude`, `include` (optional, repeatable, one pattern each): what to leave out, or
//!   to post only, in gitignore syntax (`patterns`).
//! - `delete` (optional): `true` or `false` (default): mirror, i.e. delete what is under
//!   `dest` with no local counterpart once everything was sent.
//!
//! librec-auto passes every param with text to the script as `--NAME=VALUE`; each one above
//! is also a `post` flag of that spelling, so the same config works both ways.
//!
//! **Relative paths** (`encrypted_key`, `path`) resolve against the study directory: the
//! `target` given to [`load`] (`--target`), else the parent of the `conf/` folder holding the
//! config, else the config's own folder. librec-auto runs post scripts with the study directory
//! as working directory, so this matches what its scripts saw.
//!
//! Every script is validated before [`load`] returns, so nothing is uploaded from a config
//! with a mistake anywhere in it. Errors name the config file and line of the offending
//! script or param.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::dropbox::space::Space;
use dropbox_post_files::{ReadError, read_bounded};
use dropbox_wire::limits::{MAX_NAME_CHARS, MAX_PATH_BYTES};

/// Script names that mean "publish to Dropbox" (librec-auto renamed the script once).
const DROPBOX_SCRIPTS: [&str; 2] = ["dropbox_post.py", "dropbox-post.py"];

/// A config whose dropbox scripts are all valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyConfig {
    /// Absolute study directory that relative paths were resolved against.
    pub study_dir: PathBuf,
    /// One job per enabled dropbox script, in document order.
    pub jobs: Vec<PostJob>,
    /// The normalised `dest` of each dropbox script switched off (option No) whose dest is
    /// a valid Dropbox path: a mirror keeps what is under it (what such a script posted
    /// before is not known).
    pub disabled_dests: Vec<String>,
}

/// One dropbox script, validated.
enum Validated {
    Job(PostJob),
    /// Option No, with its `dest` if that is valid (one that is not protects nothing).
    Off(Option<String>),
}

/// Where a script's params come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `<script>` element of the config, on this line.
    Config { line: usize },
    /// librec-auto's argv form (`--option --encrypted_key --path --dest`).
    Args,
}

/// One validated upload: a local file or folder to a Dropbox folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostJob {
    /// 1-based index among all post scripts of the config (1 for the command-line form).
    pub script: usize,
    pub origin: Origin,
    pub kind: JobKind,
    /// Absolute path of the sealed credential file (exists).
    pub encrypted_key: PathBuf,
    /// Absolute path of the file or folder to publish (exists, of kind `kind`).
    pub path: PathBuf,
    /// The absolute study directory `path` was resolved against: filters match paths
    /// relative to it too.
    pub study_dir: PathBuf,
    /// Normalised Dropbox folder: `/` for the root, otherwise `/a/b` with no trailing `/`,
    /// no empty, `.` or `..` segments and no control characters.
    pub dest: String,
    /// Create a shared link after uploading.
    pub share: bool,
    /// `path` (symlinks resolved) lies outside the study directory. A config may come from
    /// someone else, so `post` refuses such a job without an opt-in.
    pub outside: bool,
    /// The script's `allow_outside` param: its author's opt-in.
    pub allow_outside: bool,
    /// The space `dest` is in, when the script names one.
    pub root: Option<Space>,
    /// The script's `exclude` and `include` params, in document order.
    pub excludes: Vec<ConfigGlob>,
    pub includes: Vec<ConfigGlob>,
    /// Delete what `dest` holds beyond the local tree (`delete` param).
    pub delete: bool,
}

/// A pattern param and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigGlob {
    pub glob: String,
    pub line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    File,
    Folder,
}

impl JobKind {
    /// As written in a config's `option` param.
    pub fn noun(self) -> &'static str {
        match self {
            JobKind::File => "file",
            JobKind::Folder => "folder",
        }
    }
}

/// Why a config (or the command-line form of a script) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read the study config {file} ({error}); check the path (a librec-auto study keeps it in conf/config.xml)"
    )]
    Read { file: String, error: ReadError },
    #[error("{file} is not UTF-8 text (from byte {at} on); save the config as UTF-8")]
    NotUtf8 { file: String, at: usize },
    #[error("{file}:{line}:{column}: malformed XML: {}; fix the config and run again", clip(.message))]
    Xml {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "{file}: the root element is <{}>, not <librec-auto>; pass a librec-auto study config (STUDY/conf/config.xml)",
        clip(.found)
    )]
    NotLibrecAuto { file: String, found: String },
    #[error(
        "{file}: no post script to run: {}; add a <script> with <script-name>dropbox_post.py</script-name> under <post>",
        describe_skipped(*disabled)
    )]
    NoDropboxScripts { file: String, disabled: usize },
    #[error("{file}:{line}: post script {script} ({}): {problem}", clip(.name))]
    Script {
        file: String,
        line: usize,
        script: usize,
        name: String,
        problem: Box<Problem>,
    },
    /// The command-line (librec-auto argv) form of a script.
    #[error("command line (librec-auto's --option form): {problem}")]
    Args { problem: Box<Problem> },
}

fn describe_skipped(disabled: usize) -> String {
    match disabled {
        0 => "it has no dropbox_post.py script".to_string(),
        n => format!("all {n} dropbox_post.py script(s) have option No"),
    }
}

/// What is wrong with one dropbox script's params.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("param {0:?} is missing; a dropbox script needs option, encrypted_key, path and dest")]
    Missing(&'static str),
    #[error(
        "unknown param {}; expected option, encrypted_key, path, dest, password, share, allow_outside, root, exclude, include or delete",
        quoted(.0)
    )]
    Unknown(String),
    #[error("a <param> has no name attribute")]
    Unnamed,
    #[error("param {} is given twice (first on line {first_line})", quoted(.name))]
    Duplicate { name: String, first_line: usize },
    #[error("param {0:?} is empty; a dropbox script needs option, encrypted_key, path and dest")]
    Empty(&'static str),
    #[error("option {} is not file, folder or No", quoted(.0))]
    BadOption(String),
    #[error("{param} {} is not true or false", quoted(.value))]
    BadFlag { param: &'static str, value: String },
    #[error("root {} is not home or team", quoted(.0))]
    BadRoot(String),
    #[error("{param}: {}", clip(.message))]
    BadPattern {
        param: &'static str,
        message: String,
        line: usize,
    },
    #[error("dest {} is not an absolute Dropbox path; start it with / (/ alone is the root)", quoted(.0))]
    DestNotAbsolute(String),
    #[error("dest {} has a . or .. segment (between / or \\); write the folder path out in full", quoted(.0))]
    DestDotSegment(String),
    #[error(
        "dest {} contains a control or bidirectional formatting character",
        quoted(.0)
    )]
    DestControl(String),
    #[error("dest {} has a name longer than {MAX_NAME_CHARS} characters, which Dropbox refuses", quoted(.0))]
    DestNameTooLong(String),
    #[error("dest {} is longer than {MAX_PATH_BYTES} bytes, which Dropbox refuses", quoted(.0))]
    DestTooLong(String),
    #[error("{param} {} ({}) does not exist", quoted(.given), clip_path(.resolved))]
    NotFound {
        param: &'static str,
        given: String,
        resolved: PathBuf,
    },
    #[error("{param} {} ({}) is not a {expected}", quoted(.given), clip_path(.resolved))]
    WrongKind {
        param: &'static str,
        given: String,
        resolved: PathBuf,
        expected: &'static str,
    },
    #[error(
        "param \"password\" must be empty: a password in the config would be committed in clear; \
         give it with -k, --password-file or DROPBOX_POST_PASSWORD instead"
    )]
    PasswordInConfig,
}

/// Config text in a message: one line (control characters escaped), at most 120 characters,
/// enough to recognise it; messages stay one bounded line whatever the config holds.
fn clip(text: &str) -> String {
    clip_to(text, 120)
}

fn clip_to(text: &str, max_chars: usize) -> String {
    let escaped = text.escape_debug().to_string();
    match escaped.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &escaped[..i]),
        None => escaped,
    }
}

/// A config value in a message, in quotes.
fn quoted(value: &str) -> String {
    format!("\"{}\"", clip(value))
}

/// A resolved path: the study directory plus a value, so longer.
fn clip_path(path: &Path) -> String {
    clip_to(&path.to_string_lossy(), 300)
}

impl Problem {
    /// The param the problem is about, to point at its line.
    fn param(&self) -> Option<&str> {
        match self {
            Problem::Missing(_) | Problem::Unnamed => None,
            Problem::Unknown(name) | Problem::Duplicate { name, .. } => Some(name),
            Problem::Empty(p) | Problem::NotFound { param: p, .. } => Some(p),
            Problem::WrongKind { param, .. } => Some(param),
            Problem::BadOption(_) => Some("option"),
            Problem::BadFlag { param, .. } | Problem::BadPattern { param, .. } => Some(param),
            Problem::BadRoot(_) => Some("root"),
            Problem::DestNotAbsolute(_)
            | Problem::DestDotSegment(_)
            | Problem::DestControl(_)
            | Problem::DestNameTooLong(_)
            | Problem::DestTooLong(_) => Some("dest"),
            Problem::PasswordInConfig => Some("password"),
        }
    }
}

/// librec-auto configs are a few KiB; a bigger file is read no further than this.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads `config` and validates every dropbox post script in it.
///
/// `target` overrides the study directory (see the module doc for how it is found otherwise).
/// `note` hears, as they are found, of the post scripts left to librec-auto or switched
/// off: also when a later script fails the config (a misnamed script is why none is found).
pub fn load(
    config: &Path,
    target: Option<&Path>,
    note: &mut dyn FnMut(String),
) -> Result<StudyConfig, ConfigError> {
    let text = read_text(config)?;
    let study_dir = absolute(target.unwrap_or_else(|| default_study_dir(config)));
    from_text(&text, config.display().to_string(), study_dir, note)
}

/// The text of a config file: a regular file, UTF-8, at most [`MAX_CONFIG_BYTES`].
pub(crate) fn read_text(config: &Path) -> Result<String, ConfigError> {
    text_of(read_bounded(config, MAX_CONFIG_BYTES), config)
}

/// [`read_text`] of a config file already opened (and locked, by `init`).
pub(crate) fn read_open_text(file: std::fs::File, config: &Path) -> Result<String, ConfigError> {
    text_of(
        dropbox_post_files::read_open(file, MAX_CONFIG_BYTES),
        config,
    )
}

fn text_of(
    read: Result<zeroize::Zeroizing<Vec<u8>>, ReadError>,
    config: &Path,
) -> Result<String, ConfigError> {
    let file = || config.display().to_string();
    let mut bytes = read.map_err(|error| ConfigError::Read {
        file: file(),
        error,
    })?;
    String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| ConfigError::NotUtf8 {
        file: file(),
        at: e.utf8_error().valid_up_to(),
    })
}

/// [`load`] after reading: validates the config `text` (named `file` in messages) against
/// `study_dir`, telling `note` of each script skipped.
pub fn from_text(
    text: &str,
    file: String,
    study_dir: PathBuf,
    note: &mut dyn FnMut(String),
) -> Result<StudyConfig, ConfigError> {
    let scripts = parse(text, &file)?;
    let mut jobs = Vec::new();
    let mut disabled_dests = Vec::new();
    let mut disabled = 0;
    for script in &scripts {
        let name = script.name.as_deref().unwrap_or("");
        if !script.is_dropbox() {
            let what = if name.is_empty() {
                "has no <script-name>".to_string()
            } else {
                format!("{} is not a dropbox script", clip(name))
            };
            note(format!(
                "{file}:{}: post script {} {what}; left to librec-auto",
                script.line, script.index
            ));
            continue;
        }
        match script_job(&study_dir, script) {
            Ok(Validated::Job(job)) => jobs.push(job),
            Ok(Validated::Off(dest)) => {
                disabled_dests.extend(dest);
                disabled += 1;
                note(format!(
                    "{file}:{}: post script {} ({name}) has option No; skipped",
                    script.line, script.index
                ));
            }
            Err(problem) => {
                let line = match &problem {
                    Problem::BadPattern { line, .. } => *line,
                    _ => problem
                        .param()
                        .and_then(|p| script.params.iter().rev().find(|r| r.name == p))
                        .map_or(script.line, |r| r.line),
                };
                return Err(ConfigError::Script {
                    file,
                    line,
                    script: script.index,
                    name: name.to_string(),
                    problem: Box::new(problem),
                });
            }
        }
    }
    if jobs.is_empty() {
        return Err(ConfigError::NoDropboxScripts { file, disabled });
    }
    Ok(StudyConfig {
        study_dir,
        jobs,
        disabled_dests,
    })
}

/// The librec-auto argv form (`--option --encrypted_key --path --dest`) of one script; paths
/// relative to `study_dir`. `Ok(None)` for option No.
pub fn job_from_args(
    study_dir: &Path,
    option: &str,
    encrypted_key: &str,
    path: &str,
    dest: &str,
) -> Result<Option<PostJob>, ConfigError> {
    let study_dir = absolute(study_dir);
    let params = Params {
        option: option.trim(),
        encrypted_key: encrypted_key.trim(),
        path: path.trim(),
        dest: dest.trim(),
        share: false,
        allow_outside: false,
        delete: false,
    };
    match validate(&study_dir, &params, 1, Origin::Args) {
        Ok(Validated::Job(job)) => Ok(Some(job)),
        Ok(Validated::Off(_)) => Ok(None),
        Err(problem) => Err(ConfigError::Args {
            problem: Box::new(problem),
        }),
    }
}

/// `--target`, else the parent of a `conf/` folder holding the config, else its folder.
fn default_study_dir(config: &Path) -> &Path {
    let dir = config.parent().unwrap_or(Path::new(""));
    let study = match dir.file_name() {
        Some(name) if name == "conf" => dir.parent().unwrap_or(Path::new("")),
        _ => dir,
    };
    if study.as_os_str().is_empty() {
        Path::new(".")
    } else {
        study
    }
}

/// Absolute without resolving symlinks, so messages show the paths the user wrote.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The params of one dropbox script, text trimmed.
struct Params<'a> {
    option: &'a str,
    encrypted_key: &'a str,
    path: &'a str,
    dest: &'a str,
    share: bool,
    allow_outside: bool,
    delete: bool,
}

const KNOWN_PARAMS: [&str; 11] = [
    "option",
    "encrypted_key",
    "path",
    "dest",
    "password",
    "share",
    "allow_outside",
    "root",
    "exclude",
    "include",
    "delete",
];

/// Params that may be given more than once: each is one more pattern.
const REPEATABLE: [&str; 2] = ["exclude", "include"];

fn script_job(study_dir: &Path, script: &RawScript) -> Result<Validated, Problem> {
    let mut seen: Vec<&RawParam> = Vec::new();
    for param in &script.params {
        if param.name.is_empty() {
            return Err(Problem::Unnamed);
        }
        if !KNOWN_PARAMS.contains(&param.name.as_str()) {
            return Err(Problem::Unknown(param.name.clone()));
        }
        if let Some(first) =
            (seen.iter()).find(|p| p.name == param.name && !REPEATABLE.contains(&p.name.as_str()))
        {
            return Err(Problem::Duplicate {
                name: param.name.clone(),
                first_line: first.line,
            });
        }
        seen.push(param);
    }
    let get = |name| seen.iter().find(|p| p.name == name).map(|p| p.value.trim());
    let required = |name| get(name).ok_or(Problem::Missing(name));
    if get("password").is_some_and(|p| !p.is_empty()) {
        return Err(Problem::PasswordInConfig);
    }
    let flag = |param: &'static str| match get(param) {
        None => Ok(false),
        Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(s) => Err(Problem::BadFlag {
            param,
            value: s.to_string(),
        }),
    };
    let root = get("root")
        .map(|r| r.parse().map_err(|_| Problem::BadRoot(r.to_string())))
        .transpose()?;
    let params = Params {
        option: required("option")?,
        encrypted_key: required("encrypted_key")?,
        path: required("path")?,
        dest: required("dest")?,
        share: flag("share")?,
        allow_outside: flag("allow_outside")?,
        delete: flag("delete")?,
    };
    let globs = |param: &'static str| -> Result<Vec<ConfigGlob>, Problem> {
        let given = seen.iter().filter(|p| p.name == param);
        // librec-auto drops a param without text; so do we.
        let given = given.filter(|p| !p.value.trim().is_empty());
        given
            .map(|p| {
                let glob = p.value.trim().to_string();
                crate::patterns::check_glob(&glob).map_err(|message| Problem::BadPattern {
                    param,
                    message,
                    line: p.line,
                })?;
                Ok(ConfigGlob { glob, line: p.line })
            })
            .collect()
    };
    let (excludes, includes) = (globs("exclude")?, globs("include")?);
    let origin = Origin::Config { line: script.line };
    Ok(match validate(study_dir, &params, script.index, origin)? {
        Validated::Job(job) => Validated::Job(PostJob {
            root,
            excludes,
            includes,
            ..job
        }),
        off => off,
    })
}

/// Checks the params of script number `script`: the job, without the params only a config
/// has (`root`, patterns).
fn validate(
    study_dir: &Path,
    params: &Params,
    script: usize,
    origin: Origin,
) -> Result<Validated, Problem> {
    let kind = match params.option.to_ascii_lowercase().as_str() {
        "file" => JobKind::File,
        "folder" => JobKind::Folder,
        "no" => return Ok(Validated::Off(normalize_dest(params.dest).ok())),
        "" => return Err(Problem::Empty("option")),
        _ => return Err(Problem::BadOption(params.option.to_string())),
    };
    let dest = normalize_dest(params.dest)?;
    let path = existing(study_dir, "path", params.path, kind)?;
    let encrypted_key = existing(
        study_dir,
        "encrypted_key",
        params.encrypted_key,
        JobKind::File,
    )?;
    Ok(Validated::Job(PostJob {
        script,
        origin,
        kind,
        encrypted_key,
        outside: !inside(study_dir, &path),
        path,
        study_dir: study_dir.to_path_buf(),
        dest,
        share: params.share,
        allow_outside: params.allow_outside,
        root: None,
        excludes: Vec::new(),
        includes: Vec::new(),
        delete: params.delete,
    }))
}

/// Does `path` lie in `dir` once every symlink on the way is resolved? (`false` when
/// either cannot be resolved.)
pub fn inside(dir: &Path, path: &Path) -> bool {
    match (std::fs::canonicalize(dir), std::fs::canonicalize(path)) {
        (Ok(dir), Ok(path)) => path.starts_with(dir),
        _ => false,
    }
}

/// Resolves `given` against the study directory and checks it exists as a `kind`.
fn existing(
    study_dir: &Path,
    param: &'static str,
    given: &str,
    kind: JobKind,
) -> Result<PathBuf, Problem> {
    if given.is_empty() {
        return Err(Problem::Empty(param));
    }
    let resolved = study_dir.join(given);
    let metadata = match std::fs::metadata(&resolved) {
        Ok(m) => m,
        Err(_) => {
            return Err(Problem::NotFound {
                param,
                given: given.to_string(),
                resolved,
            });
        }
    };
    let right_kind = match kind {
        JobKind::File => metadata.is_file(),
        JobKind::Folder => metadata.is_dir(),
    };
    if !right_kind {
        return Err(Problem::WrongKind {
            param,
            given: given.to_string(),
            resolved,
            expected: kind.noun(),
        });
    }
    Ok(resolved)
}

/// `/a//b/` → `/a/b`; `/` stays the root. Everything Dropbox would refuse for every file
/// is refused here, before anything is sent.
pub fn normalize_dest(dest: &str) -> Result<String, Problem> {
    let refuse = |problem: fn(String) -> Problem| Err(problem(dest.to_string()));
    if dest.is_empty() {
        return Err(Problem::Empty("dest"));
    }
    if dest.chars().any(crate::redact::needs_escape) {
        return refuse(Problem::DestControl);
    }
    if !dest.starts_with('/') {
        return refuse(Problem::DestNotAbsolute);
    }
    let segments: Vec<&str> = dest.split('/').filter(|s| !s.is_empty()).collect();
    // `\` is an ordinary character to Dropbox, but a server or tool that takes it for a
    // separator would climb out at `/a\..\b`.
    if dest.split(['/', '\\']).any(|s| s == "." || s == "..") {
        return refuse(Problem::DestDotSegment);
    }
    if segments.iter().any(|s| s.chars().count() > MAX_NAME_CHARS) {
        return refuse(Problem::DestNameTooLong);
    }
    let normal = format!("/{}", segments.join("/"));
    if normal.len() > MAX_PATH_BYTES {
        return refuse(Problem::DestTooLong);
    }
    Ok(normal)
}

/// A `<script>` under `/librec-auto/post`, before validation.
#[derive(Debug)]
pub(crate) struct RawScript {
    /// 1-based among post scripts.
    index: usize,
    pub(crate) line: usize,
    name: Option<String>,
    params: Vec<RawParam>,
}

impl RawScript {
    pub(crate) fn is_dropbox(&self) -> bool {
        DROPBOX_SCRIPTS.contains(&self.name.as_deref().unwrap_or(""))
    }

    /// The trimmed text of the first param named `name`.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.trim())
    }
}

#[derive(Debug)]
struct RawParam {
    name: String,
    value: String,
    line: usize,
}

/// The element whose text is being collected.
enum Field {
    ScriptName(String),
    Param(RawParam),
}

impl Field {
    fn text(&mut self) -> &mut String {
        match self {
            Field::ScriptName(s) => s,
            Field::Param(p) => &mut p.value,
        }
    }
}

/// Elements nest no deeper than this; a librec-auto config needs about six levels.
const MAX_DEPTH: usize = 256;

/// Line numbers of increasing offsets, counted once over the text (a search from the start
/// for every element made big configs quadratic).
struct Lines<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
}

impl Lines<'_> {
    fn at(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            return position_bytes(self.text, offset).0;
        }
        self.line += self.text[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = offset;
        self.line
    }
}

/// 1-based line and column of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    position_bytes(text.as_bytes(), offset)
}

fn position_bytes(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// Collects the post scripts with the lines they start on; checks that `text` is well-formed
/// XML with a `<librec-auto>` root.
pub(crate) fn parse(text: &str, file: &str) -> Result<Vec<RawScript>, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let malformed = |offset: u64, message: &dyn fmt::Display| {
        let (line, column) = position(text, offset as usize);
        ConfigError::Xml {
            file: file.to_string(),
            line,
            column,
            message: message.to_string(),
        }
    };
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut scripts = Vec::new();
    let mut script: Option<RawScript> = None;
    let mut field: Option<Field> = None;
    let mut seen_root = false;
    let mut lines = Lines {
        text: text.as_bytes(),
        offset: 0,
        line: 1,
    };
    loop {
        let start = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|e| malformed(reader.error_position(), &xml_problem(&e)))?;
        let line = lines.at(start as usize);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.local_name().as_ref().to_string();
                if let Some(f) = &field {
                    // Text is all a param holds; an element in it would be dropped silently.
                    let holder = match f {
                        Field::ScriptName(_) => "<script-name>",
                        Field::Param(_) => "<param>",
                    };
                    let message = format!("{holder} holds an element; it may hold text only");
                    return Err(malformed(start, &message));
                }
                if stack.len() >= MAX_DEPTH {
                    let message = format!("elements nested more than {MAX_DEPTH} deep");
                    return Err(malformed(start, &message));
                }
                if stack.is_empty() {
                    if seen_root {
                        return Err(malformed(start, &"a second root element"));
                    }
                    seen_root = true;
                    if name != "librec-auto" {
                        return Err(ConfigError::NotLibrecAuto {
                            file: file.to_string(),
                            found: name,
                        });
                    }
                }
                let at = |path: &[&str]| stack.iter().map(String::as_str).eq(path.iter().copied());
                if at(&["librec-auto", "post"]) && name == "script" {
                    script = Some(RawScript {
                        index: scripts.len() + 1,
                        line,
                        name: None,
                        params: Vec::new(),
                    });
                } else if at(&["librec-auto", "post", "script"]) {
                    field = match name.as_str() {
                        "script-name" => Some(Field::ScriptName(String::new())),
                        "param" => Some(Field::Param(RawParam {
                            name: param_name(e)
                                .map_err(|()| malformed(start, &"a malformed name attribute"))?,
                            value: String::new(),
                            line,
                        })),
                        _ => None,
                    };
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(name);
                } else {
                    finish(stack.len() + 1, &mut field, &mut script, &mut scripts);
                }
            }
            Event::End(_) => {
                finish(stack.len(), &mut field, &mut script, &mut scripts);
                stack.pop();
            }
            Event::Text(ref t) if stack.len() == 4 => {
                if let Some(f) = field.as_mut() {
                    f.text().push_str(&t.xml10_content());
                }
            }
            Event::CData(ref t) if stack.len() == 4 => {
                if let Some(f) = field.as_mut() {
                    f.text().push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(ref r) => {
                let resolved: Cow<str> = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string().into(),
                    Ok(None) => match resolve_predefined_entity(r) {
                        Some(s) => s.into(),
                        None => {
                            return Err(malformed(start, &"an unknown entity; write & as &amp;"));
                        }
                    },
                    Err(_) => return Err(malformed(start, &"a malformed character reference")),
                };
                if let (4, Some(f)) = (stack.len(), field.as_mut()) {
                    f.text().push_str(&resolved);
                }
            }
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(malformed(
                        start,
                        &format!("{} is not closed", element(open)),
                    ));
                }
                if !seen_root {
                    return Err(malformed(start, &"no root element"));
                }
                return Ok(scripts);
            }
            _ => {}
        }
    }
}

/// Called when the element at `depth` (root = 1) closes: completes a field or a script.
fn finish(
    depth: usize,
    field: &mut Option<Field>,
    script: &mut Option<RawScript>,
    scripts: &mut Vec<RawScript>,
) {
    match depth {
        4 => {
            if let (Some(f), Some(s)) = (field.take(), script.as_mut()) {
                match f {
                    Field::ScriptName(name) => s.name = Some(name.trim().to_string()),
                    Field::Param(p) => s.params.push(p),
                }
            }
        }
        3 => scripts.extend(script.take()),
        _ => {}
    }
}

fn param_name(e: &BytesStart) -> Result<String, ()> {
    match e.try_get_attribute("name") {
        Ok(Some(a)) => a
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|v| v.trim().to_string())
            .map_err(|_| ()),
        Ok(None) => Ok(String::new()),
        Err(_) => Err(()),
    }
}

/// What is wrong with the XML, without quoting the document: a broken tag swallows the text
/// after it, a password included (found by `cargo fuzz run config`). The line and column
/// point at the spot.
fn xml_problem(e: &quick_xml::Error) -> String {
    use quick_xml::Error as E;
    use quick_xml::errors::IllFormedError as Ill;
    match e {
        E::Syntax(s) => s.to_string(),
        E::IllFormed(Ill::MismatchedEndTag { expected, .. }) => {
            format!("this end tag does not close {}", element(expected))
        }
        E::IllFormed(Ill::UnmatchedEndTag(_)) => "an end tag without a start tag".into(),
        E::IllFormed(Ill::MissingEndTag(open)) => format!("{} is not closed", element(open)),
        E::IllFormed(Ill::MissingDeclVersion(_)) => "the XML declaration has no version".into(),
        E::IllFormed(Ill::UnknownVersion) => "the XML version is not 1.0 or 1.1".into(),
        E::IllFormed(_) => "ill-formed XML".into(),
        E::InvalidAttr(_) => "a malformed attribute".into(),
        E::Escape(_) => "a malformed entity or character reference; write & as &amp;".into(),
        E::Encoding(_) => "text that is not UTF-8".into(),
        E::Io(_) | E::Namespace(_) => "unreadable XML".into(),
    }
}

/// An element named in a message: only the names of librec-auto's own vocabulary are quoted,
/// since any other "name" may be document text cut at a stray `<`.
fn element(name: &str) -> &'static str {
    match name {
        "librec-auto" => "<librec-auto>",
        "post" => "<post>",
        "script" => "<script>",
        "script-name" => "<script-name>",
        "param" => "<param>",
        _ => "an element",
    }
}

#[cfg(test)]
mod tests;
