//! `dropbox-post post` against a real emulator process.

use dropbox_post_core::upload::hash_cache::TEST_CLOCK_ENV;

use crate::harness::{
    CmdExt, PASSWORD, TestEnv, assert_same_files, assert_success, block_on, files, hash, json_of,
    pattern, stderr,
};

#[test]
fn a_file_lands_under_dest_and_a_rerun_skips_it() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    let data = pattern(100_000, 1);
    study.write("post/r.csv", &data);
    study.config(&[("file", "post/r.csv", "/results/run 1")]);

    let json = study.post_json(&[]);
    assert_eq!(json["ok"], true);
    assert_eq!(json["dry_run"], false);
    assert_eq!(json["totals"]["uploaded"], 1);
    assert_eq!(json["totals"]["skipped"], 0);
    assert_eq!(json["totals"]["bytes"], 100_000);
    let script = &json["scripts"][0];
    assert_eq!(script["script"], 1);
    assert_eq!(script["kind"], "file");
    assert_eq!(script["dest"], "/results/run 1");
    assert_eq!(script["failures"], serde_json::json!([]));
    assert!(script["seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        std::fs::read(emu.file("/results/run 1/r.csv")).unwrap(),
        data
    );

    let json = study.post_json(&[]);
    assert_eq!(json["totals"]["uploaded"], 0);
    assert_eq!(json["totals"]["skipped"], 1);
    assert_eq!(json["totals"]["bytes"], 0);
}

#[test]
fn a_folder_lands_recursively_with_many_small_files() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    for i in 0..1000 {
        study.write(
            &format!("out/many/f{:04}.txt", i),
            pattern(10 + i * 7, i as u64),
        );
    }
    study.write("out/a/b/c/deep.bin", pattern(5 * 1024 * 1024 + 3, 99));
    study.write("out/.hidden", b"hidden");
    study.write("out/empty.txt", b"");
    study.write("out/ünïcødé 😀.txt", b"names");
    std::fs::create_dir_all(study.path("out/no files/here")).unwrap();
    study.config(&[("folder", "out", "/Study")]);

    let out = study.post(&["--jobs", "16"]).output().unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1004 uploaded, 0 unchanged, 0 failed, 1 folders"),
        "{stderr}"
    );
    assert_same_files(&study.path("out"), &emu.file("/Study"));
    assert!(emu.file("/Study/no files/here").is_dir());

    let json = study.post_json(&[]);
    assert_eq!(json["totals"]["uploaded"], 0);
    assert_eq!(json["totals"]["skipped"], 1004);
    assert_eq!(json["totals"]["folders_created"], 0);
}

#[test]
fn remembered_hashes_skip_reading_but_never_hide_a_change() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    study.write("out/keep.bin", pattern(50_000, 1));
    let edit = study.write("out/edit.bin", pattern(50_000, 2));
    study.config(&[("folder", "out", "/C")]);
    // Only files changed over 2 s before a run are remembered (a later write in the same
    // timestamp tick would not show): the cache's clock runs 3 s ahead.
    let out = study
        .post(&["--json"])
        .env(TEST_CLOCK_ENV, "3")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(json_of(&out)["totals"]["uploaded"], 2);
    let saved: Vec<_> = std::fs::read_dir(env.cache().join("hashes"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(saved.len(), 1);
    assert!(
        saved[0].contains("keep.bin") && saved[0].contains("edit.bin"),
        "{saved:?}"
    );

    // New bytes of the same size under the old mtime: only the ctime tells.
    let mtime = std::fs::metadata(&edit).unwrap().modified().unwrap();
    std::fs::write(&edit, pattern(50_000, 3)).unwrap();
    let f = std::fs::File::options().write(true).open(&edit).unwrap();
    f.set_modified(mtime).unwrap();
    let json = study.post_json(&[]);
    assert_eq!(json["totals"]["uploaded"], 1);
    assert_eq!(json["totals"]["skipped"], 1);
    assert_same_files(&study.path("out"), &emu.file("/C"));

    let json = study.post_json(&["--no-hash-cache"]);
    assert_eq!(json["totals"]["skipped"], 2);

    // Issue 21 review: a cache entry rewritten to fit the file as it is now, with the hash
    // Dropbox holds, would make new bytes look unchanged. It is not the credential's.
    #[cfg(unix)]
    {
        let cached = std::fs::read_dir(env.cache().join("hashes")).unwrap();
        let cached = cached.map(|e| e.unwrap().path()).next().unwrap();
        let mut saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cached).unwrap()).unwrap();
        let held = hash(&pattern(50_000, 3));
        std::fs::write(&edit, pattern(50_000, 4)).unwrap();
        let mut forged = saved["files"]["keep.bin"].clone();
        forged["stamp"] = crate::harness::stamp(&edit);
        forged["hash"] = held.into();
        saved["files"]["edit.bin"] = forged;
        std::fs::write(&cached, saved.to_string()).unwrap();
        let json = study.post_json(&[]);
        assert_eq!(json["totals"]["uploaded"], 1);
        assert_same_files(&study.path("out"), &emu.file("/C"));
    }
}

#[test]
fn a_large_file_goes_through_chunked_sessions() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    // 300 MiB: distinct 1 MiB blocks so a misplaced chunk changes the bytes.
    let block = pattern(1024 * 1024, 7);
    let path = study.path("big/model.bin");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0u32..300 {
            f.write_all(&i.to_le_bytes()).unwrap();
            f.write_all(&block[4..]).unwrap();
        }
    }
    study.config(&[("file", "big/model.bin", "/big")]);
    let json = study.post_json(&[]);
    assert_eq!(json["totals"]["bytes"], 300 * 1024 * 1024);
    let landed = emu.file("/big/model.bin");
    assert_eq!(std::fs::metadata(&landed).unwrap().len(), 300 * 1024 * 1024);
    assert!(std::fs::read(&landed).unwrap() == std::fs::read(&path).unwrap());
}

#[test]
fn faults_are_retried_and_every_file_lands_once() {
    let env = TestEnv::with_emulator(&[
        "--seed",
        "11",
        "--latency-ms",
        "5",
        "--error-rate",
        "0.1",
        "--rate-limit-rate",
        "0.05",
        "--cut-rate",
        "0.02",
    ]);
    let study = env.study();
    let emu = env.emulator();
    for i in 0..150 {
        study.write(
            &format!("out/d{}/f{i}.dat", i % 7),
            pattern(100 + i * 31, i as u64),
        );
    }
    study.write("out/big.dat", pattern(21 * 1024 * 1024 + 17, 5));
    study.config(&[("folder", "out", "/faulty")]);
    let json = study.post_json(&["--chunk-size", "4"]);
    assert_eq!(json["totals"]["uploaded"], 151);
    // Same names, same bytes, and nothing else (no "name (1).dat" copies).
    assert_same_files(&study.path("out"), &emu.file("/faulty"));

    // A forced re-run through the same faults overwrites in place.
    study.post_json(&["--chunk-size", "4", "--force"]);
    assert_same_files(&study.path("out"), &emu.file("/faulty"));

    // In add mode a retried commit must not leave "f (1).dat" copies either.
    study.config(&[("folder", "out", "/faulty-add")]);
    let add = study
        .post(&["--chunk-size", "4", "--mode", "add"])
        .output()
        .unwrap();
    assert_success(&add);
    assert_same_files(&study.path("out"), &emu.file("/faulty-add"));
}

#[test]
fn update_mode_replaces_the_listed_revision() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    study.write("out/a.txt", b"first");
    study.write("out/b.txt", b"stays");
    study.config(&[("folder", "out", "/u")]);
    study.post(&["--mode", "update"]).assert().success();
    study.write("out/a.txt", b"second version");
    let json = study.post_json(&["--mode", "update"]);
    assert_eq!(json["totals"]["uploaded"], 1);
    assert_eq!(json["totals"]["skipped"], 1);
    assert_eq!(
        std::fs::read(emu.file("/u/a.txt")).unwrap(),
        b"second version"
    );
    assert_eq!(files(&emu.file("/u")), vec!["a.txt", "b.txt"]);
}

#[test]
fn a_folder_in_the_way_of_a_file_is_a_listed_failure() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("x/r.csv/inner.txt", b"a folder named like the file");
    study.config(&[("folder", "x", "/w")]);
    study.post(&[]).assert().success();
    study.write("r.csv", b"1,2");
    study.config(&[("file", "r.csv", "/w")]);
    let out = study.post(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FAILED") && stderr.contains("/w/r.csv"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a folder is already at /w/r.csv"),
        "{stderr}"
    );
}

#[test]
fn dry_run_writes_nothing_and_shows_the_plan() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    study.write("out/a.txt", b"a");
    study.write("out/b.txt", b"b");
    std::fs::create_dir_all(study.path("out/empty")).unwrap();
    study.config(&[("folder", "out", "/dry")]);

    let json = study.post_json(&["--dry-run"]);
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["totals"]["uploaded"], 2);
    let plan = json["scripts"][0]["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 3);
    assert!(
        plan.iter()
            .any(|e| e["action"] == "would_create_folder" && e["remote"] == "/dry/empty")
    );
    assert!(files(&emu.file("/")).is_empty());
    assert!(!emu.file("/dry").exists());

    // After a real post, a dry run sees exactly the one changed file.
    study.post(&[]).assert().success();
    study.write("out/b.txt", b"changed");
    let out = study.post(&["--dry-run"]).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("would upload"), "{stdout}");
    assert!(stdout.contains("b.txt -> /dry/b.txt"), "{stdout}");
    assert!(stdout.contains("unchanged"), "{stdout}");
    assert_eq!(std::fs::read(emu.file("/dry/b.txt")).unwrap(), b"b");
}

#[test]
fn partial_failures_list_each_file_and_exit_6() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    study.write("out/ok.txt", b"fine");
    study.write("out/taken.txt", b"ours");
    study.config(&[("folder", "out", "/p")]);
    // Someone else's different file is already at /p/taken.txt.
    let other = env.study();
    other.write("x/taken.txt", b"theirs!");
    other.config(&[("folder", "x", "/p")]);
    other.post(&[]).assert().success();
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let bad = std::ffi::OsStr::from_bytes(b"bad\xff.txt");
        std::fs::write(study.path("out").join(bad), b"x").unwrap();
    }

    let out = study.post(&["--mode", "add", "--json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = json_of(&out);
    assert_eq!(json["ok"], false);
    assert_eq!(json["totals"]["uploaded"], 1);
    let failures = json["scripts"][0]["failures"].as_array().unwrap();
    let taken = failures
        .iter()
        .find(|f| f["remote"] == "/p/taken.txt")
        .expect("the conflict is listed");
    assert!(
        (taken["reason"].as_str().unwrap()).contains(
            "a different file is already at /p/taken.txt in Dropbox; post with --mode overwrite"
        ),
        "{taken}"
    );
    #[cfg(target_os = "linux")]
    assert!(
        failures
            .iter()
            .any(|f| f["reason"].as_str().unwrap().contains("UTF-8"))
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FAILED") && stderr.contains("taken.txt"),
        "{stderr}"
    );
    assert!(
        stderr.contains("exit") || stderr.contains("failed"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(emu.file("/p/taken.txt")).unwrap(), b"theirs!");
    assert_eq!(std::fs::read(emu.file("/p/ok.txt")).unwrap(), b"fine");
    assert_eq!(files(&emu.file("/p")), vec!["ok.txt", "taken.txt"]);
}

#[test]
fn the_librec_auto_argv_form_posts_one_script() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    study.write("post/r.csv", b"1,2,3\n");
    study.config(&[("file", "post/r.csv", "/ignored")]);
    // librec-auto's argv: the config positional, one script's params as flags.
    let argv = |option: &str, rest: &[&str]| {
        let mut cmd = study.cmd();
        cmd.args(["post", "conf/config.xml", option])
            .args(rest)
            .endpoint_env(emu);
        cmd
    };
    let script = ["--encrypted_key=keys/dropbox.enc", "--path=post/r.csv"];
    argv("--option=file", &script)
        .args(["--dest=/argv", &format!("--password={PASSWORD}")])
        .assert()
        .success();
    assert_eq!(std::fs::read(emu.file("/argv/r.csv")).unwrap(), b"1,2,3\n");
    assert!(!emu.file("/ignored").exists());

    argv("--option=no", &script)
        .arg("--dest=/never")
        .assert()
        .success();
    assert!(!emu.file("/never").exists());

    // librec-auto drops params whose text is empty: `No` may come alone.
    argv("--option=No", &[]).assert().success();

    // Issue 21 red team: librec-auto passes every param as a flag, so a config's
    // `endpoint` would send the token elsewhere and its `target` move the study boundary.
    let script = [&script[..], &["--dest=/argv"]].concat();
    for flag in [
        "--endpoint=http://127.0.0.1:9".to_string(),
        "--target=/".into(),
    ] {
        argv("--option=file", &script)
            .arg(&flag)
            .password(PASSWORD)
            .assert()
            .code(2)
            .stderr(predicates::str::contains("a config may not set this"));
    }

    // Without `No`, the missing params are a config error naming the param.
    argv("--option=file", &[])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("dest"));
    assert!(!emu.file("/never").exists());
}

#[test]
fn a_refused_token_exits_5_with_a_remedy() {
    let env = TestEnv::new();
    let study = env.study_sealing("not-a-token-the-emulator-knows");
    let emu = env.emulator();
    study.write("post/r.csv", b"x");
    study.config(&[("file", "post/r.csv", "/x")]);
    let out = study.post(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dropbox-post encrypt"), "{stderr}");
    assert!(
        !stderr.contains("not-a-token-the-emulator-knows"),
        "{stderr}"
    );
    assert!(files(&emu.file("/")).is_empty());
}

#[test]
fn a_wrong_password_exits_4_before_anything_is_sent() {
    let env = TestEnv::new();
    let study = env.study();
    let emu = env.emulator();
    study.write("post/r.csv", b"x");
    study.config(&[("file", "post/r.csv", "/x")]);
    study
        .post(&[])
        .password("wrong password entirely")
        .assert()
        .code(4);
    assert!(files(&emu.file("/")).is_empty());
}

#[test]
fn usage_and_config_errors() {
    let env = TestEnv::new();
    let study = env.study();
    study.cmd().arg("post").assert().code(2);
    study.config(&[("file", "post/missing.csv", "/x")]);
    study
        .cmd()
        .args(["post", "--config", "conf/config.xml"])
        .args(["--endpoint", "http://127.0.0.1:9"])
        .password(PASSWORD)
        .assert()
        .code(3);
    study
        .cmd()
        .args(["post", "--config", "c.xml", "--chunk-size", "6"])
        .assert()
        .code(2);
}

#[test]
fn an_unreachable_dropbox_is_said_once_and_stops_the_run_at_the_first_script() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("a/x.csv", "1");
    study.write("b/y.csv", "2");
    study.config(&[("folder", "a", "/a"), ("folder", "b", "/b")]);
    let out = study.post_at("http://127.0.0.1:9", &[]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert_eq!(err.matches("WARN cannot reach Dropbox").count(), 1, "{err}");
    assert!(
        err.contains("script 1 (") && !err.contains("script 2 ("),
        "{err}"
    );
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("dropbox-post: error: gave up after 10 attempts: cannot reach Dropbox"),
        "{last}"
    );
}

/// Red team (issue 22): a config whose only script is misnamed fails, and the note saying
/// which script was left to librec-auto comes first: it is why none was found.
#[test]
fn the_notes_of_a_config_that_fails_are_still_shown() {
    let env = TestEnv::new();
    let study = env.study();
    let config = study.config(&[("file", "out.csv", "/r")]);
    let xml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, xml.replace("dropbox_post.py", "dropbox_upload.py")).unwrap();
    let out = study.post(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stderr(&out);
    let note = text
        .find("note: ")
        .unwrap_or_else(|| panic!("no note in {text}"));
    assert!(
        text[note..].contains("dropbox_upload.py is not a dropbox script"),
        "{text}"
    );
    assert!(note < text.find("error: ").unwrap(), "{text}");
}

/// A study tree of `count` small files, an empty one and one of 5 MiB (more than a 4 MiB
/// chunk), configured to go to `/S`.
fn small_tree(study: &crate::harness::Study, count: usize) {
    for i in 0..count {
        study.write(&format!("out/f{i:03}.txt"), pattern(100 + i * 13, i as u64));
    }
    study.write("out/empty.txt", b"");
    study.write("out/big.bin", pattern(5 << 20, 7));
    study.config(&[("folder", "out", "/S")]);
}

/// Issue 23: small files go many to a request — one `start_batch`, one `append_batch` and
/// one commit for all of them — while a file of more than a chunk keeps its own session.
#[test]
fn small_files_go_many_to_a_request() {
    let env = TestEnv::with_emulator(&["-v"]);
    let study = env.study();
    let emu = env.emulator();
    small_tree(&study, 40);
    let json = study.post_json(&["--chunk-size", "4"]);
    assert_eq!(json["totals"]["uploaded"], 42, "{json}");
    assert_same_files(&study.path("out"), &emu.file("/S"));
    let count = |route: &str| emu.requests(&format!("files/upload_session/{route}"));
    assert_eq!(count("start_batch"), 1);
    assert_eq!(count("append_batch"), 1);
    // Only the big file's own session, started with its first chunk, and its last append.
    assert_eq!((count("start"), count("append_v2")), (1, 1));
    assert_eq!(count("finish_batch_v2"), 1);
}

/// Issue 23: a server that does not know `append_batch` (400 "Unknown API function") gets
/// each small file with a request of its own, for the rest of the run, after one `-v` line.
#[test]
fn a_server_without_append_batch_gets_one_request_per_file() {
    let env =
        TestEnv::with_emulator(&["-v", "--unknown-route", "files/upload_session/append_batch"]);
    let study = env.study();
    let emu = env.emulator();
    // Three bodies (one holds 500 files), in flight together: each is refused at most once,
    // and every file then goes with a session of its own.
    small_tree(&study, 1010);
    let out = study.post(&["--chunk-size", "4", "-v"]).output().unwrap();
    assert_success(&out);
    assert_same_files(&study.path("out"), &emu.file("/S"));
    let bodies = emu.requests("files/upload_session/append_batch");
    assert!((1..=3).contains(&bodies), "{}", emu.log());
    assert_eq!(emu.requests("files/upload_session/start_batch"), bodies);
    // The small files, the empty one and the big one, each alone.
    assert_eq!(emu.requests("files/upload_session/start"), 1012);
    let err = stderr(&out);
    let said = err.matches("does not serve batch uploads").count();
    assert_eq!(said, 1, "{err}");
    assert!(!err.contains("please report"), "{err}");
    assert!(err.contains("Unknown API function"), "{err}");
}

/// Issue 23: an `append_batch` whose answer is lost after Dropbox applied it is sent again;
/// its entries then find their sessions closed, which means their bytes are there: nothing
/// goes a third time, and every file lands once.
#[test]
fn a_lost_append_batch_answer_is_not_sent_again_file_by_file() {
    let env =
        TestEnv::with_emulator(&["-v", "--lose-answer", "files/upload_session/append_batch:1"]);
    let study = env.study();
    let emu = env.emulator();
    small_tree(&study, 12);
    std::fs::remove_file(study.path("out/big.bin")).unwrap();
    let out = study
        .post(&["--chunk-size", "4", "--json"])
        .output()
        .unwrap();
    assert_success(&out);
    assert_same_files(&study.path("out"), &emu.file("/S"));
    assert_eq!(json_of(&out)["totals"]["uploaded"], 13);
    // The log has a line for each answered request: the lost one has none.
    assert!(emu.log().contains("dropping its answer"), "{}", emu.log());
    assert_eq!(emu.requests("files/upload_session/append_batch"), 1);
    assert_eq!(
        emu.requests("files/upload_session/append_v2"),
        0,
        "{}",
        emu.log()
    );
    assert_eq!(emu.requests("files/upload_session/start"), 0);
}

/// Issue 23: an `append_batch` entry that fails (here every entry: the sessions expired
/// while the request waited) is sent again on its own; every file lands once.
#[test]
fn failed_append_batch_entries_are_sent_again_alone() {
    let env = TestEnv::with_emulator(&[
        "-v",
        "--test-clock",
        "--hold",
        "files/upload_session/append_batch:1",
    ]);
    let study = env.study();
    let emu = env.emulator();
    small_tree(&study, 12);
    // A big file's session would expire with the clock too, and is not what is tested.
    std::fs::remove_file(study.path("out/big.bin")).unwrap();
    let post = study.post_command(&emu.url, &["--chunk-size", "4", "--json"]);
    let out = emu.race(post, || block_on(emu.advance_clock(8 * 24 * 3600)));
    assert_success(&out);
    assert_same_files(&study.path("out"), &emu.file("/S"));
    let json = json_of(&out);
    assert_eq!(json["totals"]["uploaded"], 13, "{json}");
    // One session of its own for each of the 13 small files, the empty one included.
    assert_eq!(emu.requests("files/upload_session/start"), 13);
}
