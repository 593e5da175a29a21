//! `post` (and `demo`) on a terminal: a progress bar while a script sends (bytes, files,
//! rate, ETA), a line per file with `-v` and per failure, a line per script, the mirror's
//! lines, and the run's total; or, with `--json`, the run's summary on stdout.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::exit::{ExitKind, ResultExt};
use dropbox_post_core::redact::escape_controls;
use dropbox_post_core::upload::report::{
    Counts, Entry, Observer, Outcome, RunSummary, ScriptSummary, Step,
};

use super::human_bytes;

/// How a run is shown as it goes.
pub struct PostView {
    /// `--json`: no bar and no script lines (stdout is the summary); failures still go to
    /// stderr.
    json: bool,
    /// `-v`: every file's line, each deletion, what the mirror ignored.
    verbose: bool,
    /// `--bwlimit` in bytes per second, shown beside the rate.
    limit: Option<u64>,
    bar: Mutex<ProgressBar>,
    files: AtomicUsize,
    files_done: AtomicUsize,
}

impl PostView {
    pub fn new(json: bool, verbose: bool, limit: Option<u64>) -> Self {
        PostView {
            json,
            verbose,
            limit,
            bar: Mutex::new(ProgressBar::hidden()),
            files: AtomicUsize::new(0),
            files_done: AtomicUsize::new(0),
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, ProgressBar> {
        self.bar.lock().expect("progress bar lock poisoned")
    }
}

impl Observer for PostView {
    /// The bar is drawn only on a terminal and without `--json`.
    fn script_started(&self, script: usize, files: usize, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        self.files_done.store(0, Ordering::Relaxed);
        if self.json || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr_with_hz(4));
        bar.set_style(
            ProgressStyle::with_template(&bar_template(self.limit))
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("script {script}"));
        bar.set_message(format!("0/{files} files"));
        bar.enable_steady_tick(Duration::from_millis(250));
        *self.bar() = bar;
    }

    fn advanced(&self, bytes: u64) {
        self.bar().inc(bytes);
    }

    fn recorded(&self, entry: &Entry) {
        if self.verbose || matches!(entry.outcome, Outcome::Failed(_)) {
            self.said(&describe(entry));
        }
        if !matches!(
            entry.outcome,
            Outcome::FolderCreated | Outcome::WouldCreateFolder | Outcome::Excluded(_)
        ) {
            let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
            let files = self.files.load(Ordering::Relaxed);
            self.bar().set_message(format!("{done}/{files} files"));
        }
    }

    /// A line that must not tear the bar.
    fn said(&self, line: &str) {
        let bar = self.bar();
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    }

    fn script_done(&self, summary: &ScriptSummary) {
        let bar = std::mem::replace(&mut *self.bar(), ProgressBar::hidden());
        bar.finish_and_clear();
        // Every failure has its line on stderr, with `--json` too, as each file's has.
        failed_lines(summary, Step::Share);
        if self.json {
            return;
        }
        for entry in summary.plan.iter().flatten() {
            println!("{}", describe(entry));
        }
        eprintln!("{}", script_line(summary));
        if let Some(link) = &summary.link {
            eprintln!("link: {link}");
        }
    }

    fn mirror_done(&self, summary: &ScriptSummary) {
        if self.json {
            failed_lines(summary, Step::Delete);
        } else {
            print_mirror(summary, self.verbose);
        }
    }
}

/// The end of a run: `--json`'s summary, or the total line when it had `several` scripts.
pub fn finish(run: &RunSummary, json: bool, several: bool) -> crate::exit::CmdResult {
    if json {
        let text = serde_json::to_string_pretty(run).exit_with(ExitKind::Internal)?;
        println!("{text}");
    } else if several {
        eprintln!("{}", total_line(run));
    }
    Ok(())
}

fn bar_template(limit: Option<u64>) -> String {
    let limit = limit.map_or(String::new(), |l| format!(" (limit {}/s)", human_bytes(l)));
    format!(
        "{{prefix}} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{msg}} {{bytes_per_sec}}{limit} ETA {{eta}}"
    )
}

/// A local path on a line: a name may hold a newline or an escape sequence, which would
/// forge lines or recolour the terminal.
fn local(path: &Path) -> String {
    escape_controls(&path.to_string_lossy()).into_owned()
}

/// One line per file for `-v`, `--dry-run` and failures.
fn describe(e: &Entry) -> String {
    let what = match &e.outcome {
        Outcome::Uploaded => "uploaded",
        Outcome::Skipped => "unchanged",
        Outcome::Failed(_) => "FAILED",
        Outcome::WouldUpload => "would upload",
        Outcome::FolderCreated => "created folder",
        Outcome::WouldCreateFolder => "would create folder",
        Outcome::Excluded(_) => "excluded",
    };
    let (path, remote) = (local(&e.path), escape_controls(&e.remote));
    match &e.outcome {
        Outcome::Failed(reason) => format!("  {what} {path} -> {remote}: {reason}"),
        Outcome::Excluded(rule) => format!("  {what} {path} ({rule})"),
        Outcome::Uploaded if e.resumed > 0 => format!(
            "  {what} {path} -> {remote} ({} bytes, {} of them sent by an earlier run)",
            e.bytes, e.resumed
        ),
        _ => format!("  {what} {path} -> {remote} ({} bytes)", e.bytes),
    }
}

/// `, 3 excluded, 1 resumed (600.0 MiB sent before)`: what is not always there.
fn extras(counts: &Counts) -> String {
    let mut out = String::new();
    if counts.excluded > 0 {
        out += &format!(", {} excluded", counts.excluded);
    }
    if counts.resumed > 0 {
        out += &format!(
            ", {} resumed ({} sent before)",
            counts.resumed,
            human_bytes(counts.resumed_bytes)
        );
    }
    if counts.deleted > 0 {
        out += &format!(", {} deleted", counts.deleted);
    }
    out
}

fn verb(dry_run: bool) -> &'static str {
    if dry_run { "to upload" } else { "uploaded" }
}

/// `script 1 (folder post/results -> /study)`: which script a line is about.
fn script_label(s: &ScriptSummary) -> String {
    let (path, dest) = (local(&s.path), escape_controls(&s.dest));
    format!("script {} ({} {path} -> {dest})", s.script, s.kind)
}

/// `script 1 (folder post/results -> /study): 12 uploaded, 3 unchanged, 0 failed, ...`
fn script_line(s: &ScriptSummary) -> String {
    let c = &s.counts;
    format!(
        "{}: {} {}, {} unchanged, {} failed, {} folders{}, {} in {:.1} s",
        script_label(s),
        c.uploaded,
        verb(s.dry_run),
        c.skipped,
        c.failed,
        c.folders_created,
        extras(c),
        human_bytes(c.bytes),
        s.seconds
    )
}

/// `total: 12 uploaded, 3 unchanged, 0 failed, 1.2 MiB in 0.4 s`
fn total_line(run: &RunSummary) -> String {
    let t = &run.totals;
    format!(
        "total: {} {}, {} unchanged, {} failed{}, {} in {:.1} s",
        t.uploaded,
        verb(run.dry_run),
        t.skipped,
        t.failed,
        extras(t),
        human_bytes(t.bytes),
        run.seconds
    )
}

/// `  FAILED delete /d/x: why`: each failure of `step` (a transfer's has its file's line).
fn failed_lines(s: &ScriptSummary, step: Step) {
    let verb = match step {
        Step::Transfer => return,
        Step::Share => "share",
        Step::Delete => "delete",
    };
    for f in s.failures.iter().filter(|f| f.step == step) {
        let (remote, reason) = (escape_controls(&f.remote), escape_controls(&f.reason));
        eprintln!("  FAILED {verb} {remote}: {reason}");
    }
}

/// The mirror's lines: each deletion (`--dry-run` on stdout, `-v` on stderr), each kept and
/// each failed one, and a summary line. Paths come from the server: control characters are
/// escaped.
fn print_mirror(s: &ScriptSummary, verbose: bool) {
    let Some(mirror) = &s.mirror else {
        return;
    };
    let shown = |path: &str, folder: bool| {
        let slash = if folder { "/" } else { "" };
        format!("{}{slash}", escape_controls(path))
    };
    if verbose {
        for path in &mirror.ignored {
            let (path, dest) = (escape_controls(path), &s.dest);
            eprintln!("  ignored {path}: listed for {dest}, but no path under it");
        }
    }
    if s.dry_run {
        for d in &mirror.deleted {
            println!("  would delete {}", shown(&d.remote, d.folder));
        }
    } else if verbose {
        for d in &mirror.deleted {
            eprintln!("  deleted {}", shown(&d.remote, d.folder));
        }
    }
    for k in &mirror.kept {
        let reason = escape_controls(&k.reason);
        eprintln!("  kept {}: {reason}", shown(&k.remote, k.folder));
    }
    failed_lines(s, Step::Delete);
    let kept = match mirror.kept.len() {
        0 => String::new(),
        n => format!(", {n} kept (each says why above)"),
    };
    let what = match &mirror.refused {
        Some(reason) => format!("nothing deleted: {reason}"),
        None if s.dry_run => format!("{} to delete", mirror.deleted.len()),
        None => format!("{} deleted{kept}", s.counts.deleted),
    };
    eprintln!("{}: mirror: {what}", script_label(s));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, bytes: u64, outcome: Outcome) -> Entry {
        Entry::new(name.into(), format!("/d/{name}"), bytes, outcome)
    }

    fn summary(entries: Vec<Entry>, dry_run: bool) -> ScriptSummary {
        let elapsed = Duration::from_millis(1500);
        ScriptSummary::new(2, "folder", "out".into(), "/d", entries, elapsed, dry_run)
    }

    #[test]
    fn a_script_line_counts_what_happened() {
        let s = summary(
            vec![
                entry("a", 10, Outcome::Uploaded),
                entry("b", 5, Outcome::Skipped),
                entry("c", 7, Outcome::Failed("changed while being read".into())),
                entry("e", 0, Outcome::FolderCreated),
            ],
            false,
        );
        assert_eq!(
            script_line(&s),
            "script 2 (folder out -> /d): 1 uploaded, 1 unchanged, 1 failed, 1 folders, 10 B in 1.5 s"
        );
        let run = RunSummary::new(vec![s], false, Duration::from_secs(2), None);
        assert_eq!(
            total_line(&run),
            "total: 1 uploaded, 1 unchanged, 1 failed, 10 B in 2.0 s"
        );
    }

    #[test]
    fn resumed_excluded_and_dry_run_lines() {
        let mut resumed = entry("big", 100, Outcome::Uploaded);
        resumed.resumed = 60;
        let rule = Outcome::Excluded("exclude \"*.ckpt\"".into());
        let s = summary(vec![resumed, entry("x.ckpt", 0, rule)], false);
        let line = script_line(&s);
        assert!(
            line.contains("0 folders, 1 excluded, 1 resumed (60 B sent before), 40 B in"),
            "{line}"
        );
        let dry = summary(vec![entry("r.csv", 3, Outcome::WouldUpload)], true);
        assert!(script_line(&dry).contains("1 to upload"));
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
    fn file_lines() {
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

    /// Red team (issue 22): a local name cannot forge a line or reach the terminal raw.
    #[test]
    fn names_with_control_characters_are_escaped() {
        let forged = entry("evil\n  FAKE\u{1b}[2K", 0, Outcome::WouldUpload);
        let line = describe(&forged);
        assert!(!line.contains(['\n', '\u{1b}']), "{line:?}");
        assert!(line.contains("evil\\u{a}  FAKE\\u{1b}[2K"), "{line:?}");
        let s = ScriptSummary::new(
            1,
            "folder",
            "a\nb".into(),
            "/d\r",
            vec![],
            Duration::ZERO,
            false,
        );
        assert!(
            !script_line(&s).contains(['\n', '\r']),
            "{}",
            script_line(&s)
        );
    }
}
