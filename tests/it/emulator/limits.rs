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
