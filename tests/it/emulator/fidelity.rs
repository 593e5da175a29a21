//! Issue 14, the emulator's side: scopes and `missing_scope`, OAuth scope narrowing, team
//! spaces and `Dropbox-API-Path-Root`, app authentication, and the routes official clients
//! still call (`files/delete`, `copy_v2`, `move_v2`). dropbox-post's side is `fidelity.rs`.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Emulator, HOME_NS, ROOT_NS, TOKEN, TestEnv, body, stderr};

/// A `Dropbox-API-Path-Root` header naming the root namespace `ns`.
fn root(ns: &str) -> String {
    json!({".tag": "root", "root": ns}).to_string()
}

fn path_root(value: Option<&str>) -> Vec<(&'static str, &str)> {
    value
        .map(|v| ("Dropbox-API-Path-Root", v))
        .into_iter()
        .collect()
}

/// An RPC call with `token` in the namespace the optional Path-Root header names.
async fn call(
    emu: &Emulator,
    token: &str,
    route: &str,
    arg: Value,
    root: Option<&str>,
) -> (StatusCode, Value) {
    emu.rpc_as(token, route, &arg, &path_root(root)).await
}

async fn rpc(emu: &Emulator, route: &str, arg: Value) -> (StatusCode, Value) {
    emu.rpc(route, &arg).await
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

async fn upload(
    emu: &Emulator,
    path: &str,
    data: &'static [u8],
    root: Option<&str>,
) -> (StatusCode, Value) {
    let arg = json!({ "path": path }).to_string();
    body(
        emu.raw_with("files/upload", arg, data, &path_root(root))
            .await,
    )
    .await
}

#[track_caller]
fn assert_missing_scope((status, error): (StatusCode, Value), scope: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    assert_eq!(
        error["error"],
        json!({".tag": "missing_scope", "required_scope": scope})
    );
    assert_eq!(error["error_summary"], "missing_scope/..");
}

/// A refresh of app `key:secret`'s grant, narrowed to `scope` if given.
async fn refresh(emu: &Emulator, refresh_token: &str, scope: Option<&str>) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "key"),
        ("client_secret", "secret"),
    ];
    form.extend(scope.map(|s| ("scope", s)));
    let r = emu
        .http
        .post(format!("{}/oauth2/token", emu.url))
        .form(&form);
    body(r.send().await.unwrap()).await
}

#[tokio::test]
async fn every_route_checks_its_scope() {
    let emu = Emulator::start(&["--token", "bare="]);
    let write = "files.content.write";
    let table = [
        ("files/upload", write),
        ("files/upload_session/start", write),
        ("files/upload_session/append_v2", write),
        ("files/upload_session/finish", write),
        ("files/upload_session/finish_batch_v2", write),
        ("files/create_folder_v2", write),
        ("files/delete_v2", write),
        ("files/delete", write),
        ("files/copy_v2", write),
        ("files/move_v2", write),
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
    let env = TestEnv::new();
    for flag in [
        ["--token", "s3cret-tok=files.content.wirte"],
        ["--app", "key:s3cret-app=wat"],
    ] {
        let out = env
            .cmd()
            .args(["emulate", "--root", "."])
            .args(flag)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag:?}");
        let text = stderr(&out);
        assert!(
            text.contains("unknown scope") && !text.contains("s3cret"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_refresh_narrows_the_token_and_routes_outside_it_are_refused() {
    let emu = Emulator::start(&["--app", "key:secret=files.metadata.read files.content.read"]);
    let (s, t) = emu.grant("key", "secret", &[]).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    // The app's scopes, account_info.read always among them.
    let all = "account_info.read files.content.read files.metadata.read";
    assert_eq!(t["scope"], all);
    let refresh_token = t["refresh_token"].as_str().unwrap().to_string();
    let access = t["access_token"].as_str().unwrap();
    let r = emu.http.post(emu.route("files/upload")).bearer_auth(access);
    let r = r
        .header("Dropbox-API-Arg", r#"{"path":"/a"}"#)
        .header("Content-Type", "application/octet-stream");
    assert_missing_scope(
        body(r.body("x").send().await.unwrap()).await,
        "files.content.write",
    );

    let (s, narrow) = refresh(&emu, &refresh_token, Some("files.metadata.read")).await;
    assert_eq!(s, StatusCode::OK, "{narrow}");
    assert_eq!(narrow["scope"], "files.metadata.read");
    let narrow = narrow["access_token"].as_str().unwrap();
    let (s, _) = call(&emu, narrow, "files/list_folder", json!({"path": ""}), None).await;
    assert_eq!(s, StatusCode::OK);
    let refused = |route| call(&emu, narrow, route, Value::Null, None);
    assert_missing_scope(refused("files/download").await, "files.content.read");
    assert_missing_scope(
        refused("users/get_current_account").await,
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
    let (_, t) = emu
        .grant("key", "secret", &[("scope", "files.content.read")])
        .await;
    assert_eq!(t["scope"], "files.content.read");
    let again = [
        ("scope", "files.metadata.read"),
        ("include_granted_scopes", "user"),
    ];
    let (_, t) = emu.grant("key", "secret", &again).await;
    assert_eq!(t["scope"], all);
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
        let r = emu.http.post(emu.route("check/app")).basic_auth(user, pass);
        r.header("Content-Type", "application/json")
            .body(r#"{"query":"hello"}"#)
            .send()
    };
    let (s, r) = body(app("key", Some("secret")).await.unwrap()).await;
    assert_eq!((s, r), (StatusCode::OK, json!({"result": "hello"})));
    let refused = [
        ("key", Some("wrong")),
        ("key", None),
        ("pkce-only", Some("x")),
        ("other", Some("secret")),
    ];
    for (user, pass) in refused {
        let (s, e) = body(app(user, pass).await.unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(e["error"][".tag"], "invalid_access_token");
    }
    // A user token is not app authentication.
    let (s, e) = rpc(&emu, "check/app", json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e.as_str().unwrap().contains("Basic"), "{e}");
}

/// `error_summary` of a 409, `None` for any other status.
fn conflict((s, e): (StatusCode, Value)) -> Option<String> {
    (s == StatusCode::CONFLICT).then(|| e["error_summary"].as_str().unwrap().to_string())
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
    let again = rpc(&emu, "files/delete", json!({"path": "/gone.txt"})).await;
    assert_eq!(conflict(again).as_deref(), Some("path_lookup/not_found/."));

    let relocate =
        |route, from: &str, to: &str| rpc(&emu, route, json!({"from_path": from, "to_path": to}));
    let (_, a) = rpc(&emu, "files/get_metadata", json!({"path": "/src/a.txt"})).await;
    let (s, c) = relocate("files/copy_v2", "/src/a.txt", "/Copies/A.txt").await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let c = &c["metadata"];
    assert_eq!(
        (c[".tag"].as_str(), c["path_display"].as_str()),
        (Some("file"), Some("/Copies/A.txt"))
    );
    assert_eq!(c["content_hash"], a["content_hash"]);
    assert_ne!(c["id"], a["id"]);
    assert_eq!(emu.download("/Copies/A.txt").await, b"alpha");
    assert_eq!(emu.download("/src/a.txt").await, b"alpha");
    // A folder is copied with everything below it.
    assert_eq!(
        relocate("files/copy_v2", "/src", "/src2").await.0,
        StatusCode::OK
    );
    assert_eq!(emu.download("/src2/sub/b.txt").await, b"beta");

    let (_, cursor) = rpc(
        &emu,
        "files/list_folder",
        json!({"path": "", "recursive": true}),
    )
    .await;
    let (s, m) = relocate("files/move_v2", "/src", "/moved/src").await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["metadata"][".tag"], "folder");
    let (_, b) = rpc(
        &emu,
        "files/get_metadata",
        json!({"path": "/moved/src/a.txt"}),
    )
    .await;
    assert_eq!(b["id"], a["id"], "a move keeps ids");
    assert_eq!(emu.download("/moved/src/sub/b.txt").await, b"beta");
    let (s, _) = rpc(&emu, "files/get_metadata", json!({"path": "/src/a.txt"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // The changes since: deletions at the old paths, entries at the new ones.
    let (_, changes) = rpc(
        &emu,
        "files/list_folder/continue",
        json!({"cursor": cursor["cursor"]}),
    )
    .await;
    let seen: HashMap<&str, &str> = changes["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["path_lower"].as_str().unwrap(),
                e[".tag"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen["/src/sub/b.txt"], "deleted");
    assert_eq!(seen["/moved/src/sub/b.txt"], "file");

    // RelocationError, as the route's 409 union.
    let refused = [
        ("files/move_v2", "/nope", "/x", "from_lookup/not_found/."),
        (
            "files/move_v2",
            "/src2",
            "/moved/src",
            "to/conflict/folder/.",
        ),
        (
            "files/move_v2",
            "/src2",
            "/src2/in",
            "cant_move_folder_into_itself/..",
        ),
        (
            "files/move_v2",
            "/src2",
            "/SRC2",
            "duplicated_or_nested_paths/..",
        ),
        (
            "files/move_v2",
            "/src2/a.txt",
            "/src2/a.txt/x",
            "to/conflict/file_ancestor/.",
        ),
        (
            "files/copy_v2",
            "/src2",
            "/src2/in",
            "duplicated_or_nested_paths/..",
        ),
    ];
    for (route, from, to, summary) in refused {
        let answer = relocate(route, from, to).await;
        assert_eq!(
            conflict(answer).as_deref(),
            Some(summary),
            "{route} {from} {to}"
        );
    }
    let arg = json!({"from_path": "/src2/a.txt", "to_path": "/Copies/A.txt", "autorename": true});
    let (s, r) = rpc(&emu, "files/copy_v2", arg).await;
    assert_eq!(
        (s, r["metadata"]["name"].as_str()),
        (StatusCode::OK, Some("A (1).txt"))
    );
    let (s, e) = relocate("files/copy_v2", "src2", "/x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
}

/// The sorted `path_display`s of a listing.
fn names(page: &Value) -> Vec<&str> {
    let entries = page["entries"].as_array().unwrap();
    let mut names: Vec<&str> = entries
        .iter()
        .map(|e| e["path_display"].as_str().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_team_account_has_a_root_and_a_home() {
    let emu = Emulator::start(&["--team"]);
    let (_, account) = rpc(&emu, "users/get_current_account", Value::Null).await;
    let info = json!({".tag": "team", "root_namespace_id": ROOT_NS, "home_namespace_id": HOME_NS, "home_path": "/Emma Ulator"});
    assert_eq!(account["root_info"], info);
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
    let team = root(ROOT_NS);
    let (s, m) = upload(&emu, "/Lab Results/b.txt", b"team", Some(&team)).await;
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

    let recursive = json!({"path": "", "recursive": true});
    let (_, home) = rpc(&emu, "files/list_folder", recursive.clone()).await;
    assert_eq!(names(&home), ["/Mine", "/Mine/a.txt"]);
    let by_id = json!({".tag": "namespace_id", "namespace_id": HOME_NS}).to_string();
    let (_, same) = call(&emu, TOKEN, "files/list_folder", recursive, Some(&by_id)).await;
    assert_eq!(names(&same), names(&home));
    let (_, top) = listing(&emu, &team).await;
    assert_eq!(names(&top), ["/Emma Ulator", "/Lab Results"]);
    let arg = json!({"path": "/Emma Ulator/Mine/a.txt"});
    let (s, m) = call(&emu, TOKEN, "files/get_metadata", arg, Some(&team)).await;
    assert_eq!(
        (s, m["path_lower"].as_str()),
        (StatusCode::OK, Some("/emma ulator/mine/a.txt"))
    );

    // A stale root answers 422 invalid_root with the account's root info; a namespace
    // the account cannot see, no_permission; a header that is no PathRoot, 400.
    let (s, e) = listing(&emu, &root(HOME_NS)).await;
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
        Some(&root("1")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_personal_account_is_its_own_root() {
    let emu = Emulator::start(&[]);
    let (_, account) = rpc(&emu, "users/get_current_account", Value::Null).await;
    let info = json!({".tag": "user", "root_namespace_id": HOME_NS, "home_namespace_id": HOME_NS});
    assert_eq!(account["root_info"], info);
    assert!(account.get("team").is_none());
    assert_eq!(listing(&emu, &root(HOME_NS)).await.0, StatusCode::OK);
    let (s, e) = listing(&emu, &root(ROOT_NS)).await;
    assert_eq!(
        (s, &e["error"]["invalid_root"][".tag"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("user"))
    );
}
