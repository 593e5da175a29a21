//! Fault injection against a real emulator: reproducible with --seed, every shape of rate
//! limit, and cut connections that leave nothing behind.

use std::collections::HashSet;

use crate::harness::{Emulator, TOKEN};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// (status, Retry-After, body) of `n` sequential calls.
async fn sequence(seed: &str, n: usize) -> Vec<(u16, Option<String>, String)> {
    let emu = Emulator::start(&[
        "--seed",
        seed,
        "--error-rate",
        "0.25",
        "--rate-limit-rate",
        "0.25",
    ]);
    let mut out = Vec::new();
    for _ in 0..n {
        let r = emu.current_account(TOKEN).await;
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = if status == 200 { String::new() } else { text };
        out.push((status, retry, body));
    }
    out
}

#[tokio::test]
async fn same_seed_same_faults() {
    let a = sequence("42", 60).await;
    assert_eq!(a, sequence("42", 60).await);
    assert_ne!(a, sequence("43", 60).await);
    let statuses: HashSet<u16> = a.iter().map(|(s, _, _)| *s).collect();
    assert!(
        statuses.contains(&200) && statuses.contains(&429),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|s| *s >= 500), "{statuses:?}");
    for (status, retry, body) in &a {
        if *status == 429 {
            assert!(retry.is_some(), "429 always carries Retry-After");
            if let Ok(v) = serde_json::from_str::<Value>(body) {
                let reason = v["error"]["reason"][".tag"].as_str().unwrap();
                assert!(["too_many_requests", "too_many_write_operations"].contains(&reason));
                assert!(v["error"]["retry_after"].is_u64());
            }
        }
    }
}

#[tokio::test]
async fn write_contention_shapes() {
    let mut emu = Emulator::start(&[]);
    let mut sessions = Vec::new();
    for i in 0..4 {
        let (_, s) = emu
            .upload_to(
                "files/upload_session/start",
                json!({"close": true}),
                format!("data {i}").into_bytes(),
            )
            .await;
        sessions.push(s["session_id"].clone());
    }
    emu.restart(&["--seed", "1", "--rate-limit-rate", "1"]);
    let mut kinds = HashSet::new();
    for i in 0..40 {
        let (s, e) = emu.upload(&format!("/c/{i}.txt"), b"x").await;
        match s {
            StatusCode::CONFLICT => {
                assert_eq!(e["error"][".tag"], "path");
                assert_eq!(e["error"]["reason"][".tag"], "too_many_write_operations");
                assert!(e["error"]["upload_session_id"].is_string());
                kinds.insert("409".to_string());
            }
            StatusCode::TOO_MANY_REQUESTS => {
                kinds.insert(match &e {
                    Value::String(_) => "plain".to_string(),
                    v => v["error"]["reason"][".tag"].as_str().unwrap().to_string(),
                });
            }
            other => panic!("unexpected {other}: {e}"),
        }
    }
    let expected: HashSet<String> = [
        "409",
        "plain",
        "too_many_requests",
        "too_many_write_operations",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds, expected);
    // finish_batch_v2 reports contention per entry.
    let entries: Vec<Value> = sessions
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"cursor": {"session_id": id, "offset": 6}, "commit": {"path": format!("/b/{i}.txt")}}))
        .collect();
    let batch = loop {
        let (s, b) = emu
            .rpc(
                "files/upload_session/finish_batch_v2",
                &json!({"entries": entries}),
            )
            .await;
        if s == StatusCode::OK {
            break b;
        }
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    };
    let results = batch["entries"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert!(results.iter().any(|r| r[".tag"] == "success"));
    assert!(
        results
            .iter()
            .any(|r| r["failure"] == json!({".tag": "too_many_write_operations"}))
    );
}

#[tokio::test]
async fn cut_connections_commit_nothing() {
    let mut emu = Emulator::start(&["--seed", "3", "--cut-rate", "1"]);
    let data = vec![7u8; 1 << 20];
    for route in ["files/upload", "files/upload_session/start"] {
        let r = emu
            .http
            .post(emu.route(route))
            .bearer_auth(TOKEN)
            .header(
                "Dropbox-API-Arg",
                if route == "files/upload" {
                    r#"{"path":"/cut.bin"}"#
                } else {
                    "{}"
                },
            )
            .header("Content-Type", "application/octet-stream")
            .body(data.clone())
            .send()
            .await;
        assert!(
            r.is_err(),
            "{route}: the connection is dropped without an answer"
        );
    }
    // RPC routes are not cut.
    let (s, _) = emu.rpc("files/list_folder", &json!({"path": ""})).await;
    assert_eq!(s, StatusCode::OK);
    emu.restart(&[]);
    assert!(
        emu.list_all(&json!({"path": "", "recursive": true}))
            .await
            .is_empty()
    );
    let names = |sub: &str| -> Vec<_> {
        std::fs::read_dir(emu.root().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    };
    assert!(names("tmp").is_empty(), "tmp is empty");
    assert_eq!(names("sessions"), ["journal.jsonl"], "no session is left");
}

#[tokio::test]
async fn a_held_request_is_served_once_released() {
    let emu = std::sync::Arc::new(Emulator::start(&["-v", "--hold", "files/get_metadata:2"]));
    emu.upload("/a.txt", b"a").await;
    let get = json!({"path": "/a.txt"});
    assert_eq!(emu.rpc("files/get_metadata", &get).await.0, StatusCode::OK);
    let held = tokio::spawn({
        let (emu, get) = (emu.clone(), get.clone());
        async move { emu.rpc("files/get_metadata", &get).await }
    });
    while !emu
        .log()
        .contains("holding this files/get_metadata request")
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Held, the emulator still serves everything else, the third call to the route too.
    assert_eq!(emu.rpc("files/get_metadata", &get).await.0, StatusCode::OK);
    assert!(!held.is_finished());
    emu.release();
    let (status, meta) = held.await.unwrap();
    assert_eq!((status, &meta["name"]), (StatusCode::OK, &json!("a.txt")));
}

/// `--corrupt-commit N`: the Nth commit stores other bytes than were sent, and says so in
/// its content hash, as a Dropbox that damaged a file would; the others are untouched.
#[tokio::test]
async fn a_corrupted_commit_stores_and_reports_other_bytes() {
    let emu = Emulator::start(&["--corrupt-commit", "2"]);
    let sent = b"0123456789";
    for (n, path) in ["/one.txt", "/two.txt", "/three.txt"].iter().enumerate() {
        let (_, m) = emu.upload(path, sent).await;
        let stored = emu.download(path).await;
        assert_eq!(m["content_hash"], crate::harness::hash(&stored), "{m}");
        let flipped = stored.iter().zip(sent).filter(|(a, b)| a != b).count();
        assert_eq!(flipped, usize::from(n == 1), "{path}");
    }
}
