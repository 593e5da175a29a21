//! Limits: 150 MiB per request, 7-day sessions.

use crate::harness::Emulator;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn more_than_150_mib_in_one_request_is_refused() {
    let emu = Emulator::start(&[]);
    let mib = 1024 * 1024;
    let chunks = (0..151).map(move |i| vec![0u8; if i == 150 { 1 } else { mib }]);
    let (s, e) = emu.upload_chunks("/big.bin", chunks).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"][".tag"], "payload_too_large");
    let (_, m) = emu
        .rpc("files/get_metadata", &json!({"path": "/big.bin"}))
        .await;
    assert_eq!(m["error"]["path"][".tag"], "not_found");
}

#[tokio::test]
async fn sessions_expire_after_seven_days() {
    let mut emu = Emulator::start(&[]);
    let (_, old) = emu
        .upload_to("files/upload_session/start", json!({}), b"old".to_vec())
        .await;
    let (_, young) = emu
        .upload_to("files/upload_session/start", json!({}), b"new".to_vec())
        .await;
    let key = old["session_id"]
        .as_str()
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap()
        .to_string();
    emu.stop();
    // Age the old session in its journal.
    let journal = emu.root().join("sessions").join("journal.jsonl");
    let eight_days_ago = chrono::Utc::now().timestamp() - 8 * 24 * 3600;
    let aged: String = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|line| {
            let mut record: Value = serde_json::from_str(line).unwrap();
            if record["k"] == key {
                record["n"]["created"] = json!(eight_days_ago);
            }
            record.to_string() + "\n"
        })
        .collect();
    std::fs::write(&journal, aged).unwrap();
    emu.start_again(&[]);
    for (session, status) in [(&old, StatusCode::CONFLICT), (&young, StatusCode::OK)] {
        let (s, r) = emu
            .upload_to(
                "files/upload_session/append_v2",
                json!({"cursor": {"session_id": session["session_id"], "offset": 3}}),
                b"more".to_vec(),
            )
            .await;
        assert_eq!(s, status, "{r}");
        if s == StatusCode::CONFLICT {
            assert_eq!(r["error"][".tag"], "not_found");
        }
    }
    let data = |k: &str| emu.root().join("sessions").join(format!("{k}.data"));
    assert!(!data(&key).exists());
    let young_key = young["session_id"]
        .as_str()
        .unwrap()
        .split(':')
        .nth(1)
        .unwrap();
    assert!(data(young_key).exists());
}

/// Issue 23: `start_batch` opens 1 to 1,000 sessions; `append_batch` feeds at most 500
/// (Stone's limit, which the SDK enforces) and at most 150 MiB in one body; a bad count is a 400, as Stone's validators make it.
#[tokio::test]
async fn batches_are_held_to_their_limits() {
    let emu = Emulator::start(&[]);
    for n in [0, 1001] {
        let (s, e) = emu
            .rpc(
                "files/upload_session/start_batch",
                &json!({"num_sessions": n}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{n}: {e}");
        assert!(e.as_str().unwrap().contains("num_sessions"), "{e}");
    }
    let (s, r) = emu
        .rpc(
            "files/upload_session/start_batch",
            &json!({"num_sessions": 1000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let ids = r["session_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1000);
    let entry = |id: &Value| json!({"cursor": {"session_id": id, "offset": 0}, "length": 0});
    let mut entries: Vec<Value> = ids.iter().map(entry).collect();
    entries.push(entry(&ids[0]));
    let route = "files/upload_session/append_batch";
    let (s, e) = emu
        .upload_to(route, json!({"entries": entries}), vec![])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    // One entry that claims 150 MiB + 1 byte, and a body that has them.
    let over = (150 << 20) + 1;
    let one = json!({"entries": [{"cursor": {"session_id": ids[0], "offset": 0}, "length": over}]});
    let (s, e) = emu.upload_to(route, one, vec![0; over as usize]).await;
    assert_eq!(
        (s, &e["error"][".tag"]),
        (StatusCode::CONFLICT, &json!("payload_too_large"))
    );
}

/// `--unknown-route` answers a route as Dropbox answers one it does not have, after
/// reading the body, so a client sees the answer and not a reset.
#[tokio::test]
async fn an_unknown_route_is_answered_as_dropbox_would() {
    let emu = Emulator::start(&["--unknown-route", "files/upload_session/append_batch"]);
    let arg = json!({"entries": [{"cursor": {"session_id": "pid_upload_session:ab", "offset": 0}, "length": 8 << 20}]});
    let (s, e) = emu
        .upload_to("files/upload_session/append_batch", arg, vec![0; 8 << 20])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        e,
        "Error in call to API function \"files/upload_session/append_batch\": Unknown API function: /2/files/upload_session/append_batch"
    );
    let (s, _) = emu
        .rpc(
            "files/upload_session/start_batch",
            &json!({"num_sessions": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}
