//! What a run tells its user: a progress bar on a terminal (bytes, files, rate, ETA),
//! otherwise one plain line per script; each failed file with its reason; `--json` on
//! stdout (human text always goes to stderr so stdout stays parseable).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::dropbox::error::ApiError;
use crate::redact::escape_controls;

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

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Live state of one job: the bar and the per-file results.
pub struct Progress {
    bar: ProgressBar,
    verbose: bool,
    total_files: usize,
    files_done: AtomicUsize,
    entries: Mutex<Vec<Entry>>,
}

impl Progress {
    /// The bar is drawn only when stderr is a terminal and `show` (not `--json`) is set;
    /// it shows `limit` (`--bwlimit`, bytes per second) beside the rate.
    pub fn new(
        label: &str,
        total_files: usize,
        total_bytes: u64,
        show: bool,
        verbose: bool,
        limit: Option<u64>,
    ) -> Self {
        let bar = if show && std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(
                Some(total_bytes),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            bar.set_style(
                ProgressStyle::with_template(&bar_template(limit))
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar.set_message(format!("0/{total_files} files"));
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            verbose,
            total_files,
            files_done: AtomicUsize::new(0),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Bytes acknowledged by Dropbox (or found unchanged).
    pub fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    /// A line for the user that must not tear the bar.
    pub fn say(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    pub fn record(&self, entry: Entry) {
        if self.verbose || matches!(entry.outcome, Outcome::Failed(_)) {
            self.say(&describe(&entry));
        }
        if !matches!(
            entry.outcome,
            Outcome::FolderCreated | Outcome::WouldCreateFolder | Outcome::Excluded(_)
        ) {
            let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
            self.bar
                .set_message(format!("{done}/{} files", self.total_files));
        }
        self.entries
            .lock()
            .expect("report lock poisoned")
            .push(entry);
    }

    /// Clear the bar; the results so far.
    pub fn finish(&self) -> Vec<Entry> {
        self.bar.finish_and_clear();
        std::mem::take(&mut *self.entries.lock().expect("report lock poisoned"))
    }
}

fn bar_template(limit: Option<u64>) -> String {
    let limit = limit.map_or(String::new(), |l| format!(" (limit {}/s)", human_bytes(l)));
    format!(
        "{{prefix}} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{msg}} {{bytes_per_sec}}{limit} ETA {{eta}}"
    )
}

/// One line per file for `-v`, `--dry-run` and failures.
pub fn describe(e: &Entry) -> String {
    let what = match &e.outcome {
        Outcome::Uploaded => "uploaded",
        Outcome::Skipped => "unchanged",
        Outcome::Failed(_) => "FAILED",
        Outcome::WouldUpload => "would upload",
        Outcome::FolderCreated => "created folder",
        Outcome::WouldCreateFolder => "would create folder",
        Outcome::Excluded(_) => "excluded",
    };
    match &e.outcome {
        Outcome::Failed(reason) => {
            format!("  {what} {} -> {}: {reason}", e.path.display(), e.remote)
        }
        Outcome::Excluded(rule) => format!("  {what} {} ({rule})", e.path.display()),
        Outcome::Uploaded if e.resumed > 0 => format!(
            "  {what} {} -> {} ({} bytes, {} of them sent by an earlier run)",
            e.path.display(),
            e.remote,
            e.bytes,
            e.resumed
        ),
        _ => format!(
            "  {what} {} -> {} ({} bytes)",
            e.path.display(),
            e.remote,
            e.bytes
        ),
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
    /// Files and folders a filter left out.
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

    /// `, 3 excluded, 1 resumed (600.0 MiB sent before)`: what is not always there.
    fn extras(&self) -> String {
        let mut out = String::new();
        if self.excluded > 0 {
            out += &format!(", {} excluded", self.excluded);
        }
        if self.resumed > 0 {
            out += &format!(
                ", {} resumed ({} sent before)",
                self.resumed,
                human_bytes(self.resumed_bytes)
            );
        }
        if self.deleted > 0 {
            out += &format!(", {} deleted", self.deleted);
        }
        out
    }
}

/// How a failed deletion's reason starts.
pub const CANNOT_DELETE: &str = "cannot delete";

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

#[derive(Debug, Clone, Serialize)]
pub struct Failed {
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    pub remote: String,
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
            self.add_failure(self.path.clone(), &remote, reason);
        }
        self.counts.deleted = mirror.deleted.len();
        self.mirror = Some(mirror);
    }

    /// The mirror's lines for a human: each deletion (`--dry-run` on stdout, `-v` on stderr),
    /// each kept and each failed one, and a summary line. Paths come from the server:
    /// control characters are escaped.
    pub fn print_mirror(&self, verbose: bool) {
        let Some(mirror) = &self.mirror else {
            return;
        };
        let shown = |path: &str, folder: bool| {
            let slash = if folder { "/" } else { "" };
            format!("{}{slash}", escape_controls(path))
        };
        let dry_run = self.plan.is_some();
        if verbose {
            for path in &mirror.ignored {
                let (path, dest) = (escape_controls(path), &self.dest);
                eprintln!("  ignored {path}: listed for {dest}, but no path under it");
            }
        }
        if dry_run || verbose {
            let verb = if dry_run { "would delete" } else { "deleted" };
            for d in &mirror.deleted {
                let line = format!("  {verb} {}", shown(&d.remote, d.folder));
                if dry_run {
                    println!("{line}");
                } else {
                    eprintln!("{line}");
                }
            }
        }
        for k in &mirror.kept {
            let reason = escape_controls(&k.reason);
            eprintln!("  kept {}: {reason}", shown(&k.remote, k.folder));
        }
        for f in (self.failures.iter()).filter(|f| f.reason.starts_with(CANNOT_DELETE)) {
            let reason = escape_controls(&f.reason);
            eprintln!("  FAILED delete {}: {reason}", shown(&f.remote, false));
        }
        if let Some(line) = self.mirror_line() {
            eprintln!("{line}");
        }
    }

    /// `script 1 (folder post -> /study): mirror: 3 deleted`, once `--delete` ran.
    fn mirror_line(&self) -> Option<String> {
        let mirror = self.mirror.as_ref()?;
        let kept = match mirror.kept.len() {
            0 => String::new(),
            n => format!(", {n} kept (each says why above)"),
        };
        let what = match &mirror.refused {
            Some(reason) => format!("nothing deleted: {reason}"),
            None if self.plan.is_some() => format!("{} to delete", mirror.deleted.len()),
            None => format!("{} deleted{kept}", self.counts.deleted),
        };
        Some(format!(
            "script {} ({} {} -> {}): mirror: {what}",
            self.script,
            self.kind,
            self.path.display(),
            self.dest
        ))
    }

    /// Why the mirror deleted nothing, when it was refused.
    pub fn refused_mirror(&self) -> Option<&str> {
        self.mirror.as_ref()?.refused.as_deref()
    }

    /// A failure after the files were sent (e.g. the shared link could not be made).
    pub fn add_failure(&mut self, path: PathBuf, remote: &str, reason: String) {
        self.counts.failed += 1;
        self.failures.push(Failed {
            path,
            remote: remote.to_string(),
            reason,
        });
    }

    /// `script 1 (folder post/results -> /study): 12 uploaded, 3 unchanged, 0 failed, ...`
    pub fn line(&self) -> String {
        let verb = if self.plan.is_some() {
            "to upload"
        } else {
            "uploaded"
        };
        format!(
            "script {} ({} {} -> {}): {} {verb}, {} unchanged, {} failed, {} folders{}, {} in {:.1} s",
            self.script,
            self.kind,
            self.path.display(),
            self.dest,
            self.counts.uploaded,
            self.counts.skipped,
            self.counts.failed,
            self.counts.folders_created,
            self.counts.extras(),
            human_bytes(self.counts.bytes),
            self.seconds
        )
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

    pub fn line(&self) -> String {
        format!(
            "total: {} {}, {} unchanged, {} failed{}, {} in {:.1} s",
            self.totals.uploaded,
            if self.dry_run {
                "to upload"
            } else {
                "uploaded"
            },
            self.totals.skipped,
            self.totals.failed,
            self.totals.extras(),
            human_bytes(self.totals.bytes),
            self.seconds
        )
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, bytes: u64, outcome: Outcome) -> Entry {
        Entry {
            path: PathBuf::from(name),
            remote: format!("/d/{name}"),
            bytes,
            resumed: 0,
            outcome,
        }
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
        assert_eq!(
            s.line(),
            "script 2 (folder out -> /d): 1 uploaded, 1 unchanged, 1 failed, 1 folders, 10 B in 1.5 s"
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
        assert!(
            s.line()
                .contains("0 folders, 1 excluded, 1 resumed (60 B sent before), 45 B in"),
            "{}",
            s.line()
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["excluded"][0]["path"], "x.ckpt");
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
        assert!(s.line().contains("1 to upload"));
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

    #[test]
    fn the_bar_shows_the_bandwidth_limit() {
        assert!(!bar_template(None).contains("limit"));
        let with = bar_template(Some(10 << 20));
        assert!(
            with.contains("{bytes_per_sec} (limit 10.0 MiB/s) ETA"),
            "{with}"
        );
        ProgressStyle::with_template(&with).unwrap();
    }

    #[test]
    fn lines_and_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(300 * 1024 * 1024), "300.0 MiB");
        let e = entry("x", 1, Outcome::Failed("boom".into()));
        assert_eq!(describe(&e), "  FAILED x -> /d/x: boom");
        assert_eq!(
            describe(&entry("y", 2, Outcome::Uploaded)),
            "  uploaded y -> /d/y (2 bytes)"
        );
        let mut resumed = entry("z", 9, Outcome::Uploaded);
        resumed.resumed = 4;
        assert_eq!(
            describe(&resumed),
            "  uploaded z -> /d/z (9 bytes, 4 of them sent by an earlier run)"
        );
        let excluded = entry("w", 0, Outcome::Excluded("a rule".into()));
        assert_eq!(describe(&excluded), "  excluded w (a rule)");
    }
}
