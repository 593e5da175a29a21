//! Issue 21: one place (`upload::mirror`) decides what `post --delete` may delete. Only
//! files at the revision the listing saw (`parent_rev`) and folders a second listing shows
//! unchanged, so nothing a second writer puts there while the run goes on is lost; never
//! what the server lists outside `dest`, what the filters leave out, or what is under a
//! disabled script's `dest`; and `/`, an empty local tree or more than `--max-delete`
//! deletions only when the user says so. The emulator honours `parent_rev` as Dropbox does.

use reqwest::StatusCode;
use serde_json::{Value, json};

use axum::Router;
use axum::routing::post;

use crate::harness::{
    Emulator, HostileServer, Study, TestEnv, assert_success, block_on, hash, json_of, tree,
};

/// The error tags of a 409 answer, outermost first: `path_write/conflict/file`.
fn tags(error: &Value) -> String {
    let mut tags = Vec::new();
    let mut at = &error["error"];
    while let Some(tag) = at[".tag"].as_str() {
        tags.push(tag);
        at = &at[tag];
    }
    tags.join("/")
}

#[test]
fn the_emulator_deletes_a_file_only_at_its_parent_rev() {
    let emu = Emulator::start(&[]);
    block_on(async {
        let (_, old) = emu.upload("/s/a.txt", b"one").await;
        let overwrite = json!({"path": "/s/a.txt", "mode": "overwrite"});
        let (_, new) = emu
            .upload_to("files/upload", overwrite, b"two".to_vec())
            .await;
        let emu = &emu;
        let delete = |path: &str, rev: &Value| {
            let arg = json!({"path": path, "parent_rev": rev});
            async move { emu.rpc("files/delete_v2", &arg).await }
        };
        let (s, e) = delete("/s/a.txt", &old["rev"]).await;
        assert_eq!(
            (s, tags(&e)),
            (StatusCode::CONFLICT, "path_write/conflict/file".into())
        );
        let (s, e) = delete("/s", &new["rev"]).await;
        assert_eq!(
            (s, tags(&e)),
            (StatusCode::CONFLICT, "path_lookup/not_file".into())
        );
        assert_eq!(
            delete("/s/a.txt", &json!("xyz")).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(emu.download("/s/a.txt").await, b"two");
        let (s, d) = delete("/s/a.txt", &new["rev"]).await;
        assert_eq!(
            (s, &d["metadata"]["rev"]),
            (StatusCode::OK, &new["rev"]),
            "{d}"
        );
    });
}

/// What the summary says the mirror kept, with why.
fn kept(json: &Value) -> Vec<(String, String)> {
    let kept = json["scripts"][0]["mirror"]["kept"]
        .as_array()
        .expect("a kept list");
    let each = |k: &Value| {
        (
            k["remote"].as_str().unwrap().into(),
            k["reason"].as_str().unwrap().into(),
        )
    };
    kept.iter().map(each).collect()
}

#[test]
fn a_second_writer_racing_the_mirror_loses_nothing() {
    // Held: the commit of the run's uploads (after its listing), then the first deletion
    // request (after the plan, before anything is deleted).
    for hold in [
        "files/upload_session/finish_batch_v2:1",
        "files/delete_batch:1",
    ] {
        let emu = Emulator::start(&["-v", "--hold", hold]);
        let env = TestEnv::new();
        let study = env.study();
        study.write("post/keep.csv", b"keep");
        study.write("post/added.csv", b"new");
        study.config(&[("folder", "post", "/dest")]);
        block_on(async {
            for (path, data) in [
                ("/dest/keep.csv", &b"keep"[..]),
                ("/dest/old.txt", b"old"),
                ("/dest/gone/stale.csv", b"stale"),
                ("/dest/gone/plots/x.txt", b"x"),
            ] {
                assert_eq!(emu.upload(path, data).await.0, StatusCode::OK);
            }
        });
        // A colleague posts into a folder that goes, replaces a file that goes, and makes
        // a folder that goes anew.
        let post = study.post_command(&emu.url, &["--delete", "--json"]);
        let out = emu.race(post, || {
            block_on(async {
                let newer = json!({"path": "/dest/old.txt", "mode": "overwrite"});
                let (status, _) = emu
                    .upload_to("files/upload", newer, b"newer".to_vec())
                    .await;
                assert_eq!(status, StatusCode::OK);
                let (status, _) = emu.upload("/dest/gone/new-result.csv", b"1,2\n").await;
                assert_eq!(status, StatusCode::OK);
                let plots = json!({"path": "/dest/gone/plots"});
                for route in ["files/delete_v2", "files/create_folder_v2"] {
                    assert_eq!(emu.rpc(route, &plots).await.0, StatusCode::OK);
                }
            })
        });
        assert_success(&out);
        let read = |path: &str| std::fs::read(emu.file(path)).unwrap();
        assert_eq!(read("/dest/old.txt"), b"newer", "held at {hold}");
        assert_eq!(read("/dest/gone/new-result.csv"), b"1,2\n");
        assert_eq!(
            tree(&emu.file("/dest")),
            [
                "added.csv",
                "gone/",
                "gone/new-result.csv",
                "gone/plots/",
                "keep.csv",
                "old.txt"
            ]
        );
        let json = json_of(&out);
        let why = |path: &str, reason: &str| (path.to_string(), reason.to_string());
        assert_eq!(
            kept(&json),
            [
                why(
                    "/dest/gone",
                    "holds /dest/gone/new-result.csv, written since the listing"
                ),
                why("/dest/gone/plots", "changed since it was listed"),
                why("/dest/old.txt", "changed since it was listed"),
            ]
        );
        // stale.csv, and plots/x.txt (which the colleague deleted).
        assert_eq!(json["totals"]["deleted"], 2, "{json}");
    }
}

/// A study posting its folder `post` (holding `local`) to `/dest` with `--delete`, after
/// Dropbox was given `remote` (path, bytes; a path ending in `/` is a folder).
fn mirrored<'e>(env: &'e TestEnv, local: &[(&str, &[u8])], remote: &[(&str, &[u8])]) -> Study<'e> {
    let study = env.study();
    std::fs::create_dir_all(study.path("post")).unwrap();
    for (rel, data) in local {
        study.write(&format!("post/{rel}"), data);
    }
    study.config(&[("folder", "post", "/dest")]);
    let emu = env.emulator();
    block_on(async {
        for (path, data) in remote {
            let status = match path.strip_suffix('/') {
                Some(folder) => {
                    emu.rpc("files/create_folder_v2", &json!({"path": folder}))
                        .await
                        .0
                }
                None => emu.upload(path, data).await.0,
            };
            assert_eq!(status, StatusCode::OK, "{path}");
        }
    });
    study
}

#[test]
fn a_script_switched_off_keeps_its_files() {
    let env = TestEnv::new();
    let study = mirrored(
        &env,
        &[("r.csv", b"r")],
        &[("/dest/off/summary.csv", b"s"), ("/dest/stale.csv", b"x")],
    );
    study.write("off/summary.csv", b"s");
    study.config(&[
        ("folder", "post", "/dest"),
        ("No", "off/summary.csv", "/dest/off"),
        ("no", "x", "relative"),
    ]);
    let json = study.post_json(&["--delete"]);
    assert_eq!(json["totals"]["deleted"], 1, "{json}");
    assert_eq!(
        tree(&env.emulator().file("/dest")),
        ["off/", "off/summary.csv", "r.csv"]
    );
}

/// Issue 21 red team: an enabled file script whose file a filter leaves out (or that
/// failed) posted nothing, so a folder script's mirror around it deleted its file.
#[test]
fn a_file_script_that_posts_nothing_keeps_its_file() {
    let env = TestEnv::new();
    let study = mirrored(
        &env,
        &[("r.csv", b"r")],
        &[
            ("/dest/summary/summary.pdf", b"s"),
            ("/dest/stale.csv", b"x"),
        ],
    );
    study.write("results/summary.pdf", b"s");
    study.config(&[
        ("folder", "post", "/dest"),
        ("file", "results/summary.pdf", "/dest/summary"),
    ]);
    let json = study.post_json(&["--delete", "--exclude", "results/"]);
    assert_eq!(json["totals"]["deleted"], 1, "{json}");
    assert_eq!(
        tree(&env.emulator().file("/dest")),
        ["r.csv", "summary/", "summary/summary.pdf"]
    );
}

/// Issue 21 red team: a FIFO the walk skips is there locally: its namesake on Dropbox
/// stays.
#[cfg(unix)]
#[test]
fn what_the_walk_skips_keeps_its_namesake() {
    let env = TestEnv::new();
    let study = mirrored(
        &env,
        &[("k.csv", b"k")],
        &[
            ("/dest/results.csv", b"precious"),
            ("/dest/stale.csv", b"x"),
            ("/dest/pipe/a.txt", b"a"),
        ],
    );
    // A folder on Dropbox by the name of a local FIFO stays with all it holds.
    for fifo in ["post/results.csv", "post/pipe"] {
        let made = std::process::Command::new("mkfifo")
            .arg(study.path(fifo))
            .status();
        assert!(made.unwrap().success());
    }
    let json = study.post_json(&["--delete"]);
    assert_eq!(json["totals"]["deleted"], 1, "{json}");
    assert_eq!(
        tree(&env.emulator().file("/dest")),
        ["k.csv", "pipe/", "pipe/a.txt", "results.csv"]
    );
}

#[test]
fn includes_keep_the_empty_folders_they_leave_out() {
    let env = TestEnv::new();
    let study = mirrored(
        &env,
        &[("a.csv", b"a")],
        &[("/dest/a.csv", b"a"), ("/dest/empty/", b"")],
    );
    std::fs::create_dir_all(study.path("post/empty")).unwrap();
    let json = study.post_json(&["--include", "*.csv", "--delete"]);
    assert_eq!(json["totals"]["deleted"], 0, "{json}");
    assert_eq!(tree(&env.emulator().file("/dest")), ["a.csv", "empty/"]);
}

/// `post` with `args`: exit 6, nothing deleted, and stderr says `says`.
fn refused(env: &TestEnv, study: &Study, args: &[&str], says: &str) {
    let before = tree(&env.emulator().file("/"));
    let out = study.post(args).output().unwrap();
    let text = crate::harness::stderr(&out);
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(text.contains(says), "{says:?} not in: {text}");
    assert!(text.contains("nothing deleted"), "{text}");
    let after = tree(&env.emulator().file("/"));
    assert!(
        before.iter().all(|p| after.contains(p)),
        "{before:?} → {after:?}"
    );
}

#[test]
fn an_empty_local_folder_does_not_empty_dest() {
    let env = TestEnv::new();
    let study = mirrored(&env, &[], &[("/dest/a.csv", b"a"), ("/dest/b/c.csv", b"c")]);
    refused(&env, &study, &["--delete"], "nothing was posted");
    // Issue 21 red team: what a fresh clone holds before the results are made.
    study.write("post/.gitkeep", b"");
    study.write("post/.dropboxignore", b"*.tmp\n");
    std::fs::create_dir_all(study.path("post/run-1")).unwrap();
    study.write("post/run-1/empty.csv", b"");
    refused(&env, &study, &["--delete"], "nothing was posted");
    refused(
        &env,
        &study,
        &["--delete", "--dry-run"],
        "--allow-empty-mirror",
    );
    study
        .post(&["--delete", "--allow-empty-mirror"])
        .assert()
        .success();
    assert_eq!(
        tree(&env.emulator().file("/dest")),
        [".dropboxignore", ".gitkeep", "run-1/", "run-1/empty.csv"]
    );
}

#[test]
fn the_whole_dropbox_is_mirrored_only_when_asked_by_flag() {
    let env = TestEnv::new();
    let study = mirrored(&env, &[("r.csv", b"r")], &[("/other/x.csv", b"x")]);
    study.config_with(("folder", "post", "/"), &[("delete", "true")]);
    refused(&env, &study, &[], "--allow-root-mirror");
    study.post(&["--allow-root-mirror"]).assert().success();
    assert_eq!(tree(&env.emulator().file("/")), ["r.csv"]);
}

#[test]
fn max_delete_bounds_the_run_and_says_how_to_raise_it() {
    let env = TestEnv::new();
    let remote: Vec<(String, &[u8])> = (0..3)
        .map(|i| (format!("/dest/old{i}.csv"), &b"o"[..]))
        .collect();
    let remote: Vec<(&str, &[u8])> = remote.iter().map(|(p, d)| (p.as_str(), *d)).collect();
    let study = mirrored(&env, &[("r.csv", b"r")], &remote);
    refused(
        &env,
        &study,
        &["--delete", "--max-delete", "2"],
        "would delete 3 files and folders, more than --max-delete 2",
    );
    let json = study.post_json(&["--delete", "--max-delete", "3"]);
    assert_eq!(json["totals"]["deleted"], 3);
}

/// A file or folder as a server lists it; its `path_lower` and `path_display` may disagree.
fn entry(tag: &str, lower: &str, display: &str) -> Value {
    let name = display.rsplit('/').next().unwrap();
    json!({".tag": tag, "name": name, "id": "id:h", "path_lower": lower, "path_display": display,
           "client_modified": "2026-01-01T00:00:00Z", "server_modified": "2026-01-01T00:00:00Z",
           "rev": "0123456789", "size": 1, "content_hash": hash(b"k")})
}

/// A study posting `post/keep.csv` to `/dest`, and a server that lists `/dest/keep.csv`
/// (unchanged, so nothing is uploaded) and `entries`, and serves `routes` besides.
fn against_listing<'e>(
    env: &'e TestEnv,
    entries: &[Value],
    routes: Router,
) -> (Study<'e>, HostileServer) {
    let mut all = vec![entry("file", "/dest/keep.csv", "/dest/keep.csv")];
    all.extend_from_slice(entries);
    let page = json!({"entries": all, "cursor": "c", "has_more": false});
    let list = move || async move { axum::Json(page) };
    let server = HostileServer::start(routes.route("/2/files/list_folder", post(list)));
    let study = env.study();
    study.write("post/keep.csv", b"k");
    study.config(&[("folder", "post", "/dest")]);
    (study, server)
}

#[test]
fn listed_paths_outside_dest_are_never_candidates() {
    let env = TestEnv::new();
    let odd = [
        entry("file", "/dest/x", "/elsewhere/x"),
        entry("folder", "/dest/..", "/dest/.."),
        entry("file", "/dest/../y", "/dest/../y"),
    ];
    // No delete route: a request to delete anything would fail the run.
    let (study, server) = against_listing(&env, &odd, Router::new());
    // The dry run and the real run agree.
    for extra in [&["--dry-run", "-v"][..], &["-v"]] {
        let out = study
            .post_at(&server.url, &[&["--delete"], extra].concat())
            .output()
            .unwrap();
        assert_success(&out);
        let text = format!(
            "{}{}",
            crate::harness::stdout(&out),
            crate::harness::stderr(&out)
        );
        assert!(!text.contains("delete /"), "{text}");
        assert!(text.contains("mirror: 0 "), "{text}");
        assert!(
            text.contains("ignored /elsewhere/x: listed for /dest, but no path under it"),
            "{text}"
        );
    }
}

/// Dropbox does not document how it refuses a `parent_rev` that is no longer the file's:
/// what is at the path then decides (the file at another revision: kept; nothing: gone).
/// The lines a human sees, with `-v`, are snapshotted.
#[test]
fn a_file_dropbox_did_not_delete_is_looked_up() {
    let mut shown = String::new();
    for (refusal, now) in [
        (
            json!({".tag": "path_write", "path_write": {".tag": "conflict", "conflict": "file"}}),
            Some("abcdef1234"),
        ),
        (
            json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}}),
            None,
        ),
    ] {
        let env = TestEnv::new();
        let entries = json!([{".tag": "failure", "failure": refusal}]);
        let result = json!({".tag": "complete", "entries": entries});
        let delete = move || async move { axum::Json(result) };
        let metadata = move || async move {
            let mut meta = entry("file", "/dest/old.txt", "/dest/old.txt");
            match now {
                Some(rev) => {
                    meta["rev"] = json!(rev);
                    (StatusCode::OK, axum::Json(meta))
                }
                None => {
                    let error = json!({".tag": "path", "path": {".tag": "not_found"}});
                    let body = json!({"error_summary": "path/not_found/", "error": error});
                    (StatusCode::CONFLICT, axum::Json(body))
                }
            }
        };
        let routes = Router::new()
            .route("/2/files/delete_batch", post(delete))
            .route("/2/files/get_metadata", post(metadata));
        let listed = [
            entry("file", "/dest/old.txt", "/dest/old.txt"),
            entry("file", "/dest/x", "/elsewhere/x"),
        ];
        let (study, server) = against_listing(&env, &listed, routes);
        let out = study
            .post_at(&server.url, &["--delete", "-v"])
            .output()
            .unwrap();
        assert_success(&out);
        let mirror = ["  deleted ", "  kept ", "  ignored ", "  FAILED delete "];
        for line in crate::harness::stderr(&out).lines() {
            if mirror.iter().any(|m| line.starts_with(m)) || line.contains("): mirror: ") {
                let line = line.replace(env.root().to_str().unwrap(), "[ENV]");
                shown.push_str(&format!("{line}\n"));
            }
        }
    }
    insta::with_settings!({prepend_module_to_snapshot => false, omit_expression => true}, {
        insta::assert_snapshot!("mirror-kept", shown);
    });
}
