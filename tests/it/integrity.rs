//! Issue 21: what a commit holds is the file's own. Every request that carries file bytes
//! names their content hash (Dropbox checks each call), and a commit found wrong afterwards
//! is rolled back to what Dropbox held before it.

use std::sync::{Arc, Mutex};

use crate::harness::{Hook, HostileServer, Seen, TestEnv, hash, pattern};

const MIB: usize = 1 << 20;

/// A proxy to `url` that records every request, and what it recorded.
fn recording(url: &str) -> (HostileServer, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let hook: Hook = Box::new(move |s: &Seen| {
        log.lock().unwrap().push(s.clone());
        Box::pin(async {})
    });
    (HostileServer::proxy(url, hook), seen)
}

#[test]
fn every_request_with_file_bytes_names_their_hash_and_a_commit_none() {
    let env = TestEnv::new();
    let (proxy, seen) = recording(&env.emulator().url);
    let study = env.study();
    study.write("post/big.bin", pattern(10 * MIB + 3, 1));
    study.write("post/small.csv", b"1,2\n");
    study.config(&[("folder", "post", "/dest")]);
    study
        .post_at(&proxy.url, &["--chunk-size", "4"])
        .assert()
        .success();
    let seen = seen.lock().unwrap();
    let sent: Vec<&Seen> = (seen.iter())
        .filter(|s| {
            ["start", "append_v2"]
                .map(|r| format!("files/upload_session/{r}"))
                .contains(&s.route)
        })
        .collect();
    // big.bin: a start and two appends; small.csv: one closed start.
    assert_eq!(sent.len(), 4, "{seen:?}");
    for s in sent {
        assert_eq!(s.arg["content_hash"], hash(&s.body), "{}", s.route);
    }
    let batches = seen
        .iter()
        .filter(|s| s.route == "files/upload_session/finish_batch_v2");
    let entries: Vec<_> = batches
        .flat_map(|b| b.arg["entries"].as_array().unwrap().clone())
        .collect();
    assert_eq!(entries.len(), 2);
    assert!(
        entries.iter().all(|e| e.get("content_hash").is_none()),
        "{entries:?}"
    );
}
