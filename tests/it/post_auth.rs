//! Refresh-token credentials against a real emulator: minting, one shared refresh when
//! the access token expires, and a refused refresh token.

use std::sync::Arc;

use dropbox_post_core::dropbox::auth::{RefreshGrant, TokenSource};
use dropbox_post_core::dropbox::client::DropboxClient;
use dropbox_post_core::dropbox::endpoint::Endpoints;
use dropbox_post_core::dropbox::error::ApiError;
use secrecy::SecretString;

use crate::harness::{Emulator, TestEnv, block_on};

const APP_KEY: &str = "testappkey";
const APP_SECRET: &str = "testappsecret";

/// A refresh token from the emulator's authorization-code flow (it approves at once).
async fn refresh_token(emu: &Emulator) -> String {
    let (_, answer) = emu.grant(APP_KEY, APP_SECRET, &[]).await;
    answer["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token in {answer}"))
        .to_string()
}

fn app() -> String {
    format!("{APP_KEY}:{APP_SECRET}")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_refreshed_once_for_all_transfers() {
    let emu = Emulator::start(&["--app", &app(), "--test-clock"]);
    let refresh = refresh_token(&emu).await;
    let source = TokenSource::refreshing(RefreshGrant {
        app_key: APP_KEY.into(),
        app_secret: Some(SecretString::from(APP_SECRET)),
        refresh_token: SecretString::from(refresh),
    });
    let client =
        Arc::new(DropboxClient::new(Endpoints::single(&emu.url).unwrap(), source).unwrap());
    assert_eq!(client.auth().generation(), None);
    client.list_folder_recursive("").await.unwrap();
    assert_eq!(client.auth().generation(), Some(0));

    // Past the token's 4 h, every request gets 401 expired.
    let lifetime = dropbox_emulator::DEFAULT_TOKEN_LIFETIME.as_secs();
    emu.advance_clock(lifetime + 1).await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.list_folder_recursive("").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(
        client.auth().generation(),
        Some(1),
        "one refresh for all eight"
    );
}

#[test]
fn post_with_a_refresh_token_credential() {
    let env = TestEnv::with_emulator(&["--app", &app()]);
    let emu = env.emulator();
    let refresh = block_on(refresh_token(emu));
    let credential = serde_json::json!({
        "type": "refresh_token",
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "refresh_token": refresh,
    });
    let study = env.study_sealing(&credential.to_string());
    study.write("out/a.txt", b"refreshed");
    study.config(&[("folder", "out", "/r")]);
    study.post(&[]).assert().success();
    assert_eq!(std::fs::read(emu.file("/r/a.txt")).unwrap(), b"refreshed");
}

#[test]
fn a_refused_refresh_token_exits_5() {
    let env = TestEnv::with_emulator(&["--app", &app()]);
    let credential = serde_json::json!({
        "type": "refresh_token",
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "refresh_token": "revoked-refresh-token-value",
    });
    let study = env.study_sealing(&credential.to_string());
    study.write("out/a.txt", b"x");
    study.config(&[("folder", "out", "/r")]);
    let out = study.post(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert!(!stderr.contains("revoked-refresh-token-value"), "{stderr}");
    assert!(!stderr.contains(APP_SECRET), "{stderr}");
}

#[tokio::test]
async fn a_fixed_token_that_expired_cannot_be_renewed() {
    let emu = Emulator::start(&[]);
    let client = DropboxClient::new(
        Endpoints::single(&emu.url).unwrap(),
        TokenSource::fixed(SecretString::from("unknown-token")),
    )
    .unwrap();
    let err = client.list_folder_recursive("").await.unwrap_err();
    assert!(matches!(err, ApiError::Auth { .. }), "{err:?}");
    assert!(err.is_fatal());
}
