//! Posts that survive interruptions and carry only what belongs: a `post` killed with SIGKILL
//! and run again continues its upload session; filters from flags, config params and
//! `.dropboxignore`; `--delete` mirrors; `--bwlimit` is accepted. Every run has its own HOME
//! and cache folder.
//!
//! A run is killed at a known point with the emulator's `--stall ROUTE:N`, which holds the
//! Nth request to a route unanswered: the client waits there, and the test kills it once the
//! emulator's log shows the request held (and the client's upload journal what it expects).
//! The hook is the emulator's, a test server's: nothing in `post` knows of it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{PASSWORD, Study, TOKEN, assert_success, emulator_process, json_of, pattern};

const MIB: usize = 1 << 20;

/// An emulator (`-v`, its log in a file) on a root that outlives it, so a test can restart
/// it.
struct Dropbox {
    root: tempfile::TempDir,
    log: PathBuf,
    child: Option<Child>,
    url: String,
}

impl Dropbox {
    fn start(extra: &[&str]) -> Dropbox {
        let root = tempfile::tempdir().unwrap();
        let log = root.path().join("emulator.log");
        let mut dropbox = Dropbox {
            root,
            log,
            child: None,
            url: String::new(),
        };
        dropbox.restart(extra);
        dropbox
    }

    /// Kills the emulator, if running (as a crash would), and starts one on the same root.
    fn restart(&mut self, extra: &[&str]) {
        self.stop();
        let log = std::fs::File::create(&self.log).unwrap();
        let extra = [&["-v"], extra].concat();
        let (child, url) =
            emulator_process::spawn_logging(self.root.path(), TOKEN, &extra, log.into());
        self.child = Some(child);
        self.url = url;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether a request is being held by `--stall`.
    fn stalled(&self) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|log| log.contains("stalling this"))
    }

    fn file(&self, path: &str) -> PathBuf {
        self.root
            .path()
            .join("files")
            .join(path.trim_start_matches('/'))
    }

    /// Files and folders under `folder`, relative, folders with a trailing `/`, sorted.
    fn tree(&self, folder: &str) -> Vec<String> {
        let base = self.file(folder);
        let mut out: Vec<String> = walkdir::WalkDir::new(&base)
            .min_depth(1)
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                let rel = e.path().strip_prefix(&base).unwrap().to_string_lossy();
                let slash = if e.file_type().is_dir() { "/" } else { "" };
                format!("{rel}{slash}")
            })
            .collect();
        out.sort();
        out
    }
}

impl Drop for Dropbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A study with its own HOME and cache folder.
struct Run {
    study: Study,
    home: tempfile::TempDir,
}

impl Run {
    fn new() -> Run {
        Run {
            study: Study::new(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `dropbox-post post --endpoint URL --chunk-size 4 ARGS…` from the study folder.
    fn command(&self, dropbox: &Dropbox, args: &[&str]) -> Command {
        let mut cmd = Command::new(support::bin());
        cmd.args(["post", "--endpoint", &dropbox.url, "--chunk-size", "4"])
            .args(args)
            .current_dir(self.study.dir.path())
            .env("HOME", self.home.path())
            .env("DROPBOX_POST_CACHE_DIR", self.study.cache.path())
            .env("DROPBOX_POST_PASSWORD", PASSWORD)
            .env_remove("XDG_CACHE_HOME")
            .env_remove("DROPBOX_POST_ENDPOINT");
        cmd
    }

    /// The librec-auto argv form: `OPTION` `PATH` to `/dest`, plus `extra`.
    fn post(&self, dropbox: &Dropbox, option: &str, path: &str, extra: &[&str]) -> Command {
        let (option, path) = (format!("--option={option}"), format!("--path={path}"));
        let form = [
            &option,
            "--encrypted_key=keys/dropbox.enc",
            &path,
            "--dest=/dest",
        ];
        self.command(dropbox, &[&form[..], extra].concat())
    }

    /// [`Run::post`] with `--json`, to the end: the summary (whatever the exit code).
    fn json(&self, dropbox: &Dropbox, option: &str, path: &str, extra: &[&str]) -> (Value, Output) {
        let extra = [extra, &["--json"]].concat();
        let out = self.post(dropbox, option, path, &extra).output().unwrap();
        (json_of(&out), out)
    }

    /// Starts `post` of the file at `path` and SIGKILLs it once `ready` holds.
    fn kill_when(&self, dropbox: &Dropbox, path: &str, ready: impl Fn() -> bool) {
        let mut child = self
            .post(dropbox, "file", path, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "post ended before the point it was to be killed at"
            );
            assert!(
                Instant::now() < deadline,
                "post never reached the kill point"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn journal(&self, path: &str) -> PathBuf {
        let root = self.study.path(path);
        dropbox_post::upload::resume::journal_path(self.study.cache.path(), &root)
    }

    /// The last journalled state of the upload of `path` (relative to the study).
    fn journalled(&self, path: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.journal(path)).ok()?;
        let last = (text.lines().rev()).find_map(|l| serde_json::from_str::<Value>(l).ok())?;
        Some(last["n"].clone()).filter(|n| !n.is_null())
    }

    /// Whether the upload of `path` is journalled as acknowledged up to `acked`, with an
    /// append in flight.
    fn sending_after(&self, path: &str, acked: usize) -> bool {
        self.journalled(path)
            .is_some_and(|s| s["acked"] == acked && s["sending"].is_array())
    }
}

fn totals(json: &Value) -> (u64, u64, u64) {
    let t = &json["totals"];
    let n = |k: &str| t[k].as_u64().unwrap();
    (n("uploaded"), n("resumed"), n("resumed_bytes"))
}

/// A post of `post/big.bin` killed with SIGKILL while the emulator holds the request
/// `stall` names, once the client's journal shows `acked` bytes acknowledged (`None`: only
/// the stall), then run again to the end with `rerun` flags.
struct Interrupted<'a> {
    data: Vec<u8>,
    emulator: Vec<&'a str>,
    acked: Option<usize>,
    rerun: &'a [&'a str],
}

/// The stalls used below, and what the client's journal shows when each holds.
const FIRST_APPEND: &str = "files/upload_session/append_v2:1";
const SECOND_APPEND: &str = "files/upload_session/append_v2:2";
const COMMIT: &str = "files/upload_session/finish_batch_v2:1";

impl<'a> Interrupted<'a> {
    fn new(data: Vec<u8>, stall: &'a str, acked: Option<usize>) -> Self {
        Interrupted {
            data,
            emulator: vec!["--stall", stall],
            acked,
            rerun: &[],
        }
    }

    /// Kills, calls `between`, posts again: the summary of the second post, and the run.
    /// The file must land whole and alone.
    fn run(self, between: impl FnOnce(&Run, &mut Dropbox)) -> (Value, Run) {
        let mut dropbox = Dropbox::start(&self.emulator);
        let run = Run::new();
        run.study.write("post/big.bin", &self.data);
        run.kill_when(&dropbox, "post/big.bin", || {
            dropbox.stalled()
                && self
                    .acked
                    .is_none_or(|a| run.sending_after("post/big.bin", a))
        });
        assert!(
            !dropbox.file("/dest/big.bin").exists(),
            "nothing committed yet"
        );
        between(&run, &mut dropbox);
        let (json, out) = run.json(&dropbox, "file", "post/big.bin", self.rerun);
        assert_success(&out);
        let landed = std::fs::read(dropbox.file("/dest/big.bin")).unwrap();
        assert!(landed == std::fs::read(run.study.path("post/big.bin")).unwrap());
        assert_eq!(dropbox.tree("/dest"), ["big.bin"]);
        (json, run)
    }

    /// [`Interrupted::run`], checking that the committed upload left the journal.
    fn resumed(self, between: impl FnOnce(&Run, &mut Dropbox)) -> Value {
        let (json, run) = self.run(between);
        let left = run.journalled("post/big.bin");
        assert_eq!(left, None, "a committed upload is forgotten");
        json
    }
}

#[test]
fn killed_before_the_first_append_resumes_after_the_first_chunk() {
    let data = pattern(10 * MIB + 5, 1);
    let json = Interrupted::new(data.clone(), FIRST_APPEND, Some(4 * MIB)).resumed(|_, _| {});
    assert_eq!(totals(&json), (1, 1, 4 * MIB as u64));
    assert_eq!(json["totals"]["bytes"], data.len() - 4 * MIB);
}

#[test]
fn killed_mid_file_resumes_where_dropbox_is() {
    let stall = "files/upload_session/append_v2:3";
    let json = Interrupted::new(pattern(21 * MIB, 2), stall, Some(12 * MIB)).resumed(|_, _| {});
    assert_eq!(totals(&json), (1, 1, 12 * MIB as u64));
    assert_eq!(json["totals"]["bytes"], 9 * MIB);
    assert_eq!(json["scripts"][0]["resumed_bytes"], 12 * MIB);
}

#[test]
fn killed_after_the_last_append_commits_without_sending_again() {
    let data = pattern(10 * MIB + 7, 3);
    let json = Interrupted::new(data.clone(), COMMIT, None).resumed(|_, _| {});
    assert_eq!(totals(&json), (1, 1, data.len() as u64));
    assert_eq!(json["totals"]["bytes"], 0);
}

#[test]
fn a_resumed_session_survives_an_emulator_restart() {
    let interrupted = Interrupted::new(pattern(17 * MIB + 3, 4), SECOND_APPEND, Some(8 * MIB));
    let json = interrupted.resumed(|_, dropbox| dropbox.restart(&[]));
    assert_eq!(totals(&json), (1, 1, 8 * MIB as u64));
}

#[test]
fn a_changed_file_starts_a_fresh_session() {
    let interrupted = Interrupted::new(pattern(13 * MIB, 5), SECOND_APPEND, Some(8 * MIB));
    // Same size, other bytes: another version of the file.
    let json = interrupted.resumed(|run, _| {
        std::thread::sleep(Duration::from_millis(20));
        run.study.write("post/big.bin", &pattern(13 * MIB, 6));
    });
    assert_eq!(totals(&json), (1, 0, 0));
    assert_eq!(json["totals"]["bytes"], 13 * MIB);
}

#[test]
fn bytes_that_are_not_the_files_own_start_a_fresh_session() {
    // The journal says the file is the same version, but its prefix hashes otherwise (as
    // after a write the file system's timestamps could not show): never continued.
    let interrupted = Interrupted::new(pattern(13 * MIB, 7), SECOND_APPEND, Some(8 * MIB));
    let json = interrupted.resumed(|run, _| {
        let journal = run.journal("post/big.bin");
        let text = std::fs::read_to_string(&journal).unwrap();
        let saved = run.journalled("post/big.bin").unwrap();
        let hash = saved["acked_hash"].as_str().unwrap();
        std::fs::write(&journal, text.replace(hash, &"0".repeat(64))).unwrap();
    });
    assert_eq!(totals(&json), (1, 0, 0));
}

#[test]
fn an_expired_session_starts_a_fresh_one() {
    let mut interrupted = Interrupted::new(pattern(13 * MIB, 8), SECOND_APPEND, Some(8 * MIB));
    interrupted.emulator.extend(["--session-lifetime", "2"]);
    let json = interrupted.resumed(|_, _| std::thread::sleep(Duration::from_millis(3200)));
    assert_eq!(totals(&json), (1, 0, 0));
}

#[test]
fn no_resume_starts_afresh_and_journals_nothing() {
    let mut interrupted = Interrupted::new(pattern(9 * MIB, 9), FIRST_APPEND, Some(4 * MIB));
    interrupted.rerun = &["--no-resume"];
    let (json, run) = interrupted.run(|_, _| {});
    assert_eq!(totals(&json), (1, 0, 0));
    // The earlier run's entry is left for a run that resumes; --no-resume added nothing.
    assert_eq!(run.journalled("post/big.bin").unwrap()["acked"], 4 * MIB);
}

/// `conf/config.xml` with one folder script posting `post` to `/dest`, plus `params`.
fn config_with(study: &Study, params: &[(&str, &str)]) -> PathBuf {
    let mut xml = String::from(
        "<librec-auto><post><script lang=\"python3\" src=\"system\">\n\
         <script-name>dropbox_post.py</script-name>\n\
         <param name=\"option\">folder</param>\n\
         <param name=\"encrypted_key\">keys/dropbox.enc</param>\n\
         <param name=\"path\">post</param>\n\
         <param name=\"dest\">/dest</param>\n",
    );
    for (name, value) in params {
        xml.push_str(&format!("<param name=\"{name}\">{value}</param>\n"));
    }
    xml.push_str("</script></post></librec-auto>\n");
    study.write("conf/config.xml", xml.as_bytes())
}

/// The excluded entries of the first script: path relative to `root`, and rule.
fn excluded(json: &Value, root: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = json["scripts"][0]["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let path = Path::new(e["path"].as_str().unwrap());
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, e["rule"].as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

/// A run whose study holds `files` (path, bytes).
fn run_with(files: &[(&str, &[u8])]) -> Run {
    let run = Run::new();
    for (path, bytes) in files {
        run.study.write(path, bytes);
    }
    run
}

/// A study tree with something for each filter source.
fn filtered_study() -> Run {
    let run = run_with(&[
        ("post/results.csv", b"r"),
        ("post/notes.txt", b"n"),
        ("post/secret.csv", b"s"),
        ("post/run/model.ckpt", b"c"),
        ("post/run/metrics.csv", b"m"),
        ("post/scratch/big.bin", &pattern(1000, 1)),
        ("post/logs/x.tmp", b"t"),
    ]);
    let s = &run.study;
    s.write(
        "post/.dropboxignore",
        b"# leave these out\nscratch/\n*.TMP\n",
    );
    #[cfg(unix)]
    std::os::unix::fs::symlink(s.path("nowhere"), s.path("post/broken.lnk")).unwrap();
    config_with(s, &[("exclude", "*.ckpt"), ("exclude", "*.lnk")]);
    run
}

/// `post --config conf/config.xml EXTRA… --json`.
fn post_config(run: &Run, dropbox: &Dropbox, extra: &[&str]) -> (Value, Output) {
    let args = [&["--config", "conf/config.xml"], extra, &["--json"]].concat();
    let out = run.command(dropbox, &args).output().unwrap();
    (json_of(&out), out)
}

#[test]
fn filters_from_flags_config_and_ignore_file_add_up() {
    let dropbox = Dropbox::start(&[]);
    let run = filtered_study();
    let (json, out) = post_config(&run, &dropbox, &["--exclude", "secret*"]);
    assert_success(&out);
    // logs/ holds only what is left out: not created.
    assert_eq!(
        dropbox.tree("/dest"),
        [
            ".dropboxignore",
            "notes.txt",
            "results.csv",
            "run/",
            "run/metrics.csv"
        ]
    );
    let mut want = vec![
        ("logs/x.tmp", ".dropboxignore line 3: *.TMP".to_string()),
        (
            "run/model.ckpt",
            r#"exclude "*.ckpt" (conf/config.xml line 7)"#.into(),
        ),
        ("scratch", ".dropboxignore line 2: scratch/".into()),
        ("secret.csv", r#"exclude "secret*" (--exclude)"#.into()),
    ];
    if cfg!(unix) {
        // A dangling link would be a failure ("cannot read"), were it not left out.
        want.push((
            "broken.lnk",
            r#"exclude "*.lnk" (conf/config.xml line 8)"#.into(),
        ));
    }
    want.sort();
    let want: Vec<(String, String)> = want.into_iter().map(|(p, r)| (p.into(), r)).collect();
    let root = run.study.path("post");
    assert_eq!(excluded(&json, &root), want);
    assert_eq!(json["totals"]["excluded"], want.len());
    assert_eq!(json["totals"]["failed"], 0);

    // Includes keep only what they match; excludes still win; folders left empty by the
    // filters are not created.
    let dropbox = Dropbox::start(&[]);
    let (json, out) = post_config(
        &run,
        &dropbox,
        &["--include", "*.csv", "--exclude", "secret*"],
    );
    assert_success(&out);
    assert_eq!(
        dropbox.tree("/dest"),
        ["results.csv", "run/", "run/metrics.csv"]
    );
    let rules = excluded(&json, &run.study.path("post"));
    let rule = |p: &str| rules.iter().find(|(r, _)| r == p).unwrap().1.clone();
    assert_eq!(rule("notes.txt"), "no include pattern matches this file");
    assert!(rule("secret.csv").contains("--exclude"));
    assert!(rule("scratch").contains(".dropboxignore"));
}

#[test]
fn dry_run_shows_what_is_excluded_and_why() {
    let dropbox = Dropbox::start(&[]);
    let run = filtered_study();
    let extra = ["--dry-run", "--exclude=*.txt", "--exclude=*.lnk"];
    let out = run
        .post(&dropbox, "folder", "post", &extra)
        .output()
        .unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#"notes.txt (exclude "*.txt" (--exclude))"#),
        "{stdout}"
    );
    assert!(
        stdout.contains("scratch (.dropboxignore line 2: scratch/)"),
        "{stdout}"
    );
    assert!(stdout.contains("would upload"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(" excluded, "), "{stderr}");
    assert!(dropbox.tree("/").is_empty());
}

#[test]
fn bad_patterns_are_refused_before_anything_is_sent() {
    let dropbox = Dropbox::start(&[]);
    let run = filtered_study();
    let code = |extra: &[&str]| {
        let out = run
            .post(&dropbox, "folder", "post", extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, stderr) = code(&["--exclude", "!x"]);
    assert_eq!(status, Some(2), "{stderr}");
    run.study.write("post/.dropboxignore", b"ok\n{unclosed\n");
    let (status, stderr) = code(&[]);
    assert_eq!(status, Some(3), "{stderr}");
    assert!(stderr.contains(".dropboxignore line 2"), "{stderr}");
    assert!(dropbox.tree("/").is_empty());
}

/// `/dest` once [`with_extras`]'s run has mirrored it (with `*.ckpt` left out).
const MIRRORED: [&str; 5] = [
    "added.csv",
    "keep.csv",
    "mixed/",
    "mixed/new.txt",
    "model.ckpt",
];

/// Puts extra files under /dest (and next to it) as an earlier post would have.
fn with_extras(dropbox: &Dropbox) -> Run {
    let earlier = run_with(&[
        ("post/keep.csv", b"old keep"),
        ("post/stale.csv", b"stale"),
        ("post/Gone/deep/x.txt", b"x"),
        ("post/mixed/stale.txt", b"y"),
        ("post/model.ckpt", b"checkpoint"),
    ]);
    std::fs::create_dir_all(earlier.study.path("post/empty-remote")).unwrap();
    let (_, out) = earlier.json(dropbox, "folder", "post", &[]);
    assert_success(&out);
    // Outside /dest: a sibling whose name starts the same.
    let other = [
        "--option=file",
        "--encrypted_key=keys/dropbox.enc",
        "--path=post/stale.csv",
        "--dest=/dest-other",
    ];
    assert_success(&earlier.command(dropbox, &other).output().unwrap());
    run_with(&[
        ("post/keep.csv", b"new keep"),
        ("post/mixed/new.txt", b"z"),
        ("post/added.csv", b"a"),
    ])
}

#[test]
fn delete_mirrors_dest_and_nothing_else() {
    let dropbox = Dropbox::start(&[]);
    let run = with_extras(&dropbox);
    // A dry run lists every deletion and deletes nothing.
    let before = dropbox.tree("/");
    let (json, out) = run.json(
        &dropbox,
        "folder",
        "post",
        &["--delete", "--exclude=*.ckpt", "--dry-run"],
    );
    assert_success(&out);
    let listed: Vec<&str> = json["scripts"][0]["mirror"]["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["remote"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            "/dest/empty-remote",
            "/dest/Gone",
            "/dest/Gone/deep",
            "/dest/Gone/deep/x.txt",
            "/dest/mixed/stale.txt",
            "/dest/stale.csv"
        ]
    );
    assert_eq!(dropbox.tree("/"), before);

    let (json, out) = run.json(
        &dropbox,
        "folder",
        "post",
        &["--delete", "--exclude=*.ckpt"],
    );
    assert_success(&out);
    assert_eq!(json["totals"]["deleted"], 6);
    assert_eq!(json["scripts"][0]["mirror"]["refused"], Value::Null);
    assert_eq!(dropbox.tree("/dest"), MIRRORED);
    assert_eq!(
        std::fs::read(dropbox.file("/dest/keep.csv")).unwrap(),
        b"new keep"
    );
    assert_eq!(dropbox.tree("/dest-other"), ["stale.csv"]);
    // Mirrored: nothing more to do.
    let (json, out) = run.json(
        &dropbox,
        "folder",
        "post",
        &["--delete=true", "--exclude=*.ckpt"],
    );
    assert_success(&out);
    assert_eq!(json["totals"]["deleted"], 0);
    assert_eq!(json["totals"]["uploaded"], 0);
}

#[test]
fn delete_is_refused_after_a_failure() {
    let dropbox = Dropbox::start(&[]);
    let run = with_extras(&dropbox);
    // In add mode the changed keep.csv conflicts with Dropbox's: one failure.
    let (json, out) = run.json(&dropbox, "folder", "post", &["--delete", "--mode", "add"]);
    assert_eq!(out.status.code(), Some(6));
    let refused = json["scripts"][0]["mirror"]["refused"].as_str().unwrap();
    assert!(
        refused.contains("1 file(s) of this run failed"),
        "{refused}"
    );
    assert_eq!(json["totals"]["deleted"], 0);
    assert!(dropbox.file("/dest/stale.csv").exists());
    assert!(dropbox.file("/dest/Gone/deep/x.txt").exists());
    let extra = ["--delete", "--mode", "add"];
    let out = run
        .post(&dropbox, "folder", "post", &extra)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("mirror: nothing deleted: 1 file(s)"),
        "{stderr}"
    );
    assert!(dropbox.file("/dest/stale.csv").exists());
}

#[test]
fn the_librec_auto_form_takes_filter_and_mirror_params_as_flags() {
    // librec-auto passes each <param> as --NAME=VALUE, through bin/dropbox_post.py.
    let dropbox = Dropbox::start(&[]);
    let run = with_extras(&dropbox);
    run.study.write("post/model.ckpt", b"local checkpoint");
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/dropbox_post.py"))
        .args([
            "config.xml",
            "--option=folder",
            "--encrypted_key=keys/dropbox.enc",
            "--path=post",
            "--dest=/dest",
            "--exclude=*.ckpt",
            "--include=*",
            "--delete=true",
            "--share=false",
        ])
        .arg(format!("--password={PASSWORD}"))
        .current_dir(run.study.dir.path())
        .env("DROPBOX_POST_BIN", support::bin())
        .env("DROPBOX_POST_ENDPOINT", &dropbox.url)
        .env("HOME", run.home.path())
        .env("DROPBOX_POST_CACHE_DIR", run.study.cache.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("DROPBOX_POST_PASSWORD")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(dropbox.tree("/dest"), MIRRORED);
    assert_eq!(
        std::fs::read(dropbox.file("/dest/model.ckpt")).unwrap(),
        b"checkpoint"
    );
}

#[test]
fn bwlimit_is_a_rate_and_the_upload_lands() {
    let dropbox = Dropbox::start(&[]);
    let run = Run::new();
    let data = pattern(3 * MIB, 10);
    run.study.write("post/big.bin", &data);
    let (json, out) = run.json(&dropbox, "file", "post/big.bin", &["--bwlimit", "64M"]);
    assert_success(&out);
    assert_eq!(json["totals"]["uploaded"], 1);
    assert!(std::fs::read(dropbox.file("/dest/big.bin")).unwrap() == data);
    for bad in ["fast", "10X", "-1M"] {
        let arg = format!("--bwlimit={bad}");
        let out = run
            .post(&dropbox, "file", "post/big.bin", &[&arg])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not a rate"), "{stderr}");
    }
}
