//! The in-process API the demo and benchmarks embed: spawn, base_url, shutdown.

use dropbox_emulator::{EmulatorConfig, EmulatorError, Faults, spawn};
use reqwest::StatusCode;

#[tokio::test]
async fn spawn_serve_shutdown_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.tokens.push("in-process".into());
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("in-process"),
        "tokens never in Debug: {debug}"
    );
    let emu = spawn(config.clone()).await.unwrap();
    assert!(emu.base_url().starts_with("http://127.0.0.1:"));
    assert!(emu.ca_cert_path().is_none());
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/2/files/upload", emu.base_url()))
        .bearer_auth("in-process")
        .header("Dropbox-API-Arg", r#"{"path":"/kept.txt"}"#)
        .body("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    emu.shutdown().await;
    let emu = spawn(config).await.unwrap();
    let r = http
        .post(format!("{}/2/files/get_metadata", emu.base_url()))
        .bearer_auth("in-process")
        .header("Content-Type", "application/json")
        .body(r#"{"path":"/kept.txt"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_configs_are_refused() {
    assert!(matches!(
        spawn(EmulatorConfig::default()).await,
        Err(EmulatorError::NoRoot)
    ));
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.faults = Faults {
        error_rate: 0.7,
        cut_rate: 0.7,
        ..Faults::default()
    };
    assert!(matches!(spawn(config).await, Err(EmulatorError::Faults(_))));
}
