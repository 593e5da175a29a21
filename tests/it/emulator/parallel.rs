//! 16 parallel writers × 1,000 files into one folder: every file present once with the
//! right content after a restart.

use std::collections::HashMap;
use std::sync::Arc;

use crate::harness::{Emulator, hash};
use reqwest::StatusCode;
use serde_json::json;

const WRITERS: usize = 16;
const FILES: usize = 1000;

fn content(i: usize) -> Vec<u8> {
    format!("file {i} ").repeat(i % 50 + 1).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_writers_lose_nothing() {
    let emu = Arc::new(Emulator::start(&[]));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let emu = emu.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..FILES).step_by(WRITERS) {
                let (s, m) = emu
                    .upload(&format!("/Shared/f{i:04}.txt"), &content(i))
                    .await;
                assert_eq!(s, StatusCode::OK, "{m}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut emu = Arc::into_inner(emu).unwrap();
    emu.restart(&[]);
    let entries = emu
        .list_all(&json!({"path": "/shared", "limit": 150}))
        .await;
    assert_eq!(entries.len(), FILES);
    let by_name: HashMap<String, String> = entries
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["content_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(by_name.len(), FILES, "no duplicates");
    for i in 0..FILES {
        assert_eq!(
            by_name[&format!("f{i:04}.txt")],
            hash(&content(i)),
            "file {i}"
        );
    }
    let (_, folder) = emu
        .rpc("files/get_metadata", &json!({"path": "/shared"}))
        .await;
    assert_eq!(folder["path_display"], "/Shared");
}
