//! Every emulator route against a real `dropbox-post emulate` process: happy paths, the
//! error shapes clients match on, argument encoding and restarts.

use crate::harness::{Emulator, TOKEN, body, hash};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn is_timestamp(v: &Value) -> bool {
    chrono::NaiveDateTime::parse_from_str(v.as_str().unwrap_or(""), "%Y-%m-%dT%H:%M:%SZ").is_ok()
}

fn is_rev(v: &Value) -> bool {
    let r = v.as_str().unwrap_or("");
    r.len() >= 9
        && r.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[tokio::test]
async fn upload_metadata_download_account() {
    let emu = Emulator::start(&[]);
    let (s, m) = emu.upload("/Results/Run 1.csv", b"a,b\n1,2\n").await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["name"], "Run 1.csv");
    assert_eq!(m["path_display"], "/Results/Run 1.csv");
    assert_eq!(m["path_lower"], "/results/run 1.csv");
    assert_eq!(m["size"], 8);
    assert_eq!(m["content_hash"], hash(b"a,b\n1,2\n"));
    assert!(m["id"].as_str().unwrap().starts_with("id:"));
    assert!(is_rev(&m["rev"]), "{m}");
    assert!(is_timestamp(&m["server_modified"]) && is_timestamp(&m["client_modified"]));
    assert!(
        m.get(".tag").is_none(),
        "upload returns FileMetadata, not the union"
    );

    let (s, f) = emu
        .rpc("files/get_metadata", &json!({"path": "/RESULTS/run 1.CSV"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(f[".tag"], "file");
    assert_eq!(f["rev"], m["rev"]);
    let (_, d) = emu
        .rpc("files/get_metadata", &json!({"path": "/results"}))
        .await;
    assert_eq!(d[".tag"], "folder");
    assert_eq!(d["path_display"], "/Results");
    let (_, by_id) = emu
        .rpc("files/get_metadata", &json!({"path": m["id"]}))
        .await;
    assert_eq!(by_id["path_lower"], "/results/run 1.csv");

    let r = emu
        .raw("files/download", r#"{"path":"/results/RUN 1.csv"}"#, "")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let result: Value =
        serde_json::from_str(r.headers()["dropbox-api-result"].to_str().unwrap()).unwrap();
    assert_eq!(result["content_hash"], m["content_hash"]);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"a,b\n1,2\n");

    for body_text in ["", "null"] {
        let r = emu
            .http
            .post(emu.route("users/get_current_account"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/json")
            .body(body_text)
            .send()
            .await
            .unwrap();
        let (s, a) = body(r).await;
        assert_eq!(s, StatusCode::OK, "{a}");
        assert_eq!(a["account_id"].as_str().unwrap().len(), 40);
        assert_eq!(a["account_type"][".tag"], "basic");
    }
    let (s, e) = emu
        .rpc("files/get_metadata", &json!({"path": "/nope"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        e["error"],
        json!({".tag": "path", "path": {".tag": "not_found"}})
    );
    assert!(
        e["error_summary"]
            .as_str()
            .unwrap()
            .starts_with("path/not_found/")
    );
    let r = emu
        .raw("files/download", r#"{"path":"/results"}"#, "")
        .await;
    let (s, e) = body(r).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["path"][".tag"], "not_file");
}

#[tokio::test]
async fn auth_and_unknown_routes() {
    let emu = Emulator::start(&[]);
    let call = |token: Option<&'static str>, route: &'static str| {
        let mut r = emu
            .http
            .post(emu.route(route))
            .header("Content-Type", "application/json")
            .body("null");
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { body(r.send().await.unwrap()).await }
    };
    let (s, e) = call(Some("wrong"), "users/get_current_account").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"][".tag"], "invalid_access_token");
    assert!(
        e["error_summary"]
            .as_str()
            .unwrap()
            .starts_with("invalid_access_token/")
    );
    let (s, e) = call(None, "users/get_current_account").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e.as_str().unwrap().contains("Authorization"), "{e}");
    let (s, e) = call(Some(TOKEN), "files/no_such_route").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        e,
        "Error in call to API function \"files/no_such_route\": Unknown API function: /2/files/no_such_route"
    );
    // The demo token is not special.
    let (s, _) = call(
        Some("sl.EXAMPLE-demo-token-for-the-emulator"),
        "users/get_current_account",
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn argument_encodings() {
    let emu = Emulator::start(&[]);
    // Header-safe JSON: the astral char arrives as a surrogate pair.
    let r = emu
        .raw(
            "files/upload",
            r#"{"path":"/\ud83d\ude00 caf\u00e9.txt"}"#,
            "x",
        )
        .await;
    let (s, m) = body(r).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["path_display"], "/😀 café.txt");
    // A raw non-ASCII byte in the header is refused with a plain-text reason.
    let raw = reqwest::header::HeaderValue::from_bytes("{\"path\":\"/é.txt\"}".as_bytes()).unwrap();
    let r = emu.raw("files/upload", raw, "x").await;
    let (s, e) = body(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e.as_str()
            .unwrap()
            .starts_with("Error in call to API function \"files/upload\": "),
        "{e}"
    );
    // The `arg` URL parameter.
    let r = emu
        .http
        .post(emu.with_arg("files/upload", r#"{"path":"/q.txt","mode":"overwrite"}"#))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/octet-stream")
        .body("query")
        .send()
        .await
        .unwrap();
    let (s, m) = body(r).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["path_lower"], "/q.txt");
    // A chunked body (no Content-Length).
    let expected: Vec<u8> = (0..50).flat_map(|i| vec![i as u8; 10_000]).collect();
    let (s, m) = emu
        .upload_chunks("/chunked.bin", (0..50).map(|i| vec![i as u8; 10_000]))
        .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["size"], expected.len());
    assert_eq!(m["content_hash"], hash(&expected));
    // Unknown fields, bad JSON, bad patterns and bad content types are 400s.
    for (arg, needle) in [
        (json!({"path": "/a", "bogus": 1}), "bogus"),
        (json!({"path": "a.txt"}), "did not match pattern"),
        (json!({"path": "/a", "content_hash": "00"}), "content_hash"),
        (
            json!({"path": "/a", "mode": {".tag": "update", "update": "xyz"}}),
            "mode",
        ),
        (
            json!({"path": "/a", "client_modified": "yesterday"}),
            "client_modified",
        ),
    ] {
        let (s, e) = emu
            .upload_to("files/upload", arg.clone(), b"x".to_vec())
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{arg}");
        assert!(e.as_str().unwrap().contains(needle), "{e}");
    }
    let r = emu
        .http
        .post(emu.route("files/upload"))
        .bearer_auth(TOKEN)
        .header("Dropbox-API-Arg", r#"{"path":"/ct.txt"}"#)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let (s, e) = body(r).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e.as_str().unwrap().contains("application/octet-stream"),
        "{e}"
    );
    let r = emu
        .http
        .post(emu.route("files/list_folder"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "text/plain")
        .body(r#"{"path":""}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // content_hash covers this request's body.
    let (s, _) = emu
        .upload_to(
            "files/upload",
            json!({"path": "/h.txt", "content_hash": hash(b"abc")}),
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = emu
        .upload_to(
            "files/upload",
            json!({"path": "/h2.txt", "content_hash": hash(b"abd")}),
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"][".tag"], "content_hash_mismatch");
    let (_, l) = emu
        .rpc("files/get_metadata", &json!({"path": "/h2.txt"}))
        .await;
    assert_eq!(l["error"]["path"][".tag"], "not_found", "nothing committed");
}

#[tokio::test]
async fn write_modes_and_conflicts() {
    let emu = Emulator::start(&[]);
    let up = |arg: Value, data: &'static [u8]| emu.upload_to("files/upload", arg, data.to_vec());
    let (_, first) = up(json!({"path": "/w/doc.txt"}), b"one").await;
    // Identical content in add mode: not a conflict, nothing written.
    let (s, same) = up(json!({"path": "/w/DOC.txt", "mode": "add"}), b"one").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(same["rev"], first["rev"]);
    assert_eq!(same["path_display"], "/w/doc.txt");
    // ... unless strict_conflict.
    let (s, e) = up(
        json!({"path": "/w/doc.txt", "strict_conflict": true}),
        b"one",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Different content in add mode: conflict, with a session to retry the commit.
    let (s, e2) = up(json!({"path": "/w/doc.txt"}), b"two").await;
    assert_eq!(s, StatusCode::CONFLICT);
    for err in [&e, &e2] {
        assert_eq!(err["error"][".tag"], "path");
        assert_eq!(
            err["error"]["reason"],
            json!({".tag": "conflict", "conflict": {".tag": "file"}})
        );
        assert!(
            err["error_summary"]
                .as_str()
                .unwrap()
                .starts_with("path/conflict/file/")
        );
    }
    let session = e2["error"]["upload_session_id"].as_str().unwrap();
    let (s, retried) = emu
        .upload_to(
            "files/upload_session/finish",
            json!({"cursor": {"session_id": session, "offset": 3}, "commit": {"path": "/w/retried.txt"}}),
            vec![],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{retried}");
    assert_eq!(retried["content_hash"], hash(b"two"));
    assert_eq!(emu.download("/w/retried.txt").await, b"two");
    // Autorename in add mode.
    let (_, renamed) = up(json!({"path": "/w/doc.txt", "autorename": true}), b"two").await;
    assert_eq!(renamed["name"], "doc (1).txt");
    let (_, renamed2) = up(json!({"path": "/w/doc.txt", "autorename": true}), b"three").await;
    assert_eq!(renamed2["name"], "doc (2).txt");
    // Overwrite keeps the id, changes the rev.
    let (s, over) = up(json!({"path": "/w/doc.txt", "mode": "overwrite"}), b"four").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(over["id"], first["id"]);
    assert_ne!(over["rev"], first["rev"]);
    // Update: right rev writes, stale rev conflicts or autorenames as a conflicted copy.
    let rev = over["rev"].clone();
    let (s, upd) = up(
        json!({"path": "/w/doc.txt", "mode": {".tag": "update", "update": rev}}),
        b"five",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{upd}");
    let (s, _) = up(
        json!({"path": "/w/doc.txt", "mode": {".tag": "update", "update": rev}}),
        b"six",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, cc) = up(
        json!({"path": "/w/doc.txt", "mode": {".tag": "update", "update": rev}, "autorename": true}),
        b"six",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cc["name"], "doc (conflicted copy).txt");
    // A folder at the target is always a conflict; a file ancestor too.
    let (s, e) = up(json!({"path": "/w", "mode": "overwrite"}), b"x").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["reason"]["conflict"][".tag"], "folder");
    let (_, into) = up(
        json!({"path": "/W", "mode": "overwrite", "autorename": true}),
        b"x",
    )
    .await;
    assert_eq!(into["name"], "W (1)");
    let (s, e) = up(json!({"path": "/w/doc.txt/inner"}), b"x").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["reason"]["conflict"][".tag"], "file_ancestor");
    // Parents are created implicitly and the existing folder's casing wins.
    let (_, deep) = up(json!({"path": "/W/New/Deep.txt"}), b"d").await;
    assert_eq!(deep["path_display"], "/w/New/Deep.txt");
    let (s, e) = up(json!({"path": "/w//x"}), b"x").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["reason"][".tag"], "malformed_path");
}

#[tokio::test]
async fn upload_sessions() {
    let emu = Emulator::start(&[]);
    let call =
        |route: &'static str, arg: Value, data: &[u8]| emu.upload_to(route, arg, data.to_vec());
    let (s, start) = call("files/upload_session/start", json!({}), b"hello ").await;
    assert_eq!(s, StatusCode::OK, "{start}");
    let id = start["session_id"].as_str().unwrap().to_string();
    let (s, r) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": id, "offset": 6}, "content_hash": hash(b"big ")}),
        b"big ",
    )
    .await;
    assert_eq!((s, r), (StatusCode::OK, Value::Null));
    // A repeated append (lost response) reports where the session really is.
    let (s, e) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": id, "offset": 6}}),
        b"big ",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        e["error"],
        json!({".tag": "incorrect_offset", "correct_offset": 10})
    );
    let (s, e) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": id, "offset": 10}, "content_hash": hash(b"nope")}),
        b"world",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"][".tag"], "content_hash_mismatch");
    let (s, e) = call(
        "files/upload_session/finish",
        json!({"cursor": {"session_id": id, "offset": 9}, "commit": {"path": "/s.txt"}}),
        b"world",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        e["error"],
        json!({".tag": "lookup_failed", "lookup_failed": {".tag": "incorrect_offset", "correct_offset": 10}})
    );
    let (s, m) = call(
        "files/upload_session/finish",
        json!({"cursor": {"session_id": id, "offset": 10}, "commit": {"path": "/s.txt"}}),
        b"world",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["content_hash"], hash(b"hello big world"));
    let (s, e) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": id, "offset": 15}}),
        b"",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"][".tag"], "not_found");

    assert_eq!(emu.download("/s.txt").await, b"hello big world");
    // All the data in the finish request.
    let (_, empty) = call("files/upload_session/start", json!({}), b"").await;
    let (s, m) = call(
        "files/upload_session/finish",
        json!({"cursor": {"session_id": empty["session_id"], "offset": 0}, "commit": {"path": "/f.txt"}}),
        b"at the end",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(emu.download("/f.txt").await, b"at the end");

    // A closed session refuses appends; finish_batch_v2 needs closed sessions.
    let (_, closed) = call("files/upload_session/start", json!({"close": true}), b"c").await;
    let closed = closed["session_id"].clone();
    let (_, e) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": closed, "offset": 1}}),
        b"x",
    )
    .await;
    assert_eq!(e["error"][".tag"], "closed");
    let (_, open) = call("files/upload_session/start", json!({}), b"o").await;
    let (s, batch) = emu
        .rpc(
            "files/upload_session/finish_batch_v2",
            &json!({"entries": [
                {"cursor": {"session_id": closed, "offset": 1}, "commit": {"path": "/b/c.txt"}},
                {"cursor": {"session_id": open["session_id"], "offset": 1}, "commit": {"path": "/b/o.txt"}},
                {"cursor": {"session_id": "pid_upload_session:unknown", "offset": 0}, "commit": {"path": "/b/u.txt"}},
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{batch}");
    let e = batch["entries"].as_array().unwrap();
    assert_eq!(e[0][".tag"], "success");
    assert_eq!(e[0]["path_display"], "/b/c.txt");
    assert_eq!(emu.download("/b/c.txt").await, b"c");
    assert_eq!(
        e[1],
        json!({".tag": "failure", "failure": {".tag": "lookup_failed", "lookup_failed": {".tag": "not_closed"}}})
    );
    assert_eq!(e[2]["failure"]["lookup_failed"][".tag"], "not_found");

    // Concurrent sessions: 4 MiB-aligned pieces in any order, no data in start or finish.
    let block = 4 * 1024 * 1024;
    let (s, e) = call(
        "files/upload_session/start",
        json!({"session_type": "concurrent"}),
        b"data",
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"][".tag"], "concurrent_session_data_not_allowed");
    let (_, c) = call(
        "files/upload_session/start",
        json!({"session_type": {".tag": "concurrent"}}),
        b"",
    )
    .await;
    let cid = c["session_id"].clone();
    let (_, e) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": cid, "offset": 5}}),
        b"x",
    )
    .await;
    assert_eq!(e["error"][".tag"], "concurrent_session_invalid_offset");
    let (_, e) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": cid, "offset": 0}}),
        b"x",
    )
    .await;
    assert_eq!(e["error"][".tag"], "concurrent_session_invalid_data_size");
    let first = vec![1u8; block];
    let (s, _) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": cid, "offset": block}, "close": true}),
        b"tail",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let finish = json!({"cursor": {"session_id": cid, "offset": block + 4}, "commit": {"path": "/conc.bin"}});
    let (_, e) = call("files/upload_session/finish", finish.clone(), b"").await;
    assert_eq!(e["error"][".tag"], "concurrent_session_missing_data");
    let (s, e) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": cid, "offset": 2 * block}}),
        &first,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "nothing past the closing piece");
    assert_eq!(e["error"][".tag"], "closed");
    // The closing piece may arrive first; earlier pieces still fit.
    let (s, r) = call(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": cid, "offset": 0}}),
        &first,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, m) = call("files/upload_session/finish", finish, b"").await;
    assert_eq!(s, StatusCode::OK, "{m}");
    let mut whole = first.clone();
    whole.extend_from_slice(b"tail");
    assert_eq!(m["content_hash"], hash(&whole));
}

/// Issue 21: `content_hash` covers the bytes of its own call on every route that takes
/// one, so the file's hash so far is refused, and a commit that carries no bytes refuses
/// the file's hash; a refused call stores nothing.
#[tokio::test]
async fn every_route_checks_the_hash_of_its_own_bytes() {
    let emu = Emulator::start(&[]);
    let emu = &emu;
    let call = |route: &str, arg: Value, data: &[u8]| {
        let (route, data) = (format!("files/upload_session/{route}"), data.to_vec());
        async move { emu.upload_to(&route, arg, data).await }
    };
    let refused = |(s, e): (StatusCode, Value)| {
        assert_eq!(s, StatusCode::CONFLICT, "{e}");
        assert_eq!(e["error"][".tag"], "content_hash_mismatch", "{e}");
    };
    let with = |arg: Value, data: &[u8]| {
        let mut arg = arg;
        arg["content_hash"] = json!(hash(data));
        arg
    };
    refused(call("start", with(json!({}), b"one!"), b"one ").await);
    let (_, r) = call("start", with(json!({}), b"one "), b"one ").await;
    let cursor = |offset: usize| json!({"session_id": r["session_id"], "offset": offset});
    let append = json!({"cursor": cursor(4)});
    refused(call("append_v2", with(append.clone(), b"one two "), b"two ").await);
    let (s, _) = call("append_v2", with(append, b"two "), b"two ").await;
    assert_eq!(s, StatusCode::OK);
    let finish = json!({"cursor": cursor(8), "commit": {"path": "/h.txt"}});
    refused(call("finish", with(finish.clone(), b"one two three"), b"three").await);
    // A batch commit carries no bytes: the file's hash is refused, entry by entry.
    let (_, closed) = call("start", json!({"close": true}), b"abc").await;
    let entry = json!({"cursor": {"session_id": closed["session_id"], "offset": 3}, "commit": {"path": "/b.txt"}});
    for (hashed, tag) in [(&b"abc"[..], "failure"), (b"", "success")] {
        let arg = json!({"entries": [with(entry.clone(), hashed)]});
        let (_, r) = emu.rpc("files/upload_session/finish_batch_v2", &arg).await;
        assert_eq!(r["entries"][0][".tag"], tag, "{r}");
    }
    let (s, m) = call("finish", with(finish, b"three"), b"three").await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["content_hash"], hash(b"one two three"));
    assert_eq!(emu.download("/b.txt").await, b"abc");
}

#[tokio::test]
async fn folders_listing_and_restart() {
    let mut emu = Emulator::start(&[]);
    let (s, f) = emu
        .rpc("files/create_folder_v2", &json!({"path": "/Data"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(f["metadata"]["path_display"], "/Data");
    assert!(f["metadata"].get(".tag").is_none());
    let (s, e) = emu
        .rpc("files/create_folder_v2", &json!({"path": "/data"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["path"]["conflict"][".tag"], "folder");
    for i in 0..25 {
        emu.upload(&format!("/Data/f{i:02}.txt"), format!("{i}").as_bytes())
            .await;
    }
    emu.upload("/Data/sub/deep.txt", b"deep").await;
    let (s, e) = emu.rpc("files/list_folder", &json!({"path": "/"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(e.as_str().unwrap().contains("empty string"));
    let (s, _) = emu.rpc("files/get_metadata", &json!({"path": "/"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, e) = emu
        .rpc("files/list_folder", &json!({"path": "/missing"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["path"][".tag"], "not_found");
    let (s, e) = emu
        .rpc("files/list_folder", &json!({"path": "/data/f00.txt"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["path"][".tag"], "not_folder");
    let (s, _) = emu
        .rpc("files/list_folder", &json!({"path": "", "limit": 0}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, page) = emu
        .rpc("files/list_folder", &json!({"path": "/data", "limit": 10}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["entries"].as_array().unwrap().len(), 10);
    assert_eq!(page["has_more"], true);
    // The cursor survives a restart.
    emu.restart(&[]);
    let mut names: Vec<String> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    let mut cursor = page["cursor"].clone();
    loop {
        let (s, p) = emu
            .rpc("files/list_folder/continue", &json!({"cursor": cursor}))
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        names.extend(
            p["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string()),
        );
        cursor = p["cursor"].clone();
        if p["has_more"] == false {
            break;
        }
    }
    assert_eq!(names.len(), 26, "25 files and the subfolder: {names:?}");
    // Later changes arrive through the same cursor, deletions included.
    emu.upload("/data/new.txt", b"new").await;
    let (s, d) = emu
        .rpc("files/delete_v2", &json!({"path": "/data/f00.txt"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["metadata"][".tag"], "file");
    let (_, changes) = emu
        .rpc("files/list_folder/continue", &json!({"cursor": cursor}))
        .await;
    let tags: Vec<(&str, &str)> = changes["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[".tag"].as_str().unwrap(), e["name"].as_str().unwrap()))
        .collect();
    assert_eq!(tags, vec![("file", "new.txt"), ("deleted", "f00.txt")]);
    let (s, e) = emu
        .rpc("files/delete_v2", &json!({"path": "/data/f00.txt"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["path_lookup"][".tag"], "not_found");
    let (s, e) = emu
        .rpc("files/list_folder/continue", &json!({"cursor": "garbage"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    // Recursive listing, and everything is still there after another restart.
    emu.restart(&[]);
    let all = emu
        .list_all(&json!({"path": "", "recursive": true, "limit": 7}))
        .await;
    let paths: Vec<&str> = all
        .iter()
        .map(|e| e["path_display"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/Data/sub/deep.txt"), "{paths:?}");
    assert!(paths.contains(&"/Data/sub"));
    assert!(!paths.contains(&"/Data/f00.txt"));
    assert_eq!(paths.len(), 1 + 24 + 1 + 1 + 1, "{paths:?}");
    let r = emu
        .http
        .post(emu.with_arg("files/download", r#"{"path":"/data/sub/deep.txt"}"#))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"deep");
    let (s, d) = emu.rpc("files/delete_v2", &json!({"path": "/data"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["metadata"][".tag"], "folder");
    let (_, e) = emu
        .rpc("files/get_metadata", &json!({"path": "/data/sub/deep.txt"}))
        .await;
    assert_eq!(e["error"]["path"][".tag"], "not_found");
    let (s, del) = emu
        .rpc(
            "files/get_metadata",
            &json!({"path": "/data/sub/deep.txt", "include_deleted": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(del[".tag"], "deleted");
    emu.stop();
}

/// A sequential session's data is written once, in place: it must survive a restart (its
/// running hash is then rebuilt from disk), ignore the bytes of refused appends, and stay
/// whole after a refused commit so the finish can be retried.
#[tokio::test]
async fn sequential_sessions_across_restarts_and_refusals() {
    let mut emu = Emulator::start(&[]);
    // Crosses a 4 MiB block boundary, so the hash spans pieces.
    let first: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let (s, start) = emu
        .upload_to("files/upload_session/start", json!({}), first.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{start}");
    let id = start["session_id"].clone();
    let at = |offset: usize| json!({"session_id": id, "offset": offset});
    // A refused append at a stale offset leaves nothing behind.
    let (s, e) = emu
        .upload_to(
            "files/upload_session/append_v2",
            json!({"cursor": at(3)}),
            b"stale bytes".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["correct_offset"], first.len());

    emu.restart(&[]);
    let (s, r) = emu
        .upload_to(
            "files/upload_session/append_v2",
            json!({"cursor": at(first.len())}),
            b"tail".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let whole = [first.as_slice(), b"tail", b"!"].concat();
    // The commit is refused (a folder is in the way) and then retried elsewhere.
    emu.rpc("files/create_folder_v2", &json!({"path": "/taken"}))
        .await;
    let finish = |path: &str| json!({"cursor": at(first.len() + 4), "commit": {"path": path}});
    let (s, e) = emu
        .upload_to(
            "files/upload_session/finish",
            finish("/taken"),
            b"!".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"][".tag"], "path");
    let (s, meta) = emu
        .upload_to(
            "files/upload_session/finish",
            finish("/s.bin"),
            b"!".to_vec(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{meta}");
    assert_eq!(meta["size"], whole.len());
    assert_eq!(meta["content_hash"], hash(&whole));
    assert_eq!(emu.download("/s.bin").await, whole);
    // Consumed: no session left, nothing staged left over.
    let (_, e) = emu
        .upload_to(
            "files/upload_session/append_v2",
            json!({"cursor": at(whole.len())}),
            vec![],
        )
        .await;
    assert_eq!(e["error"][".tag"], "not_found");
    let sessions: Vec<_> = std::fs::read_dir(emu.root().join("sessions"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(sessions, ["journal.jsonl"]);
    assert_eq!(
        std::fs::read_dir(emu.root().join("tmp")).unwrap().count(),
        0
    );
    emu.stop();
}

/// `files/list_revisions` of `/r/doc.txt` (named in another case), at most `limit`.
async fn revisions(emu: &Emulator, limit: u64) -> (StatusCode, Value) {
    let arg = json!({"path": "/R/doc.txt", "limit": limit});
    emu.rpc("files/list_revisions", &arg).await
}

/// Issue 21: a file's earlier revisions are kept (their bytes once per content), listed
/// newest first and restored as a new revision, across restarts; `delete_v2` with a
/// `parent_rev` deletes only that revision, and the kept bytes go with the file.
#[tokio::test]
async fn revisions_are_kept_restored_and_deleted_by_rev() {
    let mut emu = Emulator::start(&[]);
    let mut revs = Vec::new();
    for data in [&b"one"[..], b"two", b"one"] {
        let arg = json!({"path": "/r/Doc.txt", "mode": "overwrite"});
        let (_, m) = emu.upload_to("files/upload", arg, data.to_vec()).await;
        revs.push(m["rev"].clone());
    }
    let blobs = |emu: &Emulator| {
        std::fs::read_dir(emu.root().join("revisions"))
            .unwrap()
            .count()
    };
    assert_eq!(blobs(&emu), 2, "the bytes of one and two, once each");
    let (s, r) = revisions(&emu, 10).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["is_deleted"], false);
    let listed_revs: Vec<Value> = r["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rev"].clone())
        .collect();
    assert_eq!(
        listed_revs,
        [revs[2].clone(), revs[1].clone(), revs[0].clone()]
    );
    assert_eq!(r["entries"][1]["content_hash"], hash(b"two"));
    assert_eq!(
        revisions(&emu, 1).await.1["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (s, _) = revisions(&emu, 101).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let restore = |rev: &Value| json!({"path": "/r/doc.txt", "rev": rev});
    let (s, m) = emu.rpc("files/restore", &restore(&revs[1])).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(
        (m["content_hash"].clone(), m["path_display"].clone()),
        (json!(hash(b"two")), json!("/r/Doc.txt"))
    );
    assert!(!revs.contains(&m["rev"]), "a restore is a new revision");
    assert_eq!(emu.download("/r/doc.txt").await, b"two");
    emu.restart(&[]);
    assert_eq!(
        revisions(&emu, 10).await.1["entries"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (s, e) = emu
        .rpc("files/restore", &restore(&json!("0123456789")))
        .await;
    assert_eq!(
        (s, e["error"][".tag"].clone()),
        (StatusCode::CONFLICT, json!("invalid_revision"))
    );
    let (_, e) = emu
        .rpc("files/list_revisions", &json!({"path": "/r/none.txt"}))
        .await;
    assert_eq!(
        e["error"],
        json!({".tag": "path", "path": {".tag": "not_found"}})
    );

    // Only the revision named is deleted.
    let (s, e) = emu
        .rpc(
            "files/delete_v2",
            &json!({"path": "/r/doc.txt", "parent_rev": revs[2]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(emu.download("/r/doc.txt").await, b"two");
    let current = emu
        .rpc("files/get_metadata", &json!({"path": "/r/doc.txt"}))
        .await
        .1["rev"]
        .clone();
    let (s, e) = emu
        .rpc(
            "files/delete_v2",
            &json!({"path": "/r/doc.txt", "parent_rev": current}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(blobs(&emu), 0, "a deleted file's revisions are not kept");
}

/// A root written before revisions were kept (no `revisions/`, nodes without `history`)
/// loads, and its files get revisions from their next change on.
#[tokio::test]
async fn a_root_from_before_revisions_loads() {
    let mut emu = Emulator::start(&[]);
    emu.stop();
    let node = json!({"display": "/old.txt", "seq": 1, "kind": {
        "type": "file", "id": "id:AAAAAAAAAAAAAAAAAAAAAA", "rev": "1000000001", "size": 3,
        "content_hash": hash(b"old"), "client_modified": "2026-01-01T00:00:00Z",
        "server_modified": "2026-01-01T00:00:00Z"}});
    let root = emu.root();
    std::fs::write(
        root.join("journal.jsonl"),
        format!("{}\n", json!({"k": "/old.txt", "n": node})),
    )
    .unwrap();
    std::fs::write(root.join("files/old.txt"), b"old").unwrap();
    std::fs::remove_dir_all(root.join("revisions")).unwrap();
    emu.start_again(&[]);
    assert_eq!(emu.download("/old.txt").await, b"old");
    let arg = json!({"path": "/old.txt", "mode": "overwrite"});
    let (s, _) = emu.upload_to("files/upload", arg, b"new".to_vec()).await;
    assert_eq!(s, StatusCode::OK);
    let (_, m) = emu
        .rpc(
            "files/restore",
            &json!({"path": "/old.txt", "rev": "1000000001"}),
        )
        .await;
    assert_eq!(m["content_hash"], hash(b"old"), "{m}");
    assert_eq!(emu.download("/old.txt").await, b"old");
}

/// Storage is bounded: a file keeps its last 10 earlier revisions, and the bytes of one
/// that falls off go with it.
#[tokio::test]
async fn a_file_keeps_ten_earlier_revisions() {
    let emu = Emulator::start(&[]);
    let mut revs = Vec::new();
    for n in 0..12 {
        let arg = json!({"path": "/r/doc.txt", "mode": "overwrite"});
        let (_, m) = emu.upload_to("files/upload", arg, vec![n; 3]).await;
        revs.push(m["rev"].clone());
    }
    let (_, r) = revisions(&emu, 100).await;
    assert_eq!(r["entries"].as_array().unwrap().len(), 11, "{r}");
    let kept = std::fs::read_dir(emu.root().join("revisions")).unwrap();
    assert_eq!(kept.count(), 10);
    let restore = |rev: &Value| json!({"path": "/r/doc.txt", "rev": rev});
    let (_, e) = emu.rpc("files/restore", &restore(&revs[0])).await;
    assert_eq!(e["error"][".tag"], "invalid_revision", "{e}");
    let (s, _) = emu.rpc("files/restore", &restore(&revs[1])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(emu.download("/r/doc.txt").await, [1; 3]);
}
