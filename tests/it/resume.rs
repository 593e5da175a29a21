//! Issue 16: posts that survive interruptions and carry only what belongs. A `post` killed
//! with SIGKILL and run again continues its upload session; filters from flags, config
//! params and `.dropboxignore`; `--delete` mirrors; `--bwlimit` is a rate.
//!
//! A run is killed at a known point with the emulator's `--stall ROUTE:N`, which holds the
//! Nth request to a route unanswered: the client waits there, and the test kills it once the
//! emulator's log shows the request held (and the client's upload journal what it expects).
//! The hook is the emulator's, a test server's: nothing in `post` knows of it. What the
//! re-run sends is counted by the emulator (its `-v` log), not taken from the client.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    CmdExt, Emulator, PASSWORD, Study, TestEnv, assert_success, block_on, guarded, hash, json_of,
    pattern, stderr, stdout, tree,
};

const MIB: usize = 1 << 20;
const BIG: &str = "post/big.bin";

/// `post --endpoint URL --chunk-size 4 ARGS…` from the study folder, password by env
/// (`ARGS` may name another chunk size).
fn post(study: &Study, url: &str, args: &[&str]) -> Command {
    let mut cmd = study.command();
    cmd.args(["post", "--endpoint", url]);
    if !args.contains(&"--chunk-size") {
        cmd.args(["--chunk-size", "4"]);
    }
    cmd.args(args).password(PASSWORD);
    cmd
}

/// [`post`] in librec-auto's argv form: `OPTION` `PATH` to `/dest`, plus `extra`.
fn argv(study: &Study, url: &str, option: &str, path: &str, extra: &[&str]) -> Command {
    let (option, path) = (format!("--option={option}"), format!("--path={path}"));
    let form = [
        &option,
        "--encrypted_key=keys/dropbox.enc",
        &path,
        "--dest=/dest",
    ];
    post(study, url, &[&form[..], extra].concat())
}

/// Runs `cmd` with `--json` to its end: the summary (whatever the exit code), and the run.
fn summary(cmd: Command) -> (Value, Output) {
    let out = guarded(cmd).arg("--json").output().unwrap();
    (json_of(&out), out)
}

/// `post --config conf/config.xml EXTRA… --json`.
fn post_config(study: &Study, url: &str, extra: &[&str]) -> (Value, Output) {
    summary(post(
        study,
        url,
        &[&["--config", "conf/config.xml"], extra].concat(),
    ))
}

/// The files and folders under Dropbox folder `folder` (see [`tree`]).
fn remote(emu: &Emulator, folder: &str) -> Vec<String> {
    tree(&emu.file(folder))
}

fn journal(study: &Study) -> PathBuf {
    dropbox_post_core::upload::resume::journal_path(&study.env().cache(), &study.path(BIG))
}

/// The last journalled state of the upload of [`BIG`].
fn journalled(study: &Study) -> Option<Value> {
    let text = std::fs::read_to_string(journal(study)).ok()?;
    let last = (text.lines().rev()).find_map(|l| serde_json::from_str::<Value>(l).ok())?;
    Some(last["n"].clone()).filter(|n| !n.is_null())
}

fn totals(json: &Value) -> (u64, u64, u64) {
    let n = |k: &str| json["totals"][k].as_u64().unwrap();
    (n("uploaded"), n("resumed"), n("resumed_bytes"))
}

/// The stalls used below.
const FIRST_APPEND: &str = "files/upload_session/append_v2:1";
const SECOND_APPEND: &str = "files/upload_session/append_v2:2";
const COMMIT: &str = "files/upload_session/finish_batch_v2:1";

/// A post of [`BIG`] killed with SIGKILL while the emulator holds the request `stall`
/// names, once the client's journal shows `acked` bytes acknowledged with an append in
/// flight (`None`: only the stall), then run again to the end with `rerun` flags.
struct Interrupted<'a> {
    data: Vec<u8>,
    emulator: Vec<&'a str>,
    acked: Option<usize>,
    /// For a concurrent session: kill once the journal shows this many pieces acknowledged.
    pieces: Option<usize>,
    /// Flags of the killed post.
    first: &'a [&'a str],
    rerun: &'a [&'a str],
    /// What the re-run, with `-v`, must say.
    says: Option<&'a str>,
}

impl<'a> Interrupted<'a> {
    fn new(data: Vec<u8>, stall: &'a str, acked: Option<usize>) -> Self {
        let emulator = vec!["-v", "--stall", stall];
        Interrupted {
            data,
            emulator,
            acked,
            pieces: None,
            first: &[],
            rerun: &[],
            says: None,
        }
    }

    /// A file big enough for a concurrent session, killed while the emulator holds the
    /// `stall`ed append, once `pieces` others are journalled as acknowledged.
    fn concurrent(data: Vec<u8>, stall: &'a str, pieces: usize) -> Self {
        Interrupted {
            pieces: Some(pieces),
            ..Interrupted::new(data, stall, None)
        }
    }

    /// Kills, calls `between`, posts again: the summary of the second post, and the study.
    /// The file must land whole and alone, and the emulator must have received what the
    /// summary says was sent.
    fn run<'e>(
        self,
        env: &'e TestEnv,
        between: impl FnOnce(&Study, &mut Emulator),
    ) -> (Value, Study<'e>) {
        let mut emu = Emulator::start(&self.emulator);
        let study = env.study();
        study.write(BIG, &self.data);
        let ready = || {
            let sending = |s: Value| {
                let pieces = s["pieces"].as_array().map(Vec::len);
                self.acked
                    .is_some_and(|a| s["acked"] == a && s["sending"].is_array())
                    || self.pieces.is_some_and(|n| pieces == Some(n))
            };
            let marked = self.acked.is_some() || self.pieces.is_some();
            emu.log().contains("stalling this")
                && (!marked || journalled(&study).is_some_and(sending))
        };
        kill_when(argv(&study, &emu.url, "file", BIG, self.first), ready);
        assert!(!emu.file("/dest/big.bin").exists(), "nothing committed yet");
        between(&study, &mut emu);
        let before = content_in(&emu);
        let verbose = self.says.map(|_| "-v");
        let rerun = [self.rerun, verbose.as_slice()].concat();
        let (json, out) = summary(argv(&study, &emu.url, "file", BIG, &rerun));
        assert_success(&out);
        if let Some(said) = self.says {
            assert!(stderr(&out).contains(said), "{}", stderr(&out));
        }
        let sent = content_in(&emu) - before;
        assert_eq!(sent, json["totals"]["bytes"].as_u64().unwrap(), "{json}");
        let landed = std::fs::read(emu.file("/dest/big.bin")).unwrap();
        assert!(landed == std::fs::read(study.path(BIG)).unwrap());
        assert_eq!(remote(&emu, "/dest"), ["big.bin"]);
        (json, study)
    }

    /// [`Interrupted::run`] in an env of its own, checking that the committed upload left
    /// the journal.
    fn resumed(self, between: impl FnOnce(&Study, &mut Emulator)) -> Value {
        let env = TestEnv::new();
        let (json, study) = self.run(&env, between);
        assert_eq!(journalled(&study), None, "a committed upload is forgotten");
        json
    }
}

/// The file bytes the emulator has received in upload sessions.
fn content_in(emu: &Emulator) -> u64 {
    emu.bytes_in("/2/files/upload_session/start") + emu.bytes_in("/2/files/upload_session/append")
}

/// Spawns `post` and SIGKILLs it once `ready` holds.
fn kill_when(mut post: Command, ready: impl Fn() -> bool) {
    let mut child = post
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
    // Under 4 chunks: a sequential session.
    let json = Interrupted::new(pattern(15 * MIB, 2), stall, Some(12 * MIB)).resumed(|_, _| {});
    assert_eq!(totals(&json), (1, 1, 12 * MIB as u64));
    assert_eq!(json["totals"]["bytes"], 3 * MIB);
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
    let interrupted = Interrupted::new(pattern(13 * MIB + 3, 4), SECOND_APPEND, Some(8 * MIB));
    let json = interrupted.resumed(|_, emu| {
        emu.kill();
        emu.start_again(&["-v"]);
    });
    assert_eq!(totals(&json), (1, 1, 8 * MIB as u64));
}

#[test]
fn a_changed_file_starts_a_fresh_session() {
    let interrupted = Interrupted::new(pattern(13 * MIB, 5), SECOND_APPEND, Some(8 * MIB));
    // Same size, other bytes: another version of the file.
    let json = interrupted.resumed(|study, _| {
        std::thread::sleep(Duration::from_millis(20));
        study.write(BIG, pattern(13 * MIB, 6));
    });
    assert_eq!(totals(&json), (1, 0, 0));
    assert_eq!(json["totals"]["bytes"], 13 * MIB);
}

#[test]
fn bytes_that_are_not_the_files_own_start_a_fresh_session() {
    // The journal's hash of the prefix was altered: the entry no longer verifies (a prefix
    // that hashes otherwise under a genuine entry is refused too: engine's unit tests).
    let interrupted = Interrupted::new(pattern(13 * MIB, 7), SECOND_APPEND, Some(8 * MIB));
    let json = interrupted.resumed(|study, _| {
        let text = std::fs::read_to_string(journal(study)).unwrap();
        let saved = journalled(study).unwrap();
        let hash = saved["acked_hash"].as_str().unwrap();
        std::fs::write(journal(study), text.replace(hash, &"0".repeat(64))).unwrap();
    });
    assert_eq!(totals(&json), (1, 0, 0));
}

/// 40 MiB in 4 MiB pieces: nine, then the closing one. The fifth append is held; the
/// other eight are acknowledged and journalled when the post is killed.
const CONCURRENT: usize = 40 * MIB;
const FIFTH_APPEND: &str = "files/upload_session/append_v2:5";

/// The re-run sends only the held piece and the closing one: 8 MiB of 40.
#[test]
fn a_killed_concurrent_upload_sends_only_the_pieces_dropbox_lacks() {
    let interrupted = Interrupted::concurrent(pattern(CONCURRENT, 14), FIFTH_APPEND, 8);
    let json = interrupted.resumed(|_, _| {});
    assert_eq!(totals(&json), (1, 1, 32 * MIB as u64));
    assert_eq!(json["totals"]["bytes"], 8 * MIB);
}

#[test]
fn a_concurrent_session_survives_an_emulator_restart() {
    // Ten whole pieces, the fifth held, then the 5-byte closing one.
    let interrupted = Interrupted::concurrent(pattern(CONCURRENT + 5, 15), FIFTH_APPEND, 9);
    let json = interrupted.resumed(|_, emu| {
        emu.kill();
        emu.start_again(&["-v"]);
    });
    assert_eq!(totals(&json), (1, 1, 36 * MIB as u64));
    assert_eq!(json["totals"]["bytes"], 4 * MIB + 5);
}

/// Another version of the file, of the same size: the pieces Dropbox holds are not its
/// own, and it goes up whole, in a new session.
#[test]
fn a_changed_file_starts_a_fresh_concurrent_session() {
    let interrupted = Interrupted::concurrent(pattern(CONCURRENT, 16), FIFTH_APPEND, 8);
    let json = interrupted.resumed(|study, _| {
        std::thread::sleep(Duration::from_millis(20));
        study.write(BIG, pattern(CONCURRENT, 17));
    });
    assert_eq!(totals(&json), (1, 0, 0));
    assert_eq!(json["totals"]["bytes"], CONCURRENT);
}

/// A journal that claims a piece Dropbox never got (forged, or written by hand): the entry
/// does not verify, and nothing mixed is committed.
#[test]
fn a_forged_concurrent_entry_starts_a_fresh_session() {
    let mut interrupted = Interrupted::concurrent(pattern(CONCURRENT, 18), FIFTH_APPEND, 8);
    interrupted.says = Some(NOT_OURS);
    let json = interrupted.resumed(|study, _| {
        forge(study, |saved| {
            let pieces = saved["pieces"].as_array_mut().unwrap();
            let mut claimed = pieces[0].clone();
            claimed["offset"] = (16 * MIB).into();
            pieces.push(claimed);
        });
    });
    assert_eq!(totals(&json), (1, 0, 0));
}

/// Dropbox forgot the session (expired): the first piece sent says so, and the file goes
/// up afresh.
#[test]
fn an_expired_concurrent_session_starts_a_fresh_one() {
    let mut interrupted = Interrupted::concurrent(pattern(CONCURRENT, 19), FIFTH_APPEND, 8);
    interrupted.emulator.push("--test-clock");
    let week = dropbox_emulator::DEFAULT_SESSION_LIFETIME.as_secs();
    let json = interrupted.resumed(|_, emu| block_on(emu.advance_clock(week + 1)));
    assert_eq!(totals(&json), (1, 0, 0));
    assert_eq!(json["totals"]["bytes"], CONCURRENT);
}

/// A re-run with another `--chunk-size` lays the file out in other pieces: those Dropbox
/// holds from the killed run (12 MiB at 12, 24 and 36 MiB) overlap the new ones, so the
/// session cannot be finished, and it goes up afresh.
#[test]
fn a_concurrent_session_is_not_continued_with_another_chunk_size() {
    // 64 MiB: pieces of 12 MiB at 0, 12, 24, 36 and 48, the first one held.
    let mut interrupted = Interrupted::concurrent(pattern(64 * MIB, 20), FIRST_APPEND, 4);
    interrupted.first = &["--chunk-size", "12"];
    // Pieces of 16 MiB at 0, 16 and 32; the one at 48 is 12 MiB as before.
    interrupted.rerun = &["--chunk-size", "16"];
    let json = interrupted.resumed(|_, _| {});
    assert_eq!(totals(&json), (1, 0, 0));
    assert_eq!(json["totals"]["bytes"], 64 * MIB);
}

/// Dropbox lost a piece it had acknowledged (here dropped by an empty append at its
/// offset): the session cannot be finished. The run that finds it out fails; the next one
/// must not continue that session again, but send the file afresh.
#[test]
fn a_session_that_cannot_be_finished_is_not_continued_again() {
    let env = TestEnv::new();
    let emu = Emulator::start(&["-v", "--stall", FIFTH_APPEND]);
    let study = env.study();
    let data = pattern(CONCURRENT, 21);
    study.write(BIG, &data);
    let acked =
        || journalled(&study).is_some_and(|s| s["pieces"].as_array().map(Vec::len) == Some(8));
    kill_when(argv(&study, &emu.url, "file", BIG, &[]), || {
        emu.log().contains("stalling this") && acked()
    });
    let id = journalled(&study).unwrap()["session_id"].clone();
    let cursor = serde_json::json!({"cursor": {"session_id": id, "offset": 0}});
    let (status, _) = block_on(emu.upload_to("files/upload_session/append_v2", cursor, vec![]));
    assert!(status.is_success());
    let (_, out) = summary(argv(&study, &emu.url, "file", BIG, &[]));
    assert!(
        stderr(&out).contains("concurrent_session_missing_data"),
        "{}",
        stderr(&out)
    );
    let (json, out) = summary(argv(&study, &emu.url, "file", BIG, &[]));
    assert_success(&out);
    assert_eq!(totals(&json), (1, 0, 0));
    assert!(std::fs::read(emu.file("/dest/big.bin")).unwrap() == data);
    assert_eq!(journalled(&study), None);
}

/// Rewrites the last journalled state of [`BIG`] as `edit` says, as anyone who may write
/// the cache folder could.
fn forge(study: &Study, edit: impl FnOnce(&mut Value)) {
    let text = std::fs::read_to_string(journal(study)).unwrap();
    let mut lines: Vec<Value> = (text.lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    edit(&mut lines.last_mut().unwrap()["n"]);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(journal(study), text).unwrap();
}

/// What `-v` says of a journal entry that does not verify.
const NOT_OURS: &str = "big.bin: its entry in the upload journal";

/// Issue 21 finding 12: the file changes, and its entry's stamp and `acked_hash` are
/// rewritten to match the new file. Dropbox holds the old file's first 8 MiB: continuing
/// would commit mixed bytes over the good file. The forged entry is not the credential's.
#[cfg(unix)]
#[test]
fn a_forged_journal_entry_starts_a_fresh_session() {
    let mut interrupted = Interrupted::new(pattern(13 * MIB, 11), SECOND_APPEND, Some(8 * MIB));
    interrupted.says = Some(NOT_OURS);
    let json = interrupted.resumed(|study, _| {
        std::thread::sleep(Duration::from_millis(20));
        let changed = pattern(13 * MIB, 12);
        study.write(BIG, &changed);
        forge(study, |saved| {
            saved["stamp"] = crate::harness::stamp(&study.path(BIG));
            saved["acked_hash"] = hash(&changed[..8 * MIB]).into();
        });
    });
    assert_eq!(totals(&json), (1, 0, 0));
}

/// An entry journalled under one credential is not continued under another (a study's key
/// sealed again with another account's token, a journal copied from elsewhere).
#[test]
fn a_journal_entry_of_another_credential_starts_a_fresh_session() {
    let mut interrupted = Interrupted::new(pattern(9 * MIB, 13), FIRST_APPEND, Some(4 * MIB));
    interrupted.emulator.extend(["--token", "another-token"]);
    interrupted.says = Some(NOT_OURS);
    let json = interrupted.resumed(|study, _| {
        let key = study.path("keys/dropbox.enc");
        std::fs::remove_file(&key).unwrap();
        study
            .env()
            .seal("another-token", key.to_str().unwrap(), PASSWORD);
    });
    assert_eq!(totals(&json), (1, 0, 0));
}

/// Dropbox's sessions live 7 days; the emulator's clock passes them at once.
#[test]
fn an_expired_session_starts_a_fresh_one() {
    let mut interrupted = Interrupted::new(pattern(13 * MIB, 8), SECOND_APPEND, Some(8 * MIB));
    interrupted.emulator.push("--test-clock");
    let week = dropbox_emulator::DEFAULT_SESSION_LIFETIME.as_secs();
    let json = interrupted.resumed(|_, emu| block_on(emu.advance_clock(week + 1)));
    assert_eq!(totals(&json), (1, 0, 0));
}

#[test]
fn no_resume_starts_afresh_and_journals_nothing() {
    let mut interrupted = Interrupted::new(pattern(9 * MIB, 9), FIRST_APPEND, Some(4 * MIB));
    interrupted.rerun = &["--no-resume"];
    let env = TestEnv::new();
    let (json, study) = interrupted.run(&env, |_, _| {});
    assert_eq!(totals(&json), (1, 0, 0));
    // The earlier run's entry is left for a run that resumes; --no-resume added nothing.
    assert_eq!(journalled(&study).unwrap()["acked"], 4 * MIB);
}

/// The excluded entries of the first script: path relative to `root`, and rule.
fn excluded(json: &Value, root: &Path) -> Vec<(String, String)> {
    let entries = json["scripts"][0]["excluded"].as_array().unwrap();
    let mut out: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            let path = Path::new(e["path"].as_str().unwrap())
                .strip_prefix(root)
                .unwrap();
            (
                path.to_string_lossy().into_owned(),
                e["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A study holding `files` (path, bytes).
fn study_with<'e>(env: &'e TestEnv, files: &[(&str, &[u8])]) -> Study<'e> {
    let study = env.study();
    for (path, bytes) in files {
        study.write(path, bytes);
    }
    study
}

/// A study tree with something for each filter source: `post/` to `/dest`, the config
/// excluding `*.ckpt` (line 10) and `*.lnk` (line 11).
fn filtered_study(env: &TestEnv) -> Study<'_> {
    let study = study_with(
        env,
        &[
            ("post/results.csv", b"r"),
            ("post/notes.txt", b"n"),
            ("post/secret.csv", b"s"),
            ("post/run/model.ckpt", b"c"),
            ("post/run/metrics.csv", b"m"),
            ("post/scratch/big.bin", &pattern(1000, 1)),
            ("post/logs/x.tmp", b"t"),
            (
                "post/.dropboxignore",
                b"# leave these out\nscratch/\n*.TMP\n",
            ),
        ],
    );
    #[cfg(unix)]
    std::os::unix::fs::symlink(study.path("nowhere"), study.path("post/broken.lnk")).unwrap();
    study.config_with(
        ("folder", "post", "/dest"),
        &[("exclude", "*.ckpt"), ("exclude", "*.lnk")],
    );
    study
}

#[test]
fn filters_from_flags_config_and_ignore_file_add_up() {
    let env = TestEnv::new();
    let (study, emu) = (filtered_study(&env), env.emulator());
    let (json, out) = post_config(&study, &emu.url, &["--exclude", "secret*"]);
    assert_success(&out);
    // logs/ holds only what is left out: not created.
    let posted = [
        ".dropboxignore",
        "notes.txt",
        "results.csv",
        "run/",
        "run/metrics.csv",
    ];
    assert_eq!(remote(emu, "/dest"), posted);
    let mut want = vec![
        ("logs/x.tmp", ".dropboxignore line 3: *.TMP"),
        (
            "run/model.ckpt",
            r#"exclude "*.ckpt" (conf/config.xml line 10)"#,
        ),
        ("scratch", ".dropboxignore line 2: scratch/"),
        ("secret.csv", r#"exclude "secret*" (--exclude)"#),
    ];
    // A dangling link would be a failure ("cannot read"), were it not left out.
    if cfg!(unix) {
        want.push(("broken.lnk", r#"exclude "*.lnk" (conf/config.xml line 11)"#));
    }
    want.sort();
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(p, r)| (p.to_string(), r.to_string()))
        .collect();
    assert_eq!(excluded(&json, &study.path("post")), want);
    assert_eq!(json["totals"]["excluded_count"], want.len());
    assert_eq!(json["totals"]["failed"], 0);

    // Includes keep only what they match; excludes still win; folders left empty by the
    // filters are not created.
    let emu = Emulator::start(&[]);
    let (json, out) = post_config(
        &study,
        &emu.url,
        &["--include", "*.csv", "--exclude", "secret*"],
    );
    assert_success(&out);
    assert_eq!(
        remote(&emu, "/dest"),
        ["results.csv", "run/", "run/metrics.csv"]
    );
    let rules = excluded(&json, &study.path("post"));
    let rule = |p: &str| rules.iter().find(|(r, _)| r == p).unwrap().1.clone();
    assert_eq!(rule("notes.txt"), "no include pattern matches this file");
    assert!(rule("secret.csv").contains("--exclude"));
    assert!(rule("scratch").contains(".dropboxignore"));
}

#[test]
fn dry_run_shows_what_is_excluded_and_why() {
    let env = TestEnv::new();
    let (study, emu) = (filtered_study(&env), env.emulator());
    let extra = ["--dry-run", "--exclude=*.txt", "--exclude=*.lnk"];
    let out = guarded(argv(&study, &emu.url, "folder", "post", &extra))
        .output()
        .unwrap();
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains(r#"notes.txt (exclude "*.txt" (--exclude))"#),
        "{text}"
    );
    assert!(
        text.contains("scratch (.dropboxignore line 2: scratch/)"),
        "{text}"
    );
    assert!(text.contains("would upload"), "{text}");
    assert!(stderr(&out).contains(" excluded, "), "{}", stderr(&out));
    assert_eq!(remote(emu, "/"), Vec::<String>::new());
}

#[test]
fn bad_patterns_are_refused_before_anything_is_sent() {
    let env = TestEnv::new();
    let (study, emu) = (filtered_study(&env), env.emulator());
    let refused = |extra: &[&str], code: i32| {
        let out = guarded(argv(&study, &emu.url, "folder", "post", extra))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        stderr(&out)
    };
    refused(&["--exclude", "!x"], 2);
    study.write("post/.dropboxignore", b"ok\n{unclosed\n");
    let text = refused(&[], 3);
    assert!(text.contains(".dropboxignore line 2"), "{text}");
    assert_eq!(remote(emu, "/"), Vec::<String>::new());
}

/// `/dest` once [`with_extras`]'s study has mirrored it (with `*.ckpt` left out).
const MIRRORED: [&str; 5] = [
    "added.csv",
    "keep.csv",
    "mixed/",
    "mixed/new.txt",
    "model.ckpt",
];

/// Puts extra files under /dest (and next to it) as an earlier post would have; the study
/// that follows it.
fn with_extras<'e>(env: &'e TestEnv) -> Study<'e> {
    let url = &env.emulator().url;
    let earlier = study_with(
        env,
        &[
            ("post/keep.csv", b"old keep"),
            ("post/stale.csv", b"stale"),
            ("post/Gone/deep/x.txt", b"x"),
            ("post/mixed/stale.txt", b"y"),
            ("post/model.ckpt", b"checkpoint"),
        ],
    );
    std::fs::create_dir_all(earlier.path("post/empty-remote")).unwrap();
    assert_success(&summary(argv(&earlier, url, "folder", "post", &[])).1);
    // Outside /dest: a sibling whose name starts the same.
    let other = [
        "--option=file",
        "--encrypted_key=keys/dropbox.enc",
        "--path=post/stale.csv",
        "--dest=/dest-other",
    ];
    assert_success(&guarded(post(&earlier, url, &other)).output().unwrap());
    study_with(
        env,
        &[
            ("post/keep.csv", b"new keep"),
            ("post/mixed/new.txt", b"z"),
            ("post/added.csv", b"a"),
        ],
    )
}

/// The mirror's deletions the summary lists.
fn deleted(json: &Value) -> Vec<&str> {
    let deleted = json["scripts"][0]["mirror"]["deleted"].as_array().unwrap();
    deleted
        .iter()
        .map(|d| d["remote"].as_str().unwrap())
        .collect()
}

#[test]
fn delete_mirrors_dest_and_nothing_else() {
    let env = TestEnv::new();
    let (study, emu) = (with_extras(&env), env.emulator());
    let mirror = |flags: &[&str]| summary(argv(&study, &emu.url, "folder", "post", flags));
    // A dry run lists every deletion and deletes nothing.
    let before = remote(emu, "/");
    let (json, out) = mirror(&["--delete", "--exclude=*.ckpt", "--dry-run"]);
    assert_success(&out);
    let gone = [
        "/dest/empty-remote",
        "/dest/Gone",
        "/dest/Gone/deep",
        "/dest/Gone/deep/x.txt",
        "/dest/mixed/stale.txt",
        "/dest/stale.csv",
    ];
    assert_eq!(deleted(&json), gone);
    assert_eq!(remote(emu, "/"), before);

    let (json, out) = mirror(&["--delete", "--exclude=*.ckpt"]);
    assert_success(&out);
    assert_eq!(json["totals"]["deleted"], 6);
    assert_eq!(json["scripts"][0]["mirror"]["refused"], Value::Null);
    assert_eq!(remote(emu, "/dest"), MIRRORED);
    assert_eq!(
        std::fs::read(emu.file("/dest/keep.csv")).unwrap(),
        b"new keep"
    );
    assert_eq!(remote(emu, "/dest-other"), ["stale.csv"]);
    // Mirrored: nothing more to do.
    let (json, out) = mirror(&["--delete=true", "--exclude=*.ckpt"]);
    assert_success(&out);
    assert_eq!(
        (
            json["totals"]["deleted"].as_u64(),
            json["totals"]["uploaded"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

#[test]
fn delete_is_refused_after_a_failure() {
    let env = TestEnv::new();
    let (study, emu) = (with_extras(&env), env.emulator());
    // In add mode the changed keep.csv conflicts with Dropbox's: one failure.
    let add = ["--delete", "--mode", "add"];
    let (json, out) = summary(argv(&study, &emu.url, "folder", "post", &add));
    assert_eq!(out.status.code(), Some(6));
    let refused = json["scripts"][0]["mirror"]["refused"].as_str().unwrap();
    assert!(
        refused.contains("1 file(s) of this run failed"),
        "{refused}"
    );
    assert_eq!(json["totals"]["deleted"], 0);
    assert!(emu.file("/dest/stale.csv").exists());
    assert!(emu.file("/dest/Gone/deep/x.txt").exists());
    let out = guarded(argv(&study, &emu.url, "folder", "post", &add))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6));
    assert!(
        stderr(&out).contains("mirror: nothing deleted: 1 file(s)"),
        "{}",
        stderr(&out)
    );
    assert!(emu.file("/dest/stale.csv").exists());
}

#[test]
fn the_librec_auto_form_takes_filter_and_mirror_params_as_flags() {
    // librec-auto passes each <param> as --NAME=VALUE, through bin/dropbox_post.py.
    let env = TestEnv::new();
    let (study, emu) = (with_extras(&env), env.emulator());
    study.write("post/model.ckpt", b"local checkpoint");
    let params = [
        "config.xml",
        "--option=folder",
        "--encrypted_key=keys/dropbox.enc",
        "--path=post",
        "--dest=/dest",
    ];
    let flags = [
        "--exclude=*.ckpt",
        "--include=*",
        "--delete=true",
        "--share=false",
    ];
    let out = env
        .shim("dropbox_post.py")
        .args(params)
        .args(flags)
        .arg(format!("--password={PASSWORD}"))
        .current_dir(study.path(""))
        .env("DROPBOX_POST_ENDPOINT", &emu.url)
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(remote(emu, "/dest"), MIRRORED);
    assert_eq!(
        std::fs::read(emu.file("/dest/model.ckpt")).unwrap(),
        b"checkpoint"
    );
}

#[test]
fn bwlimit_is_a_rate_and_the_upload_lands() {
    let env = TestEnv::new();
    let (study, emu) = (
        study_with(&env, &[(BIG, &pattern(3 * MIB, 10))]),
        env.emulator(),
    );
    let (json, out) = summary(argv(&study, &emu.url, "file", BIG, &["--bwlimit", "64M"]));
    assert_success(&out);
    assert_eq!(json["totals"]["uploaded"], 1);
    assert!(std::fs::read(emu.file("/dest/big.bin")).unwrap() == pattern(3 * MIB, 10));
    for bad in ["fast", "10X", "-1M"] {
        let arg = format!("--bwlimit={bad}");
        let out = guarded(argv(&study, &emu.url, "file", BIG, &[&arg]))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains("not a rate"), "{}", stderr(&out));
    }
}
