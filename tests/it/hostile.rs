//! Issue 17: a hostile server, config or file must not make dropbox-post write, leak, hang or
//! exhaust. One test (or more) per finding of docs/security.md, against a [`HostileServer`]
//! written for the test or the real emulator; the emulator's own findings (11) are in
//! `emulator/hostile.rs`.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use futures_util::StreamExt;
use serde_json::json;

use crate::harness::{
    CmdExt, HostileServer, PASSWORD, Study, TOKEN, TestEnv, assert_success, authorization,
    file_metadata, files, guarded, output_within, stderr, stdout, tree,
};

/// What must fail at once is given this long, not the harness's 300 s.
const FAST: Duration = Duration::from_secs(20);

/// Exit `code`, and stderr says `says`.
#[track_caller]
fn assert_fails(out: &Output, code: i32, says: &str) {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{text}");
    assert!(text.contains(says), "{says:?} not in: {text}");
}

/// `ARGS` with the study's key against `server`.
fn against(study: &Study, server: &HostileServer, args: &[&str]) -> Output {
    study.remote_at(&server.url, args).output().unwrap()
}

/// `key check --encrypted FILE`, the password by env; stopped after [`FAST`].
fn key_check(study: &Study, file: &str) -> Output {
    output_within(
        study
            .cmd()
            .args(["key", "check", "--encrypted", file])
            .password(PASSWORD),
        FAST,
    )
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A server whose `get_metadata` calls the file `name` and whose download sends `body`.
fn serving_file(name: &str, body: &'static [u8]) -> HostileServer {
    let mut meta = file_metadata(name, "/res/run.csv", body.len() as u64);
    meta["content_hash"] = crate::harness::hash(body).into();
    let header = meta.to_string();
    let download =
        post(move || async move { ([("dropbox-api-result", header)], body).into_response() });
    HostileServer::serving(meta, download)
}

// ---- `get` of a single file writes where the server's name says -----------------------

#[test]
fn get_refuses_file_names_that_leave_the_target() {
    let env = TestEnv::new();
    let study = env.study();
    let escaped = env.write("outside/escaped.txt", "mine");
    let target = study.path("target/inner");
    std::fs::create_dir_all(&target).unwrap();
    let get = ["get", "/res/run.csv", target.to_str().unwrap()];
    for name in [
        escaped.to_str().unwrap(),
        "../escaped.txt",
        "sub/escaped.txt",
        "..",
        ".",
        "",
    ] {
        let out = against(
            &study,
            &serving_file(name, b"overwritten by the server"),
            &get,
        );
        assert_fails(&out, 6, "unsafe name");
        assert_eq!(std::fs::read(&escaped).unwrap(), b"mine", "{name:?}");
        assert!(!study.path("target/escaped.txt").exists(), "{name:?}");
        assert!(tree(&target).is_empty(), "{name:?}");
    }
    // The file asked for still lands, in the case Dropbox spells it.
    assert_success(&against(&study, &serving_file("Run.csv", b"fine"), &get));
    assert_eq!(std::fs::read(target.join("Run.csv")).unwrap(), b"fine");
}

// ---- Finding 1 and 6: files that never end or never open -------------------------------

#[cfg(unix)]
#[test]
fn password_files_that_are_devices_or_fifos_fail_at_once() {
    let env = TestEnv::new();
    let study = env.study();
    let fifo = study.path("pw.fifo");
    mkfifo(&fifo);
    for file in ["/dev/zero", fifo.to_str().unwrap()] {
        let mut check = study.cmd();
        check.args([
            "key",
            "check",
            "--encrypted",
            "keys/dropbox.enc",
            "--password-file",
            file,
        ]);
        assert_fails(&output_within(&mut check, FAST), 4, "not a regular file");
    }
}

#[cfg(unix)]
#[test]
fn sealed_files_and_configs_that_are_fifos_fail_at_once() {
    let env = TestEnv::new();
    let study = env.study();
    mkfifo(&study.path("keys/other.enc"));
    let out = key_check(&study, "keys/other.enc");
    assert_fails(&out, 4, "a FIFO (named pipe), not a regular file");
    mkfifo(&study.path("conf/config.xml"));
    let out = output_within(&mut study.post_at("http://127.0.0.1:9", &[]), FAST);
    assert_fails(&out, 3, "not a regular file");
}

// ---- Finding 2: a server that echoes the token ------------------------------------------

/// Echoes the `Authorization` header into every kind of answer a client shows.
fn echo_server() -> HostileServer {
    let conflict = |headers: HeaderMap| async move {
        let echo = authorization(&headers);
        let body = json!({"error_summary": format!("path/{echo}"), "error": {".tag": "path"}});
        (StatusCode::CONFLICT, axum::Json(body))
    };
    let bad = |headers: HeaderMap| async move {
        let echo = authorization(&headers);
        (StatusCode::BAD_REQUEST, format!("Error in call: {echo}"))
    };
    // Every other answer is a 500 (retried, its body logged under -vv), then a 409: each
    // command sees both without waiting out every retry.
    let calls = Arc::new(AtomicUsize::new(0));
    let server_error = move |headers: HeaderMap| async move {
        let echo = authorization(&headers);
        if calls.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("oops {echo}")).into_response()
        } else {
            conflict(headers).await.into_response()
        }
    };
    HostileServer::start(
        Router::new()
            .route("/2/users/get_current_account", post(conflict))
            .route("/2/files/list_folder", post(bad))
            .route("/2/files/get_metadata", post(server_error)),
    )
}

#[test]
fn a_server_echoing_the_token_never_gets_it_printed() {
    let env = TestEnv::new();
    let study = env.study();
    let server = echo_server();
    for args in [
        &["whoami"][..],
        &["ls", "/"],
        &["-vv", "ls", "/res"],
        &["-vv", "get", "/res/x", "out"],
    ] {
        let out = against(&study, &server, args);
        let text = stdout(&out) + &stderr(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            !text.contains(&TOKEN[..16]),
            "{args:?} printed the token: {text}"
        );
        assert!(text.contains("[REDACTED]"), "{args:?}: {text}");
    }
}

#[test]
fn a_token_endpoint_echoing_the_refresh_token_and_app_secret_never_gets_them_printed() {
    let (refresh, secret) = (
        "refresh-token-that-must-stay-secret",
        "app-secret-that-must-stay-secret",
    );
    let credential = json!({"type": "refresh_token", "app_key": "hostile-app",
        "app_secret": secret, "refresh_token": refresh});
    let env = TestEnv::new();
    let study = env.study_sealing(&credential.to_string());
    let server = HostileServer::start(Router::new().route(
        "/oauth2/token",
        post(|form: String| async move {
            let body = json!({"error": format!("invalid_grant {form}"), "error_description": form});
            (StatusCode::BAD_REQUEST, axum::Json(body))
        }),
    ));
    let out = against(&study, &server, &["-vv", "whoami"]);
    let text = stdout(&out) + &stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{text}");
    for leaked in [refresh, secret] {
        assert!(!text.contains(&leaked[..16]), "{text}");
    }
    assert!(text.contains("[REDACTED]"), "{text}");
}

/// Issue 21 red team: a token endpoint answering an empty, spaced or 60 kB refresh token
/// got it sealed (exit 0) into a file no command could open, replacing the working key
/// under --force. Nothing is written now.
#[test]
fn auth_never_seals_a_refresh_token_it_could_not_open() {
    let env = TestEnv::new();
    let study = env.study();
    let key = study.path("keys/dropbox.enc");
    let before = std::fs::read(&key).unwrap();
    for token in [json!(""), json!("has space"), json!("a".repeat(60_000))] {
        let answer = json!({"access_token": "sl.x", "token_type": "bearer",
            "expires_in": 14400, "refresh_token": token});
        let server = HostileServer::start(Router::new().route(
            "/oauth2/token",
            post(move || {
                let answer = answer.clone();
                async move { axum::Json(answer) }
            }),
        ));
        let out = study
            .cmd()
            .args(["auth", "--app-key", "hostile-app", "--force", "--encrypted"])
            .arg(&key)
            .args(["--endpoint", &server.url])
            .password(PASSWORD)
            .write_stdin("CODE-1234567890abc\n")
            .output()
            .unwrap();
        assert_fails(&out, 4, "cannot be sealed");
        assert_eq!(std::fs::read(&key).unwrap(), before);
    }
}

// ---- Finding 3: reading outside the study -----------------------------------------------

#[test]
fn a_config_cannot_post_and_share_files_from_outside_the_study() {
    let env = TestEnv::new();
    let study = env.study();
    let absolute = env.write("outside/secret.txt", "private");
    let relative = "../outside/secret.txt";
    let posting = |path: &str, params: &[(&str, &str)]| {
        study.config_with(("file", path, "/pub"), params);
    };
    for given in [absolute.to_str().unwrap(), relative] {
        posting(given, &[("share", "true"), ("allow_outside", "true")]);
        let out = study.post(&[]).output().unwrap();
        assert_fails(&out, 3, "outside the study directory");
        assert!(stderr(&out).contains("--allow-outside"), "{}", stderr(&out));
        assert!(!env.emulator().file("/pub").exists());
    }
    // Without share, the script's own param suffices; with share, only the flag does.
    posting(relative, &[("allow_outside", "true")]);
    study.post(&[]).assert().success();
    posting(relative, &[("share", "true")]);
    let out = study.post(&["--allow-outside"]).output().unwrap();
    assert_success(&out);
    assert!(stderr(&out).contains("link: "), "{}", stderr(&out));
}

/// A command line without a config names the user's own file (as `cp` would); librec-auto's
/// form names the config, so its `--path` is held to the config's rule.
#[test]
fn a_path_typed_without_a_config_is_the_users_own() {
    let env = TestEnv::new();
    let study = env.study();
    let elsewhere = env.write("elsewhere/r.csv", "1,2\n");
    let post = |dest: &str, extra: &[&str]| {
        let mut cmd = study.cmd();
        cmd.arg("post")
            .args(extra)
            .args(["--option=file", "--encrypted_key=keys/dropbox.enc"])
            .arg(format!("--dest={dest}"))
            .arg(format!("--path={}", elsewhere.display()))
            .endpoint_env(env.emulator())
            .password(PASSWORD);
        cmd.output().unwrap()
    };
    let posted = |dest: &str| std::fs::read(env.emulator().file(&format!("{dest}/r.csv"))).ok();
    study.config(&[]);
    assert_fails(
        &post("/r", &["conf/config.xml"]),
        3,
        "outside the study directory",
    );
    // librec-auto passes every param as --NAME=VALUE: the script's allow_outside param
    // arrives so and, as in a config, does not cover a script that shares.
    let param = ["conf/config.xml", "--allow_outside=true"];
    let sharing = [&param[..], &["--share=true"]].concat();
    assert_fails(
        &post("/r", &sharing),
        3,
        "its allow_outside param is not enough",
    );
    assert_eq!(posted("/r"), None);
    assert_success(&post("/r", &param));
    assert_eq!(posted("/r").unwrap(), b"1,2\n");
    assert_success(&post("/mine", &[]));
    assert_eq!(posted("/mine").unwrap(), b"1,2\n");
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_a_posted_folder_are_not_followed_without_the_opt_in() {
    use std::os::unix::fs::symlink;
    let env = TestEnv::new();
    let study = env.study();
    let key = env.write("outside/id_rsa", "private key");
    study.write("res/a.txt", b"a");
    symlink(&key, study.path("res/key")).unwrap();
    symlink(key.parent().unwrap(), study.path("res/home")).unwrap();
    symlink("a.txt", study.path("res/inside")).unwrap();
    study.config(&[("folder", "res", "/r")]);
    assert_fails(
        &study.post(&[]).output().unwrap(),
        6,
        "outside the posted folder",
    );
    let landed = || files(&env.emulator().file("/r"));
    assert_eq!(landed(), ["a.txt", "inside"]);
    study.post(&["--allow-outside"]).assert().success();
    assert_eq!(landed(), ["a.txt", "home/id_rsa", "inside", "key"]);
}

// ---- Finding 4: configs that are slow or lose text --------------------------------------

#[test]
fn hostile_configs_are_refused_fast_and_nothing_is_dropped() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("post/r.csv", b"1");
    let refused = |expected: &str| {
        let out = output_within(&mut study.post(&[]), Duration::from_secs(30));
        assert_fails(&out, 3, expected);
    };
    // 50,000-deep nesting inside a param: once silently dropped (dest became `/a`).
    let deep = "<x>".repeat(50_000) + "b" + &"</x>".repeat(50_000);
    study.config(&[("file", "post/r.csv", &format!("/a{deep}"))]);
    refused("<param> holds an element");
    let nested = "<a>".repeat(100_000) + &"</a>".repeat(100_000);
    study.write(
        "conf/config.xml",
        format!("<librec-auto><post>{nested}</post></librec-auto>"),
    );
    refused("nested more than");
    // 5,000 scripts, the last one wrong: every one is read and checked, and the mistake is
    // placed on its line (after 2 lines and 4,999 scripts of 8, the third of the script).
    let mut scripts = vec![("file", "post/r.csv", "/pub"); 4_999];
    scripts.push(("files", "post/r.csv", "/pub"));
    study.config(&scripts);
    refused(&format!(
        "config.xml:{}: post script 5000",
        2 + 4_999 * 8 + 3
    ));
    assert!(files(&env.emulator().file("/")).is_empty());
}

// ---- Finding 5: listings and downloads without end --------------------------------------

/// A listing server whose every page is `page(n)` (n counts pages), with `has_more` forever,
/// after `delay`; and how many pages it served.
fn listing(
    delay: Duration,
    page: fn(usize) -> serde_json::Value,
) -> (HostileServer, Arc<AtomicUsize>) {
    let pages = Arc::new(AtomicUsize::new(0));
    let count = pages.clone();
    let serve = move || {
        let n = count.fetch_add(1, Ordering::Relaxed);
        async move {
            tokio::time::sleep(delay).await;
            let entries = page(n);
            axum::Json(json!({"entries": entries, "cursor": format!("c{n}"), "has_more": true}))
        }
    };
    let server = HostileServer::start(
        Router::new()
            .route("/2/files/list_folder", post(serve.clone()))
            .route("/2/files/list_folder/continue", post(serve)),
    );
    (server, pages)
}

/// Issue 21 (21): empty pages without end, each slow, are refused after a few hundred
/// milliseconds' worth of them (a listing must bring entries), not after 5,000 pages.
#[test]
fn a_listing_that_never_ends_is_refused_soon() {
    let (server, pages) = listing(Duration::from_millis(30), |_| json!([]));
    let env = TestEnv::new();
    let out = output_within(&mut env.study().remote_at(&server.url, &["ls"]), FAST);
    assert_fails(&out, 6, "too few entries per page");
    assert!(pages.load(Ordering::Relaxed) <= 101, "{pages:?}");
}

/// Issue 21 (21): what a listing holds is bounded in bytes, so entries with long names
/// cannot fill memory before the entry cap.
#[test]
fn a_listing_of_fat_entries_is_refused_at_its_memory_bound() {
    let (server, pages) = listing(Duration::ZERO, |n| {
        let entries = (0..2_000).map(|i| {
            let name = format!("{n}-{i}-{}", "x".repeat(4 << 10));
            crate::harness::file_metadata(&name, &format!("/{name}"), 1)
        });
        entries.collect()
    });
    let env = TestEnv::new();
    // The bound is in bytes, not time: a debug build parses 256 MiB slowly on a busy machine.
    let limit = Duration::from_secs(120);
    let out = output_within(&mut env.study().remote_at(&server.url, &["ls"]), limit);
    assert_fails(&out, 6, "holds more than 256 MiB");
    // 3 copies of 4 KiB a file (name, path, lower-case path): 256 MiB is 11 pages of 2,000.
    assert!(pages.load(Ordering::Relaxed) <= 12, "{pages:?}");
}

/// Sends a 1 GiB body, made as it is read, for `header`'s 24 bytes, and counts in `sent`
/// what the client took (plus socket buffers).
fn endless_download(header: String, sent: Arc<AtomicU64>) -> MethodRouter {
    post(move || async move {
        let chunk = bytes::Bytes::from(vec![b'x'; 1 << 20]);
        let stream = futures_util::stream::iter(0..1024).map(move |_| {
            sent.fetch_add(1 << 20, Ordering::Relaxed);
            Ok::<_, std::io::Error>(chunk.clone())
        });
        let response = Response::builder().header("dropbox-api-result", header);
        response.body(Body::from_stream(stream)).unwrap()
    })
}

#[test]
fn a_download_longer_than_announced_stops_at_the_announced_size() {
    let sent = Arc::new(AtomicU64::new(0));
    let mut meta = file_metadata("run.csv", "/res/run.csv", 24);
    meta["content_hash"] = "0".repeat(64).into();
    let server = HostileServer::serving(
        meta.clone(),
        endless_download(meta.to_string(), sent.clone()),
    );
    let env = TestEnv::new();
    let study = env.study();
    std::fs::create_dir_all(study.path("got")).unwrap();
    let out = against(&study, &server, &["get", "/res/run.csv", "got"]);
    assert_fails(&out, 6, "more than the 24 bytes");
    assert!(tree(&study.path("got")).is_empty(), "nothing kept");
    let produced = sent.load(Ordering::Relaxed);
    assert!(produced < 64 << 20, "the server streamed {produced} bytes");
}

/// Issue 21 red team: a `get` stopped by Ctrl-C, SIGTERM, a closed terminal's SIGHUP or
/// Ctrl-\ left its partial temporary file behind for good (a later `post` of the folder
/// published it). Now the downloads in flight are dropped first, then the process ends as
/// the signal would have.
#[cfg(unix)]
#[test]
fn an_interrupted_get_leaves_no_temporary_file() {
    use std::os::unix::process::ExitStatusExt;
    let mut meta = file_metadata("run.csv", "/res/run.csv", 1 << 30);
    meta["content_hash"] = "0".repeat(64).into();
    let header = meta.to_string();
    // One MiB, then nothing: the download stays in flight.
    let stalled = post(move || async move {
        let first = futures_util::stream::once(async {
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 1 << 20]))
        });
        let body = Body::from_stream(first.chain(futures_util::stream::pending()));
        ([("dropbox-api-result", header)], body).into_response()
    });
    let server = HostileServer::serving(meta, stalled);
    let env = TestEnv::new();
    let study = env.study();
    let got = study.path("got");
    for (signal, number) in [("-INT", 2), ("-TERM", 15), ("-HUP", 1), ("-QUIT", 3)] {
        std::fs::create_dir_all(&got).unwrap();
        let mut get = study.command();
        get.args([
            "get",
            "/res/run.csv",
            "got",
            "--encrypted",
            "keys/dropbox.enc",
        ])
        .args(["--endpoint", &server.url])
        .password(PASSWORD);
        let mut child = get.spawn().unwrap();
        // Bounded: the temporary file shows up as soon as the first MiB is in.
        let started = std::time::Instant::now();
        while tree(&got).is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no temporary file"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let pid = child.id().to_string();
        let kill = std::process::Command::new("kill")
            .args([signal, &pid])
            .status();
        assert!(kill.unwrap().success());
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(number), "{status:?}");
        assert!(tree(&got).is_empty(), "{signal}: left {:?}", tree(&got));
    }
}

/// Issue 21 red team: `Retry-After: 100000` hung every command for a day, and the largest
/// value panicked adding it to the clock. A pause past 15 minutes is not waited out.
#[test]
fn a_retry_after_of_days_fails_at_once() {
    let env = TestEnv::new();
    let study = env.study();
    for wait in ["100000", "18446744073709551615"] {
        let header = wait.to_string();
        let server = HostileServer::start(Router::new().fallback(move || async move {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", header)],
                "slow down",
            )
                .into_response()
        }));
        let out = output_within(&mut study.remote_at(&server.url, &["ls", "/res"]), FAST);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(6), "{wait}: {text}");
        assert!(text.contains(&format!("retry after {wait} s")), "{text}");
        assert!(!text.contains("panicked"), "{text}");
    }
}

/// Issue 21 red team: the download's hash won over the listing's, and a file neither
/// vouched for was written. Both must agree, and one must be there.
#[test]
fn get_writes_only_bytes_a_content_hash_vouches_for() {
    let env = TestEnv::new();
    let study = env.study();
    std::fs::create_dir_all(study.path("got")).unwrap();
    let body: &'static [u8] = b"evil\n";
    let cases = [
        (
            Some("1".repeat(64)),
            Some(crate::harness::hash(body)),
            "listed content hash",
        ),
        (None, None, "reported no content hash"),
    ];
    for (listed, sent, says) in cases {
        let mut meta = file_metadata("run.csv", "/res/run.csv", body.len() as u64);
        let mut header = meta.clone();
        if let Some(h) = listed {
            meta["content_hash"] = h.into();
        }
        if let Some(h) = sent {
            header["content_hash"] = h.into();
        }
        let header = header.to_string();
        let download =
            post(move || async move { ([("dropbox-api-result", header)], body).into_response() });
        let out = against(
            &study,
            &HostileServer::serving(meta, download),
            &["get", "/res/run.csv", "got"],
        );
        assert_fails(&out, 6, says);
        assert!(tree(&study.path("got")).is_empty(), "{says}");
    }
}

/// Red team (issue 22): only a refused credential or permission stops a get; any other
/// route error fails its file, listed, and the rest go on.
#[test]
fn a_download_refused_for_another_reason_fails_only_its_file() {
    let env = TestEnv::new();
    let study = env.study();
    let meta = file_metadata("run.csv", "/res/run.csv", 3);
    let full =
        json!({"error_summary": "insufficient_space/", "error": {".tag": "insufficient_space"}});
    let download = post(move || async move { (StatusCode::CONFLICT, axum::Json(full)) });
    let out = against(
        &study,
        &HostileServer::serving(meta, download),
        &["get", "/res/run.csv", "got"],
    );
    assert_fails(&out, 6, "1 of 1 files failed");
    assert!(
        stderr(&out).contains("failed: /res/run.csv"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("refused the rest"),
        "{}",
        stderr(&out)
    );
}

// ---- Finding 7: messages that mislead ---------------------------------------------------

#[test]
fn damaged_sealed_files_say_what_happened() {
    let env = TestEnv::new();
    let study = env.study();
    let sealed = std::fs::read_to_string(study.path("keys/dropbox.enc")).unwrap();
    let cases = [
        ("crlf.enc", sealed.replace('\n', "\r\n"), "line endings"),
        (
            "big.enc",
            sealed.clone() + &"a".repeat(70_000),
            "larger than 64 KiB",
        ),
        (
            "huge-m.enc",
            sealed.replace("m=65536", "m=99999999999999999999999999"),
            "m=99999999999999999999999999 t=3 p=1",
        ),
    ];
    for (name, text, expected) in cases {
        study.write(&format!("keys/{name}"), text);
        let out = key_check(&study, &format!("keys/{name}"));
        assert_fails(&out, 4, expected);
        assert!(!stderr(&out).contains("4294967295"), "{}", stderr(&out));
    }
    assert_fails(&key_check(&study, "keys/crlf.enc"), 4, "*.enc -text");
    // An OS error is said once.
    let text = stderr(&key_check(&study, "keys"));
    assert_eq!(text.matches("folder").count(), 1, "{text}");
    let text = stderr(&key_check(&study, "keys/missing.enc"));
    assert_eq!(text.matches("does not exist").count(), 1, "{text}");
}

#[cfg(unix)]
#[test]
fn a_dangling_symlink_is_reported_with_its_target_and_destination() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("res/a.txt", b"a");
    std::os::unix::fs::symlink(study.path("res/gone.txt"), study.path("res/link")).unwrap();
    study.config(&[("folder", "res", "/r")]);
    let out = study.post(&[]).output().unwrap();
    assert_fails(&out, 6, "-> /r/link: dangling symlink");
    assert!(stderr(&out).contains("gone.txt"), "{}", stderr(&out));
}

/// Issue 21 red team: folders listed before an unsafe name were made although the error
/// said "nothing was written".
#[test]
fn an_unsafe_name_in_a_listing_makes_nothing() {
    let folder = |name: &str| {
        json!({".tag": "folder", "name": name, "id": format!("id:{name}"),
            "path_display": format!("/{name}"), "path_lower": format!("/{name}")})
    };
    let listing = json!({"entries": [folder("a"), folder("b"),
        file_metadata("z\0evil.txt", "/z\0evil.txt", 3)], "cursor": "c", "has_more": false});
    let server = HostileServer::start(Router::new().route(
        "/2/files/list_folder",
        post(move || async move { axum::Json(listing) }),
    ));
    let env = TestEnv::new();
    let study = env.study();
    std::fs::create_dir_all(study.path("got")).unwrap();
    let out = against(&study, &server, &["get", "/", "got"]);
    assert_fails(&out, 6, "nothing was written");
    assert!(
        tree(&study.path("got")).is_empty(),
        "{:?}",
        tree(&study.path("got"))
    );
}

// ---- Finding 8: control characters, bidi and unusable dests -----------------------------

#[test]
fn server_names_cannot_drive_the_terminal() {
    let evil = "\u{1b}]0;pwned\u{7}\u{1b}[2Jreport\u{202e}vsc.exe";
    let listing = json!({"entries": [file_metadata(evil, &format!("/{evil}"), 3)],
        "cursor": "c", "has_more": false});
    let server = HostileServer::start(Router::new().route(
        "/2/files/list_folder",
        post(move || async move { axum::Json(listing) }),
    ));
    let env = TestEnv::new();
    let out = against(&env.study(), &server, &["ls", "--long"]);
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}']), "{text:?}");
    assert!(
        text.contains("\\u{1b}]0;pwned\\u{7}\\u{1b}[2Jreport\\u{202e}vsc.exe"),
        "{text}"
    );
}

#[test]
fn dests_dropbox_would_refuse_are_refused_before_anything_is_sent() {
    let env = TestEnv::new();
    let study = env.study();
    study.write("post/r.csv", b"1");
    let long = format!("/{}", "d".repeat(5_000));
    for dest in ["/a\u{202e}b", "/a\\..\\b", &long, &"/abc".repeat(1_000)] {
        study.config(&[("file", "post/r.csv", dest)]);
        assert_fails(&study.post(&[]).output().unwrap(), 3, "dest");
    }
    assert!(files(&env.emulator().file("/")).is_empty());
}

// ---- Finding 9: the costliest sealed file -----------------------------------------------

#[test]
fn kdf_parameters_past_the_documented_worst_case_are_refused() {
    let env = TestEnv::new();
    let study = env.study();
    let sealed = std::fs::read_to_string(study.path("keys/dropbox.enc")).unwrap();
    study.write(
        "keys/costly.enc",
        sealed.replace("m=65536 t=3 p=1", "m=1048576 t=16 p=16"),
    );
    // Refused from the header, not after minutes of Argon2.
    let mut check = study.cmd();
    check
        .args(["key", "check", "--encrypted", "keys/costly.enc"])
        .password(PASSWORD);
    let out = output_within(&mut check, Duration::from_secs(10));
    assert_fails(&out, 4, "beyond the limits");
}

// ---- Finding 10: an unreadable folder ---------------------------------------------------

#[cfg(unix)]
#[test]
fn an_unreadable_folder_is_reported_and_not_created_empty() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new();
    let study = env.study();
    study.write("res/a.txt", b"a");
    study.write("res/locked/inner.txt", b"x");
    study.config(&[("folder", "res", "/r")]);
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let mut post = study.post_command(&env.emulator().url, &[]);
    // Root reads any folder: run as nobody, with the env open to it.
    if unsafe { libc::geteuid() } == 0 {
        for entry in walkdir::WalkDir::new(env.root()) {
            let entry = entry.unwrap();
            mode(
                entry.path(),
                if entry.file_type().is_dir() {
                    0o777
                } else {
                    0o644
                },
            );
        }
        post.uid(65534).gid(65534);
    }
    mode(&study.path("res/locked"), 0o000);
    let out = guarded(post).output().unwrap();
    mode(&study.path("res/locked"), 0o755);
    assert_fails(&out, 6, "locked");
    assert_eq!(files(&env.emulator().file("/r")), ["a.txt"]);
    assert!(
        !env.emulator().file("/r/locked").exists(),
        "an empty /r/locked was created"
    );
}
