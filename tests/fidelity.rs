//! Fidelity: the Dropbox behaviours real users hit, against real emulator processes.
//! The emulator's side (scopes and `missing_scope`, OAuth scope narrowing, team spaces and
//! `Dropbox-API-Path-Root`, app authentication, `files/delete`, `copy_v2`, `move_v2`), then
//! dropbox-post's side end to end: every failure a user can cause from the App Console is
//! one line with the remedy, and `post`/`ls`/`get`/`whoami` work in a team space.

mod support;

use std::collections::HashMap;
use std::process::Output;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Emulator, PASSWORD, Study, TOKEN, assert_success, bin};

const ROOT_NS: &str = "1920468532";
const HOME_NS: &str = "3235641";

fn root_header(ns: &str) -> String {
    json!({".tag": "root", "root": ns}).to_string()
}

fn route(emu: &Emulator, route: &str) -> String {
    format!("{}/2/{route}", emu.url)
}

/// Status and body (JSON when it parses, else text).
async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn download(emu: &Emulator, path: &str) -> Vec<u8> {
    let r = reqwest::Client::new()
        .post(route(emu, "files/download"))
        .bearer_auth(TOKEN)
        .header("Dropbox-API-Arg", json!({ "path": path }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "download {path}");
    r.bytes().await.unwrap().to_vec()
}

/// An RPC call with the test token, in the home namespace.
async fn rpc(emu: &Emulator, name: &str, arg: Value) -> (StatusCode, Value) {
    call(emu, TOKEN, name, arg, None).await
}

/// `list_folder` of `""` in the namespace `root` names.
async fn listing(emu: &Emulator, root: &str) -> (StatusCode, Value) {
    call(
        emu,
        TOKEN,
        "files/list_folder",
        json!({"path": ""}),
        Some(root),
    )
    .await
}

/// An RPC call with `token` and an optional `Dropbox-API-Path-Root`.
async fn call(
    emu: &Emulator,
    token: &str,
    name: &str,
    arg: Value,
    root: Option<&str>,
) -> (StatusCode, Value) {
    let mut r = reqwest::Client::new()
        .post(route(emu, name))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(arg.to_string());
    if let Some(root) = root {
        r = r.header("Dropbox-API-Path-Root", root);
    }
    body(r.send().await.unwrap()).await
}

/// A `files/upload` with an optional `Dropbox-API-Path-Root`.
async fn upload(
    emu: &Emulator,
    path: &str,
    data: &'static [u8],
    root: Option<&str>,
) -> (StatusCode, Value) {
    let mut r = reqwest::Client::new()
        .post(route(emu, "files/upload"))
        .bearer_auth(TOKEN)
        .header("Dropbox-API-Arg", json!({ "path": path }).to_string())
        .header("Content-Type", "application/octet-stream")
        .body(data);
    if let Some(root) = root {
        r = r.header("Dropbox-API-Path-Root", root);
    }
    body(r.send().await.unwrap()).await
}

fn assert_missing_scope((status, error): (StatusCode, Value), scope: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    assert_eq!(
        error["error"],
        json!({".tag": "missing_scope", "required_scope": scope})
    );
    assert_eq!(error["error_summary"], "missing_scope/..");
}

/// Authorizes `client_id` (approved at once) with `params` and redeems the code with its
/// secret: the token answer.
async fn authorize(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    secret: &str,
    params: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut query = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("token_access_type", "offline"),
    ];
    query.extend_from_slice(params);
    let url = url::Url::parse_with_params(&format!("{base}/oauth2/authorize"), &query).unwrap();
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let code = r.text().await.unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.trim()),
        ("client_id", client_id),
        ("client_secret", secret),
    ];
    let r = http
        .post(format!("{base}/oauth2/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    body(r).await
}

async fn refresh(emu: &Emulator, refresh_token: &str, scope: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "key"),
        ("client_secret", "secret"),
    ];
    form.extend(scope.map(|s| ("scope", s)));
    let r = reqwest::Client::new()
        .post(format!("{}/oauth2/token", emu.url))
        .form(&form)
        .send()
        .await
        .unwrap();
    body(r).await
}

#[tokio::test]
async fn every_route_checks_its_scope() {
    let emu = Emulator::start(&["--token", "bare="]);
    let table = [
        ("files/upload", "files.content.write"),
        ("files/upload_session/start", "files.content.write"),
        ("files/upload_session/append_v2", "files.content.write"),
        ("files/upload_session/finish", "files.content.write"),
        (
            "files/upload_session/finish_batch_v2",
            "files.content.write",
        ),
        ("files/create_folder_v2", "files.content.write"),
        ("files/delete_v2", "files.content.write"),
        ("files/delete", "files.content.write"),
        ("files/copy_v2", "files.content.write"),
        ("files/move_v2", "files.content.write"),
        ("files/download", "files.content.read"),
        ("files/list_folder", "files.metadata.read"),
        ("files/list_folder/continue", "files.metadata.read"),
        ("files/get_metadata", "files.metadata.read"),
        ("users/get_current_account", "account_info.read"),
        ("check/user", "account_info.read"),
        ("sharing/create_shared_link_with_settings", "sharing.write"),
        ("sharing/list_shared_links", "sharing.read"),
    ];
    for (route, scope) in table {
        // The scope is checked before the argument: even a bad one gets the 401.
        assert_missing_scope(call(&emu, "bare", route, Value::Null, None).await, scope);
    }
    // The default token has every scope a files+sharing+account app has.
    let (s, _) = rpc(&emu, "check/user", json!({"query": "x"})).await;
    assert_eq!(s, StatusCode::OK);
}

#[test]
fn an_unknown_scope_is_a_usage_error_that_never_shows_the_token() {
    let dir = tempfile::tempdir().unwrap();
    for flag in [
        ["--token", "s3cret-tok=files.content.wirte"],
        ["--app", "key:s3cret-app=wat"],
    ] {
        let out = std::process::Command::new(bin())
            .args(["emulate", "--root"])
            .arg(dir.path())
            .args(flag)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("unknown scope") && !stderr.contains("s3cret"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn a_refresh_narrows_the_token_and_routes_outside_it_are_refused() {
    let emu = Emulator::start(&["--app", "key:secret=files.metadata.read files.content.read"]);
    let (s, t) = authorize(&reqwest::Client::new(), &emu.url, "key", "secret", &[]).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    // The app's scopes, account_info.read always among them.
    assert_eq!(
        t["scope"],
        "account_info.read files.content.read files.metadata.read"
    );
    let refresh_token = t["refresh_token"].as_str().unwrap().to_string();
    let access = t["access_token"].as_str().unwrap();
    assert_missing_scope(
        body(
            reqwest::Client::new()
                .post(route(&emu, "files/upload"))
                .bearer_auth(access)
                .header("Dropbox-API-Arg", r#"{"path":"/a"}"#)
                .header("Content-Type", "application/octet-stream")
                .body("x")
                .send()
                .await
                .unwrap(),
        )
        .await,
        "files.content.write",
    );

    let (s, narrow) = refresh(&emu, &refresh_token, Some("files.metadata.read")).await;
    assert_eq!(s, StatusCode::OK, "{narrow}");
    assert_eq!(narrow["scope"], "files.metadata.read");
    let narrow = narrow["access_token"].as_str().unwrap();
    let (s, _) = call(&emu, narrow, "files/list_folder", json!({"path": ""}), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_missing_scope(
        call(&emu, narrow, "files/download", Value::Null, None).await,
        "files.content.read",
    );
    assert_missing_scope(
        call(&emu, narrow, "users/get_current_account", Value::Null, None).await,
        "account_info.read",
    );
    // A refresh cannot widen its grant; without scope= it gets the whole grant back.
    let (s, e) = refresh(&emu, &refresh_token, Some("files.content.write")).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (s, full) = refresh(&emu, &refresh_token, None).await;
    assert_eq!(s, StatusCode::OK);
    let full = full["access_token"].as_str().unwrap();
    let (s, _) = call(&emu, full, "users/get_current_account", Value::Null, None).await;
    assert_eq!(s, StatusCode::OK);

    // An authorization may ask for a subset, and add what was granted before.
    let (_, t) = authorize(
        &reqwest::Client::new(),
        &emu.url,
        "key",
        "secret",
        &[("scope", "files.content.read")],
    )
    .await;
    assert_eq!(t["scope"], "files.content.read");
    let (_, t) = authorize(
        &reqwest::Client::new(),
        &emu.url,
        "key",
        "secret",
        &[
            ("scope", "files.metadata.read"),
            ("include_granted_scopes", "user"),
        ],
    )
    .await;
    assert_eq!(
        t["scope"],
        "account_info.read files.content.read files.metadata.read"
    );
}

#[tokio::test]
async fn check_user_and_check_app() {
    let emu = Emulator::start(&["--app", "key:secret", "--app", "pkce-only"]);
    let (s, r) = rpc(&emu, "check/user", json!({"query": "ping"})).await;
    assert_eq!((s, r), (StatusCode::OK, json!({"result": "ping"})));
    let (s, _) = call(&emu, "nope", "check/user", json!({}), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, e) = rpc(&emu, "check/user", json!({"query": "q".repeat(501)})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    let app = |user: &str, pass: Option<&str>| {
        reqwest::Client::new()
            .post(route(&emu, "check/app"))
            .basic_auth(user, pass)
            .header("Content-Type", "application/json")
            .body(r#"{"query":"hello"}"#)
            .send()
    };
    let (s, r) = body(app("key", Some("secret")).await.unwrap()).await;
    assert_eq!((s, r), (StatusCode::OK, json!({"result": "hello"})));
    for (user, pass) in [
        ("key", Some("wrong")),
        ("key", None),
        ("pkce-only", Some("x")),
        ("other", Some("secret")),
    ] {
        let (s, e) = body(app(user, pass).await.unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(e["error"][".tag"], "invalid_access_token");
    }
    // A user token is not app authentication.
    let (s, e) = rpc(&emu, "check/app", json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e.as_str().unwrap().contains("Basic"), "{e}");
}

#[tokio::test]
async fn delete_v1_copy_and_move() {
    let emu = Emulator::start(&[]);
    for (path, data) in [
        ("/src/a.txt", &b"alpha"[..]),
        ("/src/sub/b.txt", b"beta"),
        ("/gone.txt", b"x"),
    ] {
        assert_eq!(upload(&emu, path, data, None).await.0, StatusCode::OK);
    }
    // files/delete answers the bare metadata, not a DeleteResult.
    let (s, m) = rpc(&emu, "files/delete", json!({"path": "/gone.txt"})).await;
    assert_eq!(
        (s, m[".tag"].as_str(), m["path_display"].as_str()),
        (StatusCode::OK, Some("file"), Some("/gone.txt"))
    );
    let (s, e) = rpc(&emu, "files/delete", json!({"path": "/gone.txt"})).await;
    assert_eq!(
        (s, e["error_summary"].as_str()),
        (StatusCode::CONFLICT, Some("path_lookup/not_found/."))
    );

    let (_, a) = rpc(&emu, "files/get_metadata", json!({"path": "/src/a.txt"})).await;
    let (s, c) = rpc(
        &emu,
        "files/copy_v2",
        json!({"from_path": "/src/a.txt", "to_path": "/Copies/A.txt"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let c = &c["metadata"];
    assert_eq!(
        (c[".tag"].as_str(), c["path_display"].as_str()),
        (Some("file"), Some("/Copies/A.txt"))
    );
    assert_eq!(c["content_hash"], a["content_hash"]);
    assert_ne!(c["id"], a["id"]);
    assert_eq!(download(&emu, "/Copies/A.txt").await, b"alpha");
    assert_eq!(download(&emu, "/src/a.txt").await, b"alpha");
    // A folder is copied with everything below it.
    let (s, _) = rpc(
        &emu,
        "files/copy_v2",
        json!({"from_path": "/src", "to_path": "/src2"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(download(&emu, "/src2/sub/b.txt").await, b"beta");

    let (_, cursor) = rpc(
        &emu,
        "files/list_folder",
        json!({"path": "", "recursive": true}),
    )
    .await;
    let (s, m) = rpc(
        &emu,
        "files/move_v2",
        json!({"from_path": "/src", "to_path": "/moved/src"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["metadata"][".tag"], "folder");
    let (_, b) = rpc(
        &emu,
        "files/get_metadata",
        json!({"path": "/moved/src/a.txt"}),
    )
    .await;
    assert_eq!(b["id"], a["id"], "a move keeps ids");
    assert_eq!(download(&emu, "/moved/src/sub/b.txt").await, b"beta");
    let (s, _) = rpc(&emu, "files/get_metadata", json!({"path": "/src/a.txt"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // The changes since: deletions at the old paths, entries at the new ones.
    let (_, changes) = rpc(
        &emu,
        "files/list_folder/continue",
        json!({"cursor": cursor["cursor"]}),
    )
    .await;
    let seen: HashMap<String, String> = changes["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path_lower"].as_str().unwrap().to_string(),
                e[".tag"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(seen["/src/sub/b.txt"], "deleted");
    assert_eq!(seen["/moved/src/sub/b.txt"], "file");

    // RelocationError, as the route's 409 union.
    let refused = [
        (
            json!({"from_path": "/nope", "to_path": "/x"}),
            "from_lookup/not_found/.",
        ),
        (
            json!({"from_path": "/src2", "to_path": "/moved/src"}),
            "to/conflict/folder/.",
        ),
        (
            json!({"from_path": "/src2", "to_path": "/src2/in"}),
            "cant_move_folder_into_itself/..",
        ),
        (
            json!({"from_path": "/src2", "to_path": "/SRC2"}),
            "duplicated_or_nested_paths/..",
        ),
        (
            json!({"from_path": "/src2/a.txt", "to_path": "/src2/a.txt/x"}),
            "to/conflict/file_ancestor/.",
        ),
    ];
    for (arg, summary) in refused {
        let (s, e) = rpc(&emu, "files/move_v2", arg.clone()).await;
        assert_eq!(
            (s, e["error_summary"].as_str()),
            (StatusCode::CONFLICT, Some(summary)),
            "{arg}"
        );
    }
    let (s, e) = rpc(
        &emu,
        "files/copy_v2",
        json!({"from_path": "/src2", "to_path": "/src2/in"}),
    )
    .await;
    assert_eq!(
        (s, e["error_summary"].as_str()),
        (StatusCode::CONFLICT, Some("duplicated_or_nested_paths/.."))
    );
    let (s, r) = rpc(
        &emu,
        "files/copy_v2",
        json!({"from_path": "/src2/a.txt", "to_path": "/Copies/A.txt", "autorename": true}),
    )
    .await;
    assert_eq!(
        (s, r["metadata"]["name"].as_str()),
        (StatusCode::OK, Some("A (1).txt"))
    );
    let (s, e) = rpc(
        &emu,
        "files/copy_v2",
        json!({"from_path": "src2", "to_path": "/x"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
}

#[tokio::test]
async fn a_team_account_has_a_root_and_a_home() {
    let emu = Emulator::start(&["--team"]);
    let (_, account) = rpc(&emu, "users/get_current_account", Value::Null).await;
    assert_eq!(
        account["root_info"],
        json!({".tag": "team", "root_namespace_id": ROOT_NS, "home_namespace_id": HOME_NS, "home_path": "/Emma Ulator"})
    );
    assert_eq!(account["account_type"][".tag"], "business");
    assert_eq!(account["team"]["name"], "Ulator Lab");

    // Without the header (or with home) paths are the member's folder's.
    let (s, m) = upload(&emu, "/Mine/a.txt", b"home", None).await;
    assert_eq!(
        (s, m["path_display"].as_str()),
        (StatusCode::OK, Some("/Mine/a.txt"))
    );
    assert_eq!(
        std::fs::read(emu.file("/Emma Ulator/Mine/a.txt")).unwrap(),
        b"home"
    );
    let root = root_header(ROOT_NS);
    let (s, m) = upload(&emu, "/Lab Results/b.txt", b"team", Some(&root)).await;
    assert_eq!(
        (s, m["path_display"].as_str()),
        (StatusCode::OK, Some("/Lab Results/b.txt"))
    );
    assert_eq!(
        std::fs::read(emu.file("/Lab Results/b.txt")).unwrap(),
        b"team"
    );
    // `ns:` paths reach a namespace whatever the header.
    let (s, m) = upload(
        &emu,
        &format!("ns:{ROOT_NS}/Lab Results/c.txt"),
        b"ns",
        None,
    )
    .await;
    assert_eq!(
        (s, m["path_lower"].as_str()),
        (StatusCode::OK, None),
        "outside home: no path"
    );
    assert!(emu.file("/Lab Results/c.txt").is_file());

    let names = |page: &Value| -> Vec<String> {
        let mut n: Vec<String> = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path_display"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let (_, home) = rpc(
        &emu,
        "files/list_folder",
        json!({"path": "", "recursive": true}),
    )
    .await;
    assert_eq!(names(&home), ["/Mine", "/Mine/a.txt"]);
    let by_id = json!({".tag": "namespace_id", "namespace_id": HOME_NS}).to_string();
    let (_, same) = call(
        &emu,
        TOKEN,
        "files/list_folder",
        json!({"path": "", "recursive": true}),
        Some(&by_id),
    )
    .await;
    assert_eq!(names(&same), names(&home));
    let (_, top) = listing(&emu, &root).await;
    assert_eq!(names(&top), ["/Emma Ulator", "/Lab Results"]);
    let (s, m) = call(
        &emu,
        TOKEN,
        "files/get_metadata",
        json!({"path": "/Emma Ulator/Mine/a.txt"}),
        Some(&root),
    )
    .await;
    assert_eq!(
        (s, m["path_lower"].as_str()),
        (StatusCode::OK, Some("/emma ulator/mine/a.txt"))
    );

    // A stale root answers 422 invalid_root with the account's root info; a namespace
    // the account cannot see, no_permission; a header that is no PathRoot, 400.
    let (s, e) = listing(&emu, &root_header(HOME_NS)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["error"][".tag"], "invalid_root");
    assert_eq!(e["error"]["invalid_root"], account["root_info"]);
    let other = json!({".tag": "namespace_id", "namespace_id": "777"}).to_string();
    let (s, e) = listing(&emu, &other).await;
    assert_eq!(
        (s, &e["error"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({".tag": "no_permission"})
        )
    );
    let (s, e) = listing(&emu, "{\"root\":1}").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(e.as_str().unwrap().contains("Dropbox-API-Path-Root"), "{e}");
    // Routes without paths ignore the header, so root_info can always be read.
    let (s, _) = call(
        &emu,
        TOKEN,
        "users/get_current_account",
        Value::Null,
        Some(&root_header("1")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_personal_account_is_its_own_root() {
    let emu = Emulator::start(&[]);
    let (_, account) = rpc(&emu, "users/get_current_account", Value::Null).await;
    assert_eq!(
        account["root_info"],
        json!({".tag": "user", "root_namespace_id": HOME_NS, "home_namespace_id": HOME_NS})
    );
    assert!(account.get("team").is_none());
    let (s, _) = listing(&emu, &root_header(HOME_NS)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = listing(&emu, &root_header(ROOT_NS)).await;
    assert_eq!(
        (s, &e["error"]["invalid_root"][".tag"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("user"))
    );
}

// dropbox-post end to end.

/// Runs the binary with an isolated HOME and cache and the study's password.
fn run(study: &Study, args: &[&str]) -> Output {
    let out = assert_cmd::Command::new(bin())
        .args(args)
        .env("HOME", study.cache.path())
        .env("DROPBOX_POST_CACHE_DIR", study.cache.path())
        .env("DROPBOX_POST_PASSWORD", PASSWORD)
        .env_remove("DROPBOX_POST_ENDPOINT")
        .current_dir(study.dir.path())
        .output()
        .unwrap();
    for stream in [&out.stdout, &out.stderr] {
        let s = String::from_utf8_lossy(stream);
        assert!(!s.contains(PASSWORD), "password in output: {s}");
    }
    out
}

/// `CMD ARGS --encrypted keys/dropbox.enc --endpoint URL`.
fn remote(study: &Study, emu: &Emulator, args: &[&str]) -> Output {
    let key = study.path("keys/dropbox.enc");
    let mut all = args.to_vec();
    all.extend(["--encrypted", key.to_str().unwrap(), "--endpoint", &emu.url]);
    run(study, &all)
}

fn post(study: &Study, emu: &Emulator, extra: &[&str]) -> Output {
    let config = study.path("conf/config.xml");
    let mut args = vec![
        "post",
        "--config",
        config.to_str().unwrap(),
        "--endpoint",
        &emu.url,
    ];
    args.extend_from_slice(extra);
    run(study, &args)
}

/// Exit 5, and one error line holding every part of `remedy` and none of `secrets`.
fn assert_auth_failure(out: &Output, remedy: &[&str], secrets: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("dropbox-post: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    for part in remedy {
        assert!(
            errors[0].contains(part),
            "{part:?} missing from {}",
            errors[0]
        );
    }
    for secret in secrets {
        assert!(!stderr.contains(secret), "secret in {stderr}");
    }
}

/// A study posting `out/` (one file) to `dest`, with extra `<param>`s.
fn study_posting(credential: &str, dest: &str, params: &[(&str, &str)]) -> Study {
    let study = Study::with_credential(credential);
    study.write("out/results.csv", b"user,item,score\n1,2,4.5\n");
    let extra: String = params
        .iter()
        .map(|(k, v)| format!("      <param name=\"{k}\">{v}</param>\n"))
        .collect();
    let xml = format!(
        "<librec-auto>\n  <post>\n    <script lang=\"python3\" src=\"system\">\n      \
         <script-name>dropbox_post.py</script-name>\n      \
         <param name=\"option\">folder</param>\n      \
         <param name=\"encrypted_key\">keys/dropbox.enc</param>\n      \
         <param name=\"path\">out</param>\n      \
         <param name=\"dest\">{dest}</param>\n      \
         <param name=\"password\"></param>\n{extra}    </script>\n  </post>\n</librec-auto>\n"
    );
    study.write("conf/config.xml", xml.as_bytes());
    study
}

fn nothing_stored(emu: &Emulator) {
    assert_eq!(emu.files_under("/"), Vec::<String>::new());
}

#[test]
fn a_post_without_files_content_write_exits_5_says_what_to_tick_and_writes_nothing() {
    let emu = Emulator::start(&["--token", "reader=files.metadata.read account_info.read"]);
    let study = study_posting("reader", "/results", &[]);
    let out = post(&study, &emu, &[]);
    assert_auth_failure(
        &out,
        &[
            "files.content.write",
            "Permissions tab",
            "App Console",
            "Submit",
            "`dropbox-post auth`",
            "only to tokens issued after",
        ],
        &["reader"],
    );
    nothing_stored(&emu);
}

#[test]
fn a_refresh_grant_without_the_scope_fails_the_same_way() {
    let emu = Emulator::start(&["--app", "key:secret"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let (_, t) = runtime.block_on(authorize(
        &http,
        &emu.url,
        "key",
        "secret",
        &[("scope", "files.metadata.read")],
    ));
    let refresh_token = t["refresh_token"].as_str().unwrap();
    let credential = json!({"type": "refresh_token", "app_key": "key", "app_secret": "secret", "refresh_token": refresh_token});
    let study = study_posting(&credential.to_string(), "/results", &[]);
    let out = post(&study, &emu, &[]);
    assert_auth_failure(
        &out,
        &["files.content.write", "`dropbox-post auth` again"],
        &[refresh_token, "secret"],
    );
    nothing_stored(&emu);
}

#[test]
fn a_revoked_token_exits_5_and_says_to_seal_a_fresh_one() {
    let emu = Emulator::start(&[]);
    let study = study_posting("sl.revoked-long-ago", "/results", &[]);
    let out = post(&study, &emu, &[]);
    assert_auth_failure(
        &out,
        &["invalid or was revoked", "`dropbox-post auth`"],
        &["sl.revoked-long-ago"],
    );
    let out = remote(&study, &emu, &["ls"]);
    assert_auth_failure(&out, &["invalid or was revoked"], &["sl.revoked-long-ago"]);
    nothing_stored(&emu);
}

#[test]
fn a_wrong_app_secret_exits_5_and_points_at_the_app_settings() {
    let emu = Emulator::start(&["--app", "key:right-secret"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_, t) = runtime.block_on(authorize(
        &reqwest::Client::new(),
        &emu.url,
        "key",
        "right-secret",
        &[],
    ));
    let refresh_token = t["refresh_token"].as_str().unwrap();
    let credential = json!({"type": "refresh_token", "app_key": "key", "app_secret": "wrong-secret", "refresh_token": refresh_token});
    let study = study_posting(&credential.to_string(), "/results", &[]);
    let out = post(&study, &emu, &[]);
    assert_auth_failure(
        &out,
        &["invalid_client", "app key or app secret", "Settings tab"],
        &[refresh_token, "wrong-secret", "right-secret"],
    );
    nothing_stored(&emu);
}

#[test]
fn the_team_space_of_a_personal_account_is_refused_before_anything_is_sent() {
    let emu = Emulator::start(&[]);
    let study = study_posting(support::TOKEN, "/Lab Results", &[("root", "team")]);
    let out = post(&study, &emu, &[]);
    assert_auth_failure(
        &out,
        &[
            "Emma Ulator <emulator@example.com> is a personal Dropbox account",
            "--root team",
        ],
        &[support::TOKEN],
    );
    nothing_stored(&emu);
    let out = remote(&study, &emu, &["whoami", "--root", "team"]);
    assert_auth_failure(&out, &["personal Dropbox account"], &[]);
    // The same account in its own space.
    let out = remote(&study, &emu, &["whoami"]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "root:    namespace {HOME_NS} (a personal space: the root is home)"
        )),
        "{text}"
    );
}

fn team_file(emu: &Emulator, path: &str) -> Option<Vec<u8>> {
    std::fs::read(emu.file(path)).ok()
}

#[test]
fn a_post_into_a_team_folder_lands_under_the_team_root() {
    let emu = Emulator::start(&["--team"]);
    let study = study_posting(support::TOKEN, "/Lab Results/run-1", &[("root", "team")]);
    assert_success(&post(&study, &emu, &[]));
    let data = b"user,item,score\n1,2,4.5\n".to_vec();
    assert_eq!(
        team_file(&emu, "/Lab Results/run-1/results.csv"),
        Some(data.clone())
    );
    assert_eq!(
        team_file(&emu, "/Emma Ulator/Lab Results/run-1/results.csv"),
        None
    );
    // --root team does the same for a script without the param; home is the default.
    let study = study_posting(support::TOKEN, "/Lab Results/run-2", &[]);
    assert_success(&post(&study, &emu, &["--root", "team"]));
    assert_eq!(
        team_file(&emu, "/Lab Results/run-2/results.csv"),
        Some(data.clone())
    );
    assert_success(&post(&study, &emu, &[]));
    assert_eq!(
        team_file(&emu, "/Emma Ulator/Lab Results/run-2/results.csv"),
        Some(data.clone())
    );
    // A re-post in the team space finds what is there and sends nothing.
    let study = study_posting(support::TOKEN, "/Lab Results/run-1", &[("root", "Team")]);
    let out = post(&study, &emu, &["--json"]);
    assert_success(&out);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            summary["totals"]["uploaded"].as_u64(),
            summary["totals"]["skipped"].as_u64()
        ),
        (Some(0), Some(1)),
        "{summary}"
    );
}

#[test]
fn ls_get_and_whoami_in_a_team_space() {
    let emu = Emulator::start(&["--team"]);
    let study = study_posting(support::TOKEN, "/Lab Results", &[("root", "team")]);
    assert_success(&post(&study, &emu, &[]));
    let study = study_posting(support::TOKEN, "/mine", &[]);
    assert_success(&post(&study, &emu, &[]));

    let stdout = |out: Output| {
        assert_success(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        stdout(remote(&study, &emu, &["ls", "--root", "team"])),
        "Emma Ulator/\nLab Results/\n"
    );
    assert_eq!(
        stdout(remote(&study, &emu, &["ls", "-r"])),
        "mine/\nmine/results.csv\n"
    );
    assert_eq!(
        stdout(remote(
            &study,
            &emu,
            &["ls", "--root", "team", "/Lab Results"]
        )),
        "results.csv\n"
    );

    let local = study.path("fetched");
    let out = remote(
        &study,
        &emu,
        &[
            "get",
            "--root",
            "team",
            "/Lab Results/results.csv",
            local.to_str().unwrap(),
        ],
    );
    assert_success(&out);
    assert_eq!(
        std::fs::read(&local).unwrap(),
        b"user,item,score\n1,2,4.5\n"
    );
    // In home, the team folder is not there.
    let out = remote(
        &study,
        &emu,
        &["get", "/Lab Results/results.csv", local.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let who = stdout(remote(&study, &emu, &["whoami"]));
    for line in [
        "account: business",
        "team:    Ulator Lab",
        &format!("root:    namespace {ROOT_NS} (the team space)"),
        &format!("home:    namespace {HOME_NS} (/Emma Ulator in the team space)"),
        "paths:   start at home; --root team starts them at the team space",
    ] {
        assert!(who.lines().any(|l| l == line), "{line:?} not in\n{who}");
    }
    let who = stdout(remote(&study, &emu, &["whoami", "--root", "team"]));
    assert!(
        who.contains("paths:   start at the team space (--root team)"),
        "{who}"
    );
}
