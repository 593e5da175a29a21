//! Hostile and malformed requests: every one gets a 4xx answer and the server stays up;
//! a client cannot make it keep unbounded session data or hold idle connections.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use crate::harness::{Emulator, TOKEN, TestEnv, block_on, output_within, stderr};
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

// Issue 17, finding 11: the emulator under a hostile client.

#[tokio::test]
async fn the_emulator_caps_what_a_token_keeps_in_sessions() {
    let emu = Emulator::start(&["--max-staged-mib", "1"]);
    let start = || emu.raw("files/upload_session/start", "{}", vec![7u8; 600 << 10]);
    let first = start().await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = start().await;
    assert_eq!(second.status(), StatusCode::CONFLICT);
    assert!(second.text().await.unwrap().contains("insufficient_space"));
    let session: serde_json::Value = first.json().await.unwrap();
    let commit = json!({"cursor": {"session_id": session["session_id"], "offset": 600 << 10},
        "commit": {"path": "/big.bin"}});
    let (s, _) = emu
        .upload_to("files/upload_session/finish", commit, vec![])
        .await;
    assert_eq!(s, StatusCode::OK);
    let again = start().await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "committed bytes are free again"
    );
}

/// How long from connecting to `addr` until the emulator closes the connection: idle, or
/// `dribble`-ing a header a byte at a time.
fn closed_after(addr: &str, dribble: bool) -> Duration {
    // Before connecting: the emulator's timer cannot start earlier.
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let header = b"POST /2/users/get_current_account HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let _ = stream.write_all(if dribble { header } else { b"" });
    loop {
        assert!(started.elapsed() < Duration::from_secs(15), "still open");
        if dribble && stream.write_all(b"a").is_err() {
            return started.elapsed();
        }
        match stream.read(&mut [0u8; 256]) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return started.elapsed(),
        }
    }
}

#[test]
fn the_emulator_closes_idle_and_slow_header_connections() {
    let emu = Emulator::start(&["--idle-timeout", "1"]);
    let addr = emu.url.trim_start_matches("http://");
    for dribble in [false, true] {
        let closed = closed_after(addr, dribble);
        let within = Duration::from_secs(1)..Duration::from_secs(10);
        assert!(within.contains(&closed), "dribble: {dribble}, {closed:?}");
    }
}

/// A clock a client could move would let anyone expire sessions and tokens: the route is
/// there only with `--test-clock`, which a non-loopback `--listen` refuses.
#[test]
fn the_test_clock_is_off_unless_asked_for_and_loopback_only() {
    let emu = Emulator::start(&[]);
    let r = emu.http.post(format!("{}/test/clock", emu.url));
    let r = block_on(r.body(r#"{"advance_secs":1}"#).send()).unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let env = TestEnv::new();
    let mut open = env.cmd();
    open.args(["emulate", "--root", "r", "--token", "t", "--test-clock"]);
    let out = output_within(
        open.args(["--listen", "0.0.0.0:0"]),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("loopback only"), "{}", stderr(&out));
}

#[tokio::test]
async fn the_emulator_parses_bearer_strictly() {
    let emu = Emulator::start(&[]);
    let call = |value: String| {
        let r = emu.http.post(emu.route("users/get_current_account"));
        r.header("Authorization", value).send()
    };
    let ok = call(format!("Bearer {TOKEN}")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    for bad in [
        format!("Bearer  {TOKEN}"),
        format!("bearer {TOKEN}"),
        format!("Bearer {TOKEN}\tx"),
    ] {
        let status = call(bad.clone()).await.unwrap().status();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
}
