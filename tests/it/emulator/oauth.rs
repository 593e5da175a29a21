//! OAuth2 against a real emulator: authorization code with PKCE or secret, refresh,
//! expiry, and grants that survive a restart.

use crate::harness::{Emulator, body};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

async fn authorize(emu: &Emulator, params: &[(&str, &str)]) -> (StatusCode, String) {
    let url =
        url::Url::parse_with_params(&format!("{}/oauth2/authorize", emu.url), params).unwrap();
    let r = emu.http.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn token(emu: &Emulator, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = emu
        .http
        .post(format!("{}/oauth2/token", emu.url))
        .form(form)
        .send()
        .await
        .unwrap();
    body(r).await
}

/// Authorizes with `params`, then exchanges the code for `client_id` with `extra` fields.
async fn exchange(
    emu: &Emulator,
    params: &[(&str, &str)],
    client_id: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let (s, code) = authorize(emu, params).await;
    assert_eq!(s, StatusCode::OK, "{code}");
    redeem(emu, &code, client_id, extra).await
}

/// Exchanges `code` for tokens.
async fn redeem(
    emu: &Emulator,
    code: &str,
    client_id: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client_id),
    ];
    form.extend_from_slice(extra);
    token(emu, &form).await
}

async fn account_status(emu: &Emulator, access: &str) -> (StatusCode, Value) {
    body(emu.current_account(access).await).await
}

#[tokio::test]
async fn pkce_code_flow_refresh_and_expiry() {
    let mut emu = Emulator::start(&["--app", "pkceapp", "--test-clock"]);
    let verifier = "v".repeat(64);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let params = [
        ("client_id", "pkceapp"),
        ("response_type", "code"),
        ("token_access_type", "offline"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let (s, code) = authorize(&emu, &params).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = redeem(&emu, &code, "pkceapp", &[("code_verifier", "wrong")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    // A code is single-use, even after a failed exchange.
    let (_, code) = authorize(&emu, &params).await;
    let (s, t) = redeem(&emu, &code, "pkceapp", &[("code_verifier", &verifier)]).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 14_400);
    assert_eq!(t["account_id"].as_str().unwrap().len(), 40);
    assert!(t["uid"].is_string() && t["scope"].is_string());
    let access = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    let (s, again) = redeem(&emu, &code, "pkceapp", &[("code_verifier", &verifier)]).await;
    assert_eq!(
        (s, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(account_status(&emu, &access).await.0, StatusCode::OK);

    emu.advance_clock(14_400 + 1).await;
    let (s, e) = account_status(&emu, &access).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"][".tag"], "expired_access_token");

    // Refresh works after a restart: grants persist under --root.
    emu.restart(&["--app", "pkceapp", "--token-lifetime", "60"]);
    let (s, r) = token(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "pkceapp"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(r.get("refresh_token").is_none());
    assert_eq!(r["expires_in"], 60);
    let fresh = r["access_token"].as_str().unwrap();
    assert!(fresh.starts_with("sl."));
    assert_eq!(account_status(&emu, fresh).await.0, StatusCode::OK);
    let (s, e) = token(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "bogus"),
            ("client_id", "pkceapp"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_grant");
    assert!(e["error_description"].is_string());
    let stored = std::fs::read_to_string(emu.root().join("oauth.json")).unwrap();
    assert!(
        !stored.contains(&refresh) && !stored.contains(fresh),
        "only digests are stored"
    );
}

#[tokio::test]
async fn secret_apps_basic_auth_and_bad_requests() {
    let emu = Emulator::start(&["--app", "key:sekrit"]);
    let (s, _) = authorize(&emu, &[("client_id", "other"), ("response_type", "code")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let offline = [
        ("client_id", "key"),
        ("response_type", "code"),
        ("token_access_type", "offline"),
    ];
    let (s, e) = exchange(&emu, &offline, "key", &[("client_secret", "wrong")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_client");
    let (s, t) = exchange(&emu, &offline, "key", &[("client_secret", "sekrit")]).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let refresh = t["refresh_token"].as_str().unwrap();
    // Refreshing a secret app's grant needs the secret, here through HTTP Basic.
    let (s, _) = token(
        &emu,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "key"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let r = emu
        .http
        .post(format!("{}/oauth2/token", emu.url))
        .basic_auth("key", Some("sekrit"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    let (s, r) = body(r).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, e) = token(&emu, &[("grant_type", "password"), ("client_id", "key")]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "unsupported_grant_type");
    // A redirect_uri gets a redirect carrying the code and state.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = url::Url::parse_with_params(
        &format!("{}/oauth2/authorize", emu.url),
        &[
            ("client_id", "key"),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:1/cb"),
            ("state", "xyz"),
        ],
    )
    .unwrap();
    let r = no_redirects.get(url).send().await.unwrap();
    assert!(r.status().is_redirection());
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:1/cb?code=") && location.ends_with("&state=xyz")
    );
}

/// Issue 21 (19): `emulate --help` says that authorize approves whoever reaches the port.
#[test]
fn emulate_help_says_authorize_approves_anyone_who_reaches_it() {
    let out = crate::harness::TestEnv::new()
        .cmd()
        .args(["emulate", "--help"])
        .output()
        .unwrap();
    let help = crate::harness::stdout(&out);
    assert!(
        help.contains("oauth2/authorize approves every request at once"),
        "{help}"
    );
    assert!(help.contains("anyone who can reach"), "{help}");
}
