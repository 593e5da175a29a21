//! Issue 17: a hostile server, config or file must not write, leak, hang or exhaust.
//! One test (or more) per finding, against a hostile server written for the test
//! (`support/hostile_server.rs`) or the real emulator; docs/security.md lists which is which.

#[path = "support/hostile_server.rs"]
mod hostile_server;
mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use futures_util::StreamExt;
use hostile_server::{HostileServer, authorization, file_metadata};
use serde_json::json;
use support::{Emulator, PASSWORD, Study, TOKEN, bin};

/// The binary with HOME and the cache in temporary folders, no inherited settings, the
/// study's password in the environment.
fn dropbox_post(study: &Study, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("HOME", study.cache.path().join("home"))
        .env("DROPBOX_POST_CACHE_DIR", study.cache.path().join("cache"))
        .env("DROPBOX_POST_PASSWORD", PASSWORD)
        .env_remove("DROPBOX_POST_ENDPOINT")
        .env_remove("RUST_LOG")
        .current_dir(study.dir.path())
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd`, killing it after `limit` (a hang is a failure, not a stuck test run).
fn run(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `post` of the study's config to the emulator, with HOME in a temporary folder.
fn post_config(study: &Study, emulator: &Emulator, extra: &[&str]) -> Output {
    let home = study.cache.path().join("home");
    study
        .post(emulator, extra)
        .env("HOME", home)
        .output()
        .unwrap()
}

fn output(study: &Study, args: &[&str]) -> Output {
    run(dropbox_post(study, args), Duration::from_secs(60))
}

/// `args` with the study's sealed key, against the server at `url`.
fn against(study: &Study, url: &str, args: &[&str]) -> Output {
    let key = ["--encrypted", "keys/dropbox.enc", "--endpoint", url];
    output(study, &[args, &key].concat())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn all_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// A server whose `get_metadata` answers `meta` and whose download is `download`.
fn serving(meta: serde_json::Value, download: MethodRouter) -> HostileServer {
    HostileServer::start(
        Router::new()
            .route(
                "/2/files/get_metadata",
                post(move || async move { axum::Json(meta) }),
            )
            .route("/2/files/download", download),
    )
}

/// A server whose `get_metadata` calls the file `name` and whose download sends `body`.
fn serving_file(name: &str, body: &'static [u8]) -> HostileServer {
    let meta = file_metadata(name, "/res/run.csv", body.len() as u64);
    let header = meta.to_string();
    let download =
        post(move || async move { ([("dropbox-api-result", header)], body).into_response() });
    serving(meta, download)
}

// ---- `get` of a single file writes where the server's name says -----------------------

#[test]
fn get_refuses_file_names_that_leave_the_target() {
    let study = Study::new();
    let outside = tempfile::tempdir().unwrap();
    let escaped = outside.path().join("escaped.txt");
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
        let server = serving_file(name, b"overwritten by the server");
        let out = against(&study, &server.url, &get);
        assert_eq!(out.status.code(), Some(6), "{name:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("unsafe name"), "{}", stderr(&out));
        assert!(!escaped.exists(), "{name:?} wrote {}", escaped.display());
        assert!(!study.path("target/escaped.txt").exists(), "{name:?}");
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "{name:?}");
    }
    // The file asked for still lands, in the case Dropbox spells it.
    let server = serving_file("Run.csv", b"fine");
    support::assert_success(&against(&study, &server.url, &get));
    assert_eq!(std::fs::read(target.join("Run.csv")).unwrap(), b"fine");
}

// ---- Finding 1 and 6: files that never end or never open -------------------------------

#[cfg(unix)]
#[test]
fn password_files_that_are_devices_or_fifos_fail_at_once() {
    let study = Study::new();
    let fifo = study.path("pw.fifo");
    mkfifo(&fifo);
    for file in ["/dev/zero", fifo.to_str().unwrap()] {
        let mut cmd = dropbox_post(
            &study,
            &[
                "key",
                "check",
                "--encrypted",
                "keys/dropbox.enc",
                "--password-file",
                file,
            ],
        );
        cmd.env_remove("DROPBOX_POST_PASSWORD");
        let out = run(cmd, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(4), "{file}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{file}: {}",
            stderr(&out)
        );
    }
}

#[cfg(unix)]
#[test]
fn sealed_files_and_configs_that_are_fifos_fail_at_once() {
    let study = Study::new();
    let fifo = study.path("keys/other.enc");
    mkfifo(&fifo);
    let out = run(
        dropbox_post(&study, &["key", "check", "--encrypted", "keys/other.enc"]),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("a FIFO (named pipe), not a regular file"));
    let config = study.path("conf/config.xml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    mkfifo(&config);
    let out = run(
        dropbox_post(&study, &["post", "--config", "conf/config.xml"]),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
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
    let server_error = |headers: HeaderMap| async move {
        let echo = authorization(&headers);
        (StatusCode::INTERNAL_SERVER_ERROR, format!("oops {echo}"))
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
    let study = Study::new();
    let server = echo_server();
    for args in [
        &["whoami"][..],
        &["ls", "/"],
        &["-vv", "ls", "/res"],
        &["-vv", "get", "/res/x", "out"],
    ] {
        let out = against(&study, &server.url, args);
        let text = all_text(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(!text.contains(TOKEN), "{args:?} printed the token: {text}");
        assert!(!text.contains(&TOKEN[..16]), "{args:?}: {text}");
        assert!(text.contains("[REDACTED]"), "{args:?}: {text}");
    }
}

#[test]
fn a_token_endpoint_echoing_the_refresh_token_and_app_secret_never_gets_them_printed() {
    let refresh = "refresh-token-that-must-stay-secret";
    let secret = "app-secret-that-must-stay-secret";
    let credential = json!({"type": "refresh_token", "app_key": "hostile-app",
        "app_secret": secret, "refresh_token": refresh});
    let study = Study::with_credential(&credential.to_string());
    let server = HostileServer::start(Router::new().route(
        "/oauth2/token",
        post(|form: String| async move {
            let body = json!({"error": format!("invalid_grant {form}"),
                "error_description": form});
            (StatusCode::BAD_REQUEST, axum::Json(body))
        }),
    ));
    let out = against(&study, &server.url, &["-vv", "whoami"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(5), "{text}");
    for leaked in [refresh, secret] {
        assert!(!text.contains(&leaked[..16]), "{text}");
    }
    assert!(text.contains("[REDACTED]"), "{text}");
}

// ---- Finding 3: reading outside the study -----------------------------------------------

#[test]
fn a_config_cannot_post_and_share_files_from_outside_the_study() {
    let emulator = Emulator::start(&[]);
    let study = Study::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "private").unwrap();
    let path = outside.path().join("secret.txt");
    let relative = format!(
        "../{}/secret.txt",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    for given in [path.to_str().unwrap(), relative.as_str()] {
        let xml = share_config(given, &[("share", "true"), ("allow_outside", "true")]);
        study.write("conf/config.xml", xml.as_bytes());
        let out = post_config(&study, &emulator, &[]);
        assert_eq!(out.status.code(), Some(3), "{given}: {}", stderr(&out));
        assert!(stderr(&out).contains("outside the study directory"));
        assert!(stderr(&out).contains("--allow-outside"));
        assert!(emulator.files_under("/pub").is_empty());
    }
    // Without share, the script's own param suffices; with share, only the flag does.
    study.write(
        "conf/config.xml",
        share_config(&relative, &[("allow_outside", "true")]).as_bytes(),
    );
    support::assert_success(&post_config(&study, &emulator, &[]));
    study.write(
        "conf/config.xml",
        share_config(&relative, &[("share", "true")]).as_bytes(),
    );
    let out = post_config(&study, &emulator, &["--allow-outside"]);
    support::assert_success(&out);
    assert!(stderr(&out).contains("link: "), "{}", stderr(&out));
}

/// A config posting `path` (a file) to /pub with extra params.
fn share_config(path: &str, extra: &[(&str, &str)]) -> String {
    let extra: String = extra
        .iter()
        .map(|(k, v)| format!("<param name=\"{k}\">{v}</param>"))
        .collect();
    format!(
        "<librec-auto><post><script><script-name>dropbox_post.py</script-name>\
         <param name=\"option\">file</param>\
         <param name=\"encrypted_key\">keys/dropbox.enc</param>\
         <param name=\"path\">{path}</param><param name=\"dest\">/pub</param>{extra}\
         </script></post></librec-auto>"
    )
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_a_posted_folder_are_not_followed_without_the_opt_in() {
    let emulator = Emulator::start(&[]);
    let study = Study::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("id_rsa"), "private key").unwrap();
    study.write("res/a.txt", b"a");
    std::os::unix::fs::symlink(outside.path().join("id_rsa"), study.path("res/key")).unwrap();
    std::os::unix::fs::symlink(outside.path(), study.path("res/home")).unwrap();
    std::os::unix::fs::symlink("a.txt", study.path("res/inside")).unwrap();
    study.config(&[("folder", "res", "/r")]);
    let out = post_config(&study, &emulator, &[]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("outside the posted folder"));
    assert_eq!(emulator.files_under("/r"), ["a.txt", "inside"]);
    support::assert_success(&post_config(&study, &emulator, &["--allow-outside"]));
    assert_eq!(
        emulator.files_under("/r"),
        ["a.txt", "home/id_rsa", "inside", "key"]
    );
}

// ---- Finding 4: configs that are slow or lose text --------------------------------------

#[test]
fn hostile_configs_are_refused_fast_and_nothing_is_dropped() {
    let emulator = Emulator::start(&[]);
    let study = Study::new();
    study.write("post/r.csv", b"1");
    let refused = |xml: &str, expected: &str| {
        study.write("conf/config.xml", xml.as_bytes());
        let args = [
            "post",
            "--config",
            "conf/config.xml",
            "--endpoint",
            &emulator.url,
        ];
        let out = run(dropbox_post(&study, &args), Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    };
    // 50,000-deep nesting inside a param: once silently dropped (dest became `/a`).
    let deep = "<x>".repeat(50_000) + "b" + &"</x>".repeat(50_000);
    let config = share_config("post/r.csv", &[]).replace("/pub", &format!("/a{deep}"));
    refused(&config, "<param> holds an element");
    let nested = format!(
        "<librec-auto><post>{}{}</post></librec-auto>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    refused(&nested, "nested more than");
    // 5,000 scripts, one per line, the last one wrong: every one is read and checked, and
    // the mistake is placed on its own line.
    let one = share_config("post/r.csv", &[]);
    let script = &one[one.find("<script>").unwrap()..one.find("</post>").unwrap()];
    let bad = script.replace(">file<", ">files<");
    let many = format!(
        "<librec-auto><post>\n{}{bad}\n</post></librec-auto>",
        format!("{script}\n").repeat(4_999)
    );
    refused(&many, "config.xml:5001: post script 5000");
    assert!(emulator.files_under("/").is_empty());
}

// ---- Finding 5: listings and downloads without end --------------------------------------

#[test]
fn a_listing_that_never_ends_is_refused() {
    let pages = Arc::new(AtomicUsize::new(0));
    let count = pages.clone();
    let endless = move || {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::Relaxed);
            axum::Json(json!({"entries": [], "cursor": "again", "has_more": true}))
        }
    };
    let server = HostileServer::start(
        Router::new()
            .route("/2/files/list_folder", post(endless.clone()))
            .route("/2/files/list_folder/continue", post(endless)),
    );
    let study = Study::new();
    let out = against(&study, &server.url, &["ls"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("goes on past"), "{}", stderr(&out));
    assert!(pages.load(Ordering::Relaxed) <= 5_000);
}

#[test]
fn a_download_longer_than_announced_stops_at_the_announced_size() {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let meta = file_metadata("run.csv", "/res/run.csv", 24);
    let header = meta.to_string();
    let server = serving(
        meta,
        post(move || {
            let counter = counter.clone();
            let header = header.clone();
            async move {
                // 1 GiB, made as it is read: what the server produced is what the
                // client took (plus socket buffers).
                let chunk = bytes::Bytes::from(vec![b'x'; 1 << 20]);
                let stream = futures_util::stream::iter(0..1024).map(move |_| {
                    counter.fetch_add(1 << 20, Ordering::Relaxed);
                    Ok::<_, std::io::Error>(chunk.clone())
                });
                let body = Body::from_stream(stream);
                Response::builder()
                    .header("dropbox-api-result", header)
                    .body(body)
                    .unwrap()
            }
        }),
    );
    let study = Study::new();
    let target = study.path("got");
    std::fs::create_dir_all(&target).unwrap();
    let out = against(&study, &server.url, &["get", "/res/run.csv", "got"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("more than the 24 bytes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "nothing kept"
    );
    let produced = sent.load(Ordering::Relaxed);
    assert!(produced < 64 << 20, "the server streamed {produced} bytes");
}

// ---- Finding 7: messages that mislead ---------------------------------------------------

#[test]
fn damaged_sealed_files_say_what_happened() {
    let study = Study::new();
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
        study.write(&format!("keys/{name}"), text.as_bytes());
        let out = output(
            &study,
            &["key", "check", "--encrypted", &format!("keys/{name}")],
        );
        assert_eq!(out.status.code(), Some(4), "{name}");
        assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
        assert!(!stderr(&out).contains("4294967295"), "{}", stderr(&out));
    }
    let crlf = output(&study, &["key", "check", "--encrypted", "keys/crlf.enc"]);
    assert!(stderr(&crlf).contains("*.enc -text"), "{}", stderr(&crlf));
    // An OS error is said once.
    let out = output(&study, &["key", "check", "--encrypted", "keys"]);
    let text = stderr(&out);
    assert_eq!(text.matches("folder").count(), 1, "{text}");
    let out = output(&study, &["key", "check", "--encrypted", "keys/missing.enc"]);
    let text = stderr(&out);
    assert_eq!(text.matches("No such file").count(), 1, "{text}");
}

#[cfg(unix)]
#[test]
fn a_dangling_symlink_is_reported_with_its_target_and_destination() {
    let emulator = Emulator::start(&[]);
    let study = Study::new();
    study.write("res/a.txt", b"a");
    std::os::unix::fs::symlink(study.path("res/gone.txt"), study.path("res/link")).unwrap();
    study.config(&[("folder", "res", "/r")]);
    let out = post_config(&study, &emulator, &[]);
    assert_eq!(out.status.code(), Some(6));
    let text = stderr(&out);
    assert!(text.contains("-> /r/link: dangling symlink"), "{text}");
    assert!(text.contains("gone.txt"), "{text}");
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
    let study = Study::new();
    let out = against(&study, &server.url, &["ls", "--long"]);
    support::assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(!text.contains('\u{202e}'), "{text:?}");
    assert!(
        text.contains("\\u{1b}]0;pwned\\u{7}\\u{1b}[2Jreport\\u{202e}vsc.exe"),
        "{text}"
    );
}

#[test]
fn dests_dropbox_would_refuse_are_refused_before_anything_is_sent() {
    let emulator = Emulator::start(&[]);
    let study = Study::new();
    study.write("post/r.csv", b"1");
    let long = format!("/{}", "d".repeat(5_000));
    let segments = "/abc".repeat(1_000);
    for dest in ["/a\u{202e}b", "/a\\..\\b", &long, &segments] {
        study.config(&[("file", "post/r.csv", dest)]);
        let out = post_config(&study, &emulator, &[]);
        assert_eq!(out.status.code(), Some(3), "{dest:.40}: {}", stderr(&out));
        assert!(stderr(&out).contains("dest"), "{}", stderr(&out));
    }
    assert!(emulator.files_under("/").is_empty());
}

// ---- Finding 9: the costliest sealed file -----------------------------------------------

#[test]
fn kdf_parameters_past_the_documented_worst_case_are_refused() {
    let study = Study::new();
    let sealed = std::fs::read_to_string(study.path("keys/dropbox.enc")).unwrap();
    let costly = sealed.replace("m=65536 t=3 p=1", "m=1048576 t=16 p=16");
    study.write("keys/costly.enc", costly.as_bytes());
    let out = run(
        dropbox_post(&study, &["key", "check", "--encrypted", "keys/costly.enc"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("beyond the limits"),
        "{}",
        stderr(&out)
    );
}

// ---- Finding 10: an unreadable folder ---------------------------------------------------

#[cfg(unix)]
#[test]
fn an_unreadable_folder_is_reported_and_not_created_empty() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let emulator = Emulator::start(&[]);
    let study = Study::new();
    study.write("res/a.txt", b"a");
    study.write("res/locked/inner.txt", b"x");
    study.config(&[("folder", "res", "/r")]);
    let mode = |path: PathBuf, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    mode(study.path("res/locked"), 0o000);
    let mut cmd = dropbox_post(
        &study,
        &[
            "post",
            "--config",
            "conf/config.xml",
            "--endpoint",
            &emulator.url,
        ],
    );
    // Root reads any folder: run as nobody, with the study readable to it.
    if unsafe { libc::geteuid() } == 0 {
        for dir in [study.dir.path(), study.cache.path()] {
            mode(dir.to_path_buf(), 0o777);
        }
        for rel in [
            "keys",
            "keys/dropbox.enc",
            "conf",
            "conf/config.xml",
            "res",
            "res/a.txt",
        ] {
            mode(study.path(rel), 0o755);
        }
        cmd.uid(65534).gid(65534);
    }
    let out = run(cmd, Duration::from_secs(60));
    mode(study.path("res/locked"), 0o755);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("locked"), "{}", stderr(&out));
    assert_eq!(emulator.files_under("/r"), ["a.txt"]);
    assert!(
        !emulator.file("/r/locked").exists(),
        "an empty /r/locked was created"
    );
}

// ---- Finding 11: the emulator under a hostile client ------------------------------------

#[tokio::test]
async fn the_emulator_caps_what_a_token_keeps_in_sessions() {
    let emulator = Emulator::start(&["--max-staged-mib", "1"]);
    let http = reqwest::Client::new();
    let upload = |route: &str, arg: String, len: usize| {
        http.post(format!("{}/2/files/upload_session/{route}", emulator.url))
            .bearer_auth(TOKEN)
            .header("Dropbox-API-Arg", arg)
            .header("Content-Type", "application/octet-stream")
            .body(vec![7u8; len])
            .send()
    };
    let first = upload("start", "{}".into(), 600 << 10).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = upload("start", "{}".into(), 600 << 10).await.unwrap();
    assert_eq!(second.status(), StatusCode::CONFLICT);
    assert!(second.text().await.unwrap().contains("insufficient_space"));
    let session: serde_json::Value = first.json().await.unwrap();
    let commit = json!({"cursor": {"session_id": session["session_id"], "offset": 600 << 10},
        "commit": {"path": "/big.bin"}});
    let finish = upload("finish", commit.to_string(), 0).await.unwrap();
    assert_eq!(finish.status(), StatusCode::OK);
    let again = upload("start", "{}".into(), 600 << 10).await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "committed bytes are free again"
    );
}

#[test]
fn the_emulator_closes_idle_and_slow_header_connections() {
    let emulator = Emulator::start(&["--idle-timeout", "1"]);
    let addr = emulator.url.trim_start_matches("http://").to_string();
    let closed_within = |mut stream: std::net::TcpStream, dribble: bool| {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let started = Instant::now();
        let header = b"POST /2/users/get_current_account HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        let _ = stream.write_all(if dribble { header } else { b"" });
        loop {
            assert!(started.elapsed() < Duration::from_secs(15), "still open");
            if dribble && stream.write_all(b"a").is_err() {
                return started.elapsed();
            }
            match stream.read(&mut [0u8; 256]) {
                Ok(0) => return started.elapsed(),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return started.elapsed(),
            }
        }
    };
    let idle = std::net::TcpStream::connect(&addr).unwrap();
    assert!(closed_within(idle, false) < Duration::from_secs(10));
    let slow = std::net::TcpStream::connect(&addr).unwrap();
    assert!(closed_within(slow, true) < Duration::from_secs(10));
}

#[tokio::test]
async fn the_emulator_parses_bearer_strictly() {
    let emulator = Emulator::start(&[]);
    let http = reqwest::Client::new();
    let call = |value: String| {
        http.post(format!("{}/2/users/get_current_account", emulator.url))
            .header("Authorization", value)
            .send()
    };
    let ok = call(format!("Bearer {TOKEN}")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    for bad in [
        format!("Bearer  {TOKEN}"),
        format!("bearer {TOKEN}"),
        format!("Bearer {TOKEN}\tx"),
    ] {
        let status = call(bad.clone()).await.unwrap().status();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
}
