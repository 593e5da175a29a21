//! Issue 21: what a commit holds is the file's own. Every request that carries file bytes
//! names their content hash (Dropbox checks each call), and a commit found wrong afterwards
//! is rolled back to what Dropbox held before it.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::harness::{
    Hook, HostileServer, Seen, Study, TOKEN, TestEnv, hash, json_of, pattern, stderr,
};

const MIB: usize = 1 << 20;
const FINISH_BATCH: &str = "files/upload_session/finish_batch_v2";

/// A proxy to `url` that records every request, and what it recorded.
fn recording(url: &str) -> (HostileServer, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let hook: Hook = Box::new(move |s: &Seen| {
        log.lock().unwrap().push(s.clone());
        Box::pin(async {})
    });
    (HostileServer::proxy(url, hook), seen)
}

#[test]
fn every_request_with_file_bytes_names_their_hash_and_a_commit_none() {
    let env = TestEnv::new();
    let (proxy, seen) = recording(&env.emulator().url);
    let study = env.study();
    study.write("post/big.bin", pattern(10 * MIB + 3, 1));
    study.write("post/small.csv", b"1,2\n");
    study.config(&[("folder", "post", "/dest")]);
    study
        .post_at(&proxy.url, &["--chunk-size", "4"])
        .assert()
        .success();
    let seen = seen.lock().unwrap();
    let sent: Vec<&Seen> = (seen.iter())
        .filter(|s| {
            ["start", "append_v2", "append_batch"]
                .map(|r| format!("files/upload_session/{r}"))
                .contains(&s.route)
        })
        .collect();
    // big.bin: a start and two appends; small.csv: an entry of one append_batch, whose
    // hash covers its whole body.
    assert_eq!(sent.len(), 4, "{seen:?}");
    for s in sent {
        assert_eq!(s.arg["content_hash"], hash(&s.body), "{}", s.route);
    }
    let batches = seen.iter().filter(|s| s.route == FINISH_BATCH);
    let entries: Vec<_> = batches
        .flat_map(|b| b.arg["entries"].as_array().unwrap().clone())
        .collect();
    assert_eq!(entries.len(), 2);
    assert!(
        entries.iter().all(|e| e.get("content_hash").is_none()),
        "{entries:?}"
    );
}

/// `post --json` of `post/` to `/dest` at `url`, which must fail (exit 6): the reason the
/// one failed file has.
fn failed_post(study: &Study, url: &str) -> String {
    study.config(&[("folder", "post", "/dest")]);
    let out = study.post_at(url, &["--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let json: Value = json_of(&out);
    let failures = json["scripts"][0]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{json}");
    failures[0]["reason"].as_str().unwrap().to_string()
}

#[test]
fn a_commit_found_wrong_is_rolled_back_to_the_version_it_replaced() {
    let env = TestEnv::with_emulator(&["--corrupt-commit", "2"]);
    let (study, emu) = (env.study(), env.emulator());
    study.write("post/r.csv", b"the good version\n");
    study.config(&[("folder", "post", "/dest")]);
    study.post(&[]).assert().success();
    study.write("post/r.csv", b"the next version\n");
    let reason = failed_post(&study, &emu.url);
    assert!(
        reason.contains("rolled back to the previous version"),
        "{reason}"
    );
    assert_eq!(
        std::fs::read(emu.file("/dest/r.csv")).unwrap(),
        b"the good version\n"
    );
    // Posted again, it lands.
    study.post(&[]).assert().success();
    assert_eq!(
        std::fs::read(emu.file("/dest/r.csv")).unwrap(),
        b"the next version\n"
    );
}

#[test]
fn a_new_file_found_wrong_is_removed() {
    let env = TestEnv::with_emulator(&["--corrupt-commit", "1"]);
    let (study, emu) = (env.study(), env.emulator());
    study.write("post/new.csv", b"1,2\n");
    let reason = failed_post(&study, &emu.url);
    assert!(
        reason.contains("rolled back: the new file was removed"),
        "{reason}"
    );
    assert!(!emu.file("/dest/new.csv").exists());
}

/// A hook that, just before the client's `route` request goes through, writes `theirs` at
/// `path` in the emulator at `url`, as a second writer would.
fn second_writer(url: &str, route: &'static str, path: &'static str, theirs: &'static str) -> Hook {
    let upload = format!("{url}/2/files/upload");
    Box::new(move |s: &Seen| {
        let (racing, upload) = (s.route == route, upload.clone());
        Box::pin(async move {
            if racing {
                let arg = format!(r#"{{"path":"{path}","mode":"overwrite"}}"#);
                let r = reqwest::Client::new().post(upload).bearer_auth(TOKEN);
                let r = r.header("Dropbox-API-Arg", arg);
                let r = r.header("Content-Type", "application/octet-stream");
                assert!(r.body(theirs).send().await.unwrap().status().is_success());
            }
        })
    })
}

/// A second writer puts its own version there between the bad commit and the rollback:
/// the rollback leaves it, whether it would have removed a new file or restored a
/// replaced one.
#[test]
fn a_rollback_never_undoes_a_newer_version_by_someone_else() {
    let env = TestEnv::with_emulator(&["--corrupt-commit", "1", "--corrupt-commit", "3"]);
    let (study, emu) = (env.study(), env.emulator());
    let racing = |route, theirs| {
        HostileServer::proxy(
            &emu.url,
            second_writer(&emu.url, route, "/dest/r.csv", theirs),
        )
    };
    let remove = racing("files/delete_v2", "theirs");
    study.write("post/r.csv", b"1,2\n");
    let reason = failed_post(&study, &remove.url);
    assert!(reason.contains("not rolled back"), "{reason}");
    assert_eq!(std::fs::read(emu.file("/dest/r.csv")).unwrap(), b"theirs");
    // Theirs replaced by a bad commit of ours: the rollback would restore theirs, but a
    // third version came first.
    let restore = racing("files/list_revisions", "a third");
    study.write("post/r.csv", b"1,2,3\n");
    let reason = failed_post(&study, &restore.url);
    assert!(reason.contains("not rolled back"), "{reason}");
    assert_eq!(std::fs::read(emu.file("/dest/r.csv")).unwrap(), b"a third");
}

/// A second writer posts the file after the listing showed none, just before our commit,
/// which came out wrong: the rollback restores theirs instead of removing the file
/// (issue 21 red team).
#[test]
fn a_rollback_never_removes_a_file_written_since_the_listing() {
    // Commits: 1 theirs, 2 ours (corrupted).
    let env = TestEnv::with_emulator(&["--corrupt-commit", "2"]);
    let (study, emu) = (env.study(), env.emulator());
    let hook = second_writer(&emu.url, FINISH_BATCH, "/dest/new.csv", "theirs");
    let proxy = HostileServer::proxy(&emu.url, hook);
    study.write("post/new.csv", b"ours\n");
    let reason = failed_post(&study, &proxy.url);
    assert!(
        reason.contains("rolled back to the version before it"),
        "{reason}"
    );
    assert_eq!(std::fs::read(emu.file("/dest/new.csv")).unwrap(), b"theirs");
}

/// A second writer replaced the file after the listing, just before our commit, which
/// came out wrong: the rollback restores what the commit replaced (theirs), not the
/// version the listing showed.
#[test]
fn a_rollback_restores_the_version_the_commit_replaced() {
    // Commits: 1 ours, 2 theirs, 3 ours (corrupted).
    let env = TestEnv::with_emulator(&["--corrupt-commit", "3"]);
    let (study, emu) = (env.study(), env.emulator());
    study.write("post/r.csv", b"the good version\n");
    study.config(&[("folder", "post", "/dest")]);
    study.post(&[]).assert().success();
    let hook = second_writer(&emu.url, FINISH_BATCH, "/dest/r.csv", "theirs");
    let proxy = HostileServer::proxy(&emu.url, hook);
    study.write("post/r.csv", b"the next version\n");
    let reason = failed_post(&study, &proxy.url);
    assert!(
        reason.contains("rolled back to the previous version"),
        "{reason}"
    );
    assert_eq!(std::fs::read(emu.file("/dest/r.csv")).unwrap(), b"theirs");
}
