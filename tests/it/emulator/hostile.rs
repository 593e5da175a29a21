//! Hostile and malformed requests: every one gets a 4xx answer and the server stays up.

use crate::harness::{Emulator, TOKEN};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn malformed_requests_never_break_the_server() {
    let emu = Emulator::start(&[]);
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let headers: Vec<(&str, String)> = vec![
        ("files/upload", r#"{"path":"/a\u0000b"}"#.into()),
        ("files/upload", nested.clone()),
        (
            "files/upload",
            format!(r#"{{"path":"{}"}}"#, "/deep".repeat(2000)),
        ),
        (
            "files/upload",
            r#"{"path":"/x","mode":{".tag":"update"}}"#.into(),
        ),
        ("files/upload", r#"{"path":"/x","mode":"update"}"#.into()),
        (
            "files/upload",
            r#"{"path":"/x","content_hash":"zz"}"#.into(),
        ),
        (
            "files/upload_session/append_v2",
            r#"{"cursor":{"session_id":"pid_upload_session:../../etc","offset":0}}"#.into(),
        ),
        (
            "files/upload_session/append_v2",
            r#"{"cursor":{"session_id":"x","offset":18446744073709551615}}"#.into(),
        ),
        (
            "files/upload_session/append_v2",
            r#"{"cursor":{"session_id":"x","offset":18446744073709551616}}"#.into(),
        ),
        (
            "files/upload_session/append_v2",
            r#"{"cursor":{"session_id":"x","offset":-1}}"#.into(),
        ),
        (
            "files/upload_session/finish",
            r#"{"cursor":{"session_id":"x","offset":0}}"#.into(),
        ),
        (
            "files/upload_session/start",
            r#"{"session_type":"parallel"}"#.into(),
        ),
        ("files/download", r#"{"path":"rev:zz"}"#.into()),
        ("files/download", "not json".into()),
    ];
    for (route, arg) in &headers {
        let r = emu
            .http
            .post(emu.route(route))
            .bearer_auth(TOKEN)
            .header("Dropbox-API-Arg", arg.as_str())
            .body("data")
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_client_error(),
            "{route} {arg:.80}: {}",
            r.status()
        );
    }
    // A concurrent session refuses offsets past the largest session.
    let (_, c) = emu
        .upload_to(
            "files/upload_session/start",
            json!({"session_type": "concurrent"}),
            vec![],
        )
        .await;
    let (s, e) = emu
        .upload_to(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": c["session_id"], "offset": 18446744073705357312u64}}),
            vec![0; 4],
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"][".tag"], "too_large");
    let bodies = [
        ("files/list_folder", nested.clone()),
        (
            "files/list_folder",
            r#"{"path":"","limit":4294967296}"#.into(),
        ),
        (
            "files/list_folder/continue",
            r#"{"cursor":"eyJwIjoxfQ"}"#.into(),
        ),
        ("files/get_metadata", r#"{"path":"id:"}"#.into()),
        ("files/delete_v2", r#"{"path":"/"}"#.into()),
        ("files/create_folder_v2", r#"{"path":"/a/../b"}"#.into()),
        (
            "files/upload_session/finish_batch_v2",
            json!({"entries": vec![json!({}); 2]}).to_string(),
        ),
        ("users/get_current_account", r#"{"unexpected":1}"#.into()),
    ];
    for (route, text) in &bodies {
        let (s, _) = emu
            .rpc(route, &serde_json::from_str(text).unwrap_or(json!(text)))
            .await;
        assert!(s.is_client_error(), "{route} {text:.80}: {s}");
    }
    let r = emu
        .http
        .post(emu.route("users/get_current_account"))
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let (s, _) = emu.rpc("users/get_current_account", &json!(null)).await;
    assert_eq!(s, StatusCode::OK, "still serving");
}
