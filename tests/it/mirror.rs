//! Issue 21: one place decides what `post --delete` may delete. Only files at the revision
//! the listing saw (`parent_rev`), a folder only when a fresh listing shows nothing in it
//! that was not listed, never anything a second writer put there while the run was going;
//! and the emulator honours `parent_rev` as Dropbox does.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Emulator, block_on};

/// The error tags of a 409 answer, outermost first: `path_write/conflict/file`.
fn tags(error: &Value) -> String {
    let mut tags = Vec::new();
    let mut at = &error["error"];
    while let Some(tag) = at[".tag"].as_str() {
        tags.push(tag);
        at = &at[tag];
    }
    tags.join("/")
}

#[test]
fn the_emulator_deletes_a_file_only_at_its_parent_rev() {
    let emu = Emulator::start(&[]);
    block_on(async {
        let (_, old) = emu.upload("/s/a.txt", b"one").await;
        let overwrite = json!({"path": "/s/a.txt", "mode": "overwrite"});
        let (_, new) = emu
            .upload_to("files/upload", overwrite, b"two".to_vec())
            .await;
        let emu = &emu;
        let delete = |path: &str, rev: &Value| {
            let arg = json!({"path": path, "parent_rev": rev});
            async move { emu.rpc("files/delete_v2", &arg).await }
        };
        let (s, e) = delete("/s/a.txt", &old["rev"]).await;
        assert_eq!(
            (s, tags(&e)),
            (StatusCode::CONFLICT, "path_write/conflict/file".into())
        );
        let (s, e) = delete("/s", &new["rev"]).await;
        assert_eq!(
            (s, tags(&e)),
            (StatusCode::CONFLICT, "path_lookup/not_file".into())
        );
        assert_eq!(
            delete("/s/a.txt", &json!("xyz")).await.0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(emu.download("/s/a.txt").await, b"two");
        let (s, d) = delete("/s/a.txt", &new["rev"]).await;
        assert_eq!(
            (s, &d["metadata"]["rev"]),
            (StatusCode::OK, &new["rev"]),
            "{d}"
        );
    });
}
