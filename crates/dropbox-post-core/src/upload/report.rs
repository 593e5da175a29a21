//! What a run found: each file's and folder's outcome, each script's summary, the run's
//! totals; and the [`Observer`] that hears of them as they happen. Nothing here prints: the
//! binary renders these (text, a progress bar, `--json`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::dropbox::error::ApiError;

/// The reason on a file's line when a failure stopped the run: the last line says it, once.
pub const STOPPED: &str = "the run stopped (the last line says why)";

/// A file's reason for `e`: the error, or [`STOPPED`] for one that stopped the run.
pub fn reason(e: &ApiError) -> String {
    if e.is_fatal() {
        STOPPED.to_string()
    } else {
        e.to_string()
    }
}

/// What happened to one file or folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "reason")]
pub enum Outcome {
    Uploaded,
    Skipped,
    Failed(String),
    /// `--dry-run`: would be sent.
    WouldUpload,
    FolderCreated,
    WouldCreateFolder,
    /// Left out by a filter; the reason is the rule that did.
    Excluded(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    pub remote: String,
    pub bytes: u64,
    /// Bytes of the file an earlier, interrupted run had sent: this one sent the rest.
    #[serde(skip_serializing_if = "is_zero")]
    pub resumed: u64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Entry {
    /// A result for a file or folder no earlier run had begun.
    pub fn new(path: PathBuf, remote: String, bytes: u64, outcome: Outcome) -> Entry {
        Entry {
            path,
            remote,
            bytes,
            resumed: 0,
            outcome,
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Hears of a run as it goes, for a progress bar or lines on a terminal. Every method has
/// a default that does nothing: [`Silent`] is a run nobody watches.
pub trait Observer: Send + Sync {
    /// Script `script` starts sending: `files` files of `bytes` bytes to compare or send.
    fn script_started(&self, _script: usize, _files: usize, _bytes: u64) {}
    /// Bytes acknowledged by Dropbox (or found unchanged).
    fn advanced(&self, _bytes: u64) {}
    /// A file or folder is done.
    fn recorded(&self, _entry: &Entry) {}
    /// A line for the user that is no file's result (a warning).
    fn said(&self, _line: &str) {}
    /// A script is done: sent, and shared if asked.
    fn script_done(&self, _summary: &ScriptSummary) {}
    /// A script's mirror (`--delete`) is done.
    fn mirror_done(&self, _summary: &ScriptSummary) {}
}

/// Nobody watches.
pub struct Silent;

impl Observer for Silent {}

/// One script's results as they come in, each also told to the observer.
pub struct Progress {
    observer: Arc<dyn Observer>,
    entries: Mutex<Vec<Entry>>,
}

impl Progress {
    pub fn new(observer: Arc<dyn Observer>) -> Self {
        Progress {
            observer,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Bytes acknowledged by Dropbox (or found unchanged).
    pub fn advance(&self, bytes: u64) {
        self.observer.advanced(bytes);
    }

    /// A line for the user that is no file's result.
    pub fn say(&self, line: &str) {
        self.observer.said(line);
    }

    pub fn record(&self, entry: Entry) {
        self.observer.recorded(&entry);
        self.entries
            .lock()
            .expect("report lock poisoned")
            .push(entry);
    }

    /// The results so far.
    pub fn finish(&self) -> Vec<Entry> {
        std::mem::take(&mut *self.entries.lock().expect("report lock poisoned"))
    }
}

/// A path that is not UTF-8 is still reported (with U+FFFD where its bytes are invalid).
fn lossy<S: serde::Serializer>(path: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub uploaded: usize,
    pub skipped: usize,
    pub failed: usize,
    pub folders_created: usize,
    /// Bytes sent (or, with `--dry-run`, that would be sent).
    pub bytes: u64,
    /// Files and folders a filter left out (`excluded_count`: a script's `excluded` lists them).
    #[serde(rename = "excluded_count")]
    pub excluded: usize,
    /// Uploads that continued a session an interrupted run had begun, and the bytes that
    /// run had sent (not in `bytes`).
    pub resumed: usize,
    pub resumed_bytes: u64,
    /// Files and folders deleted by `--delete` (with `--dry-run`: that would be).
    pub deleted: usize,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.uploaded += other.uploaded;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.folders_created += other.folders_created;
        self.bytes += other.bytes;
        self.excluded += other.excluded;
        self.resumed += other.resumed;
        self.resumed_bytes += other.resumed_bytes;
        self.deleted += other.deleted;
    }
}

/// A file or folder a filter left out.
#[derive(Debug, Clone, Serialize)]
pub struct Left {
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    pub rule: String,
}

/// What `--delete` did for a script.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Mirror {
    /// Why nothing was deleted: something failed, or a safety net held (the run fails).
    pub refused: Option<String>,
    /// Deleted (with `--dry-run`: to delete), parents before their contents.
    pub deleted: Vec<Deletion>,
    /// To delete, and kept: changed or written into since the listing (not a failure), or
    /// holding what could not be deleted.
    pub kept: Vec<Kept>,
    /// What the server listed under `dest` that is no path under it: never a candidate.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deletion {
    pub remote: String,
    pub folder: bool,
}

/// A file or folder the mirror was to delete and kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub remote: String,
    pub folder: bool,
    pub reason: String,
}

/// The step of a script that failed for a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Listing `dest`, or sending a file or folder.
    Transfer,
    /// Making the shared link (`--share`).
    Share,
    /// Deleting for the mirror (`--delete`).
    Delete,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    pub remote: String,
    pub step: Step,
    pub reason: String,
}

/// The result of one post script.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptSummary {
    pub script: usize,
    pub kind: String,
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    pub dest: String,
    /// `--dry-run`: the counts are what would be sent (the run's JSON says it once).
    #[serde(skip)]
    pub dry_run: bool,
    #[serde(flatten)]
    pub counts: Counts,
    pub seconds: f64,
    pub failures: Vec<Failed>,
    /// What the filters left out, with the rule that did.
    pub excluded: Vec<Left>,
    /// The shared link of what was posted (`--share`), else null.
    pub link: Option<String>,
    /// `--delete` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<Mirror>,
    /// `--dry-run` only: every file and folder with what would happen to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<Entry>>,
}

impl ScriptSummary {
    pub fn new(
        script: usize,
        kind: &str,
        path: PathBuf,
        dest: &str,
        entries: Vec<Entry>,
        elapsed: Duration,
        dry_run: bool,
    ) -> Self {
        let mut counts = Counts::default();
        let mut failures = Vec::new();
        let mut excluded = Vec::new();
        for e in &entries {
            match &e.outcome {
                Outcome::Uploaded | Outcome::WouldUpload => {
                    counts.uploaded += 1;
                    counts.bytes += e.bytes - e.resumed;
                    if e.resumed > 0 {
                        counts.resumed += 1;
                        counts.resumed_bytes += e.resumed;
                    }
                }
                Outcome::Excluded(rule) => {
                    counts.excluded += 1;
                    excluded.push(Left {
                        path: e.path.clone(),
                        rule: rule.clone(),
                    });
                }
                Outcome::Skipped => counts.skipped += 1,
                Outcome::FolderCreated | Outcome::WouldCreateFolder => counts.folders_created += 1,
                Outcome::Failed(reason) => {
                    counts.failed += 1;
                    failures.push(Failed {
                        path: e.path.clone(),
                        remote: e.remote.clone(),
                        step: Step::Transfer,
                        reason: reason.clone(),
                    });
                }
            }
        }
        ScriptSummary {
            script,
            kind: kind.to_string(),
            path,
            dest: dest.to_string(),
            dry_run,
            counts,
            seconds: elapsed.as_secs_f64(),
            failures,
            excluded,
            link: None,
            mirror: None,
            // In path order, not the order the transfers happened to finish in.
            plan: dry_run.then(|| {
                let mut entries = entries;
                entries.sort_by(|a, b| a.path.cmp(&b.path));
                entries
            }),
        }
    }

    /// What `--delete` did: `mirror` (its deletions and the reason it was refused) and the
    /// paths it could not delete, with the reason.
    pub fn set_mirror(&mut self, mirror: Mirror, failures: Vec<(String, String)>) {
        for (remote, reason) in failures {
            self.add_failure(self.path.clone(), &remote, Step::Delete, reason);
        }
        self.counts.deleted = mirror.deleted.len();
        self.mirror = Some(mirror);
    }

    /// Why the mirror deleted nothing, when it was refused.
    pub fn refused_mirror(&self) -> Option<&str> {
        self.mirror.as_ref()?.refused.as_deref()
    }

    /// A failure after the files were sent (the shared link, a deletion).
    pub fn add_failure(&mut self, path: PathBuf, remote: &str, step: Step, reason: String) {
        self.counts.failed += 1;
        self.failures.push(Failed {
            path,
            remote: remote.to_string(),
            step,
            reason,
        });
    }
}

/// Everything `post` did; `--json` prints this.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub ok: bool,
    pub dry_run: bool,
    pub scripts: Vec<ScriptSummary>,
    pub totals: Counts,
    pub seconds: f64,
    /// A failure that stopped the run early (bad credential, no space left).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunSummary {
    pub fn new(
        scripts: Vec<ScriptSummary>,
        dry_run: bool,
        elapsed: Duration,
        error: Option<String>,
    ) -> Self {
        let mut totals = Counts::default();
        for s in &scripts {
            totals.add(&s.counts);
        }
        let refused = scripts.iter().any(|s| s.refused_mirror().is_some());
        RunSummary {
            ok: totals.failed == 0 && error.is_none() && !refused,
            dry_run,
            scripts,
            totals,
            seconds: elapsed.as_secs_f64(),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, bytes: u64, outcome: Outcome) -> Entry {
        Entry::new(name.into(), format!("/d/{name}"), bytes, outcome)
    }

    #[test]
    fn summaries_count_and_list_failures() {
        let entries = vec![
            entry("a", 10, Outcome::Uploaded),
            entry("b", 5, Outcome::Skipped),
            entry("c", 7, Outcome::Failed("changed while being read".into())),
            entry("e", 0, Outcome::FolderCreated),
        ];
        let s = ScriptSummary::new(
            2,
            "folder",
            "out".into(),
            "/d",
            entries,
            Duration::from_millis(1500),
            false,
        );
        assert_eq!(
            s.counts,
            Counts {
                uploaded: 1,
                skipped: 1,
                failed: 1,
                folders_created: 1,
                bytes: 10,
                ..Counts::default()
            }
        );
        let run = RunSummary::new(vec![s], false, Duration::from_secs(2), None);
        assert!(!run.ok);
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["totals"]["failed"], 1);
        assert_eq!(json["scripts"][0]["failures"][0]["path"], "c");
        assert_eq!(
            json["scripts"][0]["failures"][0]["reason"],
            "changed while being read"
        );
        assert_eq!(json["scripts"][0]["failures"][0]["step"], "transfer");
        assert!(json["scripts"][0].get("plan").is_none());
        assert_eq!(json["scripts"][0]["link"], serde_json::Value::Null);
        assert!(json.get("error").is_none());
    }

    #[test]
    fn resumed_and_excluded_files_are_counted_apart() {
        let mut resumed = entry("big", 100, Outcome::Uploaded);
        resumed.resumed = 60;
        let entries = vec![
            resumed,
            entry("small", 5, Outcome::Uploaded),
            entry("x.ckpt", 0, Outcome::Excluded("exclude \"*.ckpt\"".into())),
        ];
        let s = ScriptSummary::new(
            1,
            "folder",
            "out".into(),
            "/d",
            entries,
            Duration::ZERO,
            false,
        );
        assert_eq!(
            (s.counts.bytes, s.counts.resumed, s.counts.resumed_bytes),
            (45, 1, 60)
        );
        assert_eq!(s.counts.excluded, 1);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["excluded"][0]["path"], "x.ckpt");
        // Red team (issue 22): one key per name; the list and its count apart.
        assert_eq!(json["excluded_count"], 1);
        assert_eq!(json["excluded"][0]["rule"], "exclude \"*.ckpt\"");
        assert!(json.get("mirror").is_none());
    }

    #[test]
    fn dry_run_summaries_carry_the_plan() {
        let s = ScriptSummary::new(
            1,
            "file",
            "r.csv".into(),
            "/d",
            vec![entry("r.csv", 3, Outcome::WouldUpload)],
            Duration::ZERO,
            true,
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["plan"][0]["action"], "would_upload");
        assert_eq!(json["plan"][0]["remote"], "/d/r.csv");
        assert!(s.dry_run);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn paths_that_are_not_utf8_still_serialize() {
        use std::os::unix::ffi::OsStrExt;
        let mut e = entry("x", 0, Outcome::Failed("bad name".into()));
        e.path = PathBuf::from(std::ffi::OsStr::from_bytes(b"bad\xff"));
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["path"], "bad\u{fffd}");
    }
}
