//! Where the bearer token comes from: a fixed access token, or an app key + refresh token
//! exchanged at `oauth2/token` (first use, and again when Dropbox says the token expired);
//! and how a refresh token is got in the first place: the authorization-code grant with
//! PKCE ([`Pkce`], [`exchange_code`]).
//!
//! Many transfers may hit `expired_access_token` at once; each reports the generation of
//! the token it used, and only the first one to ask for that generation refreshes.

use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::distributions::Alphanumeric;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::endpoint::Endpoints;
use super::error::{ApiError, short};
use super::http::{answer_text, network};
use crate::seal::Credential;
use dropbox_wire::types::TokenResponse;

/// An app key + refresh token (offline access), optionally with the app secret (non-PKCE).
pub struct RefreshGrant {
    pub app_key: String,
    pub app_secret: Option<SecretString>,
    pub refresh_token: SecretString,
}

/// The token a request was sent with; `generation` identifies it for [`TokenSource::refresh`].
pub struct Token {
    pub generation: u64,
    pub secret: SecretString,
}

pub struct TokenSource {
    grant: Option<RefreshGrant>,
    current: RwLock<Option<Token>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl From<Credential> for TokenSource {
    /// Either credential type works; a refresh token is exchanged on first use.
    fn from(credential: Credential) -> Self {
        match credential {
            Credential::AccessToken { access_token } => TokenSource::fixed(access_token),
            Credential::RefreshToken {
                app_key,
                app_secret,
                refresh_token,
            } => TokenSource::refreshing(RefreshGrant {
                app_key,
                app_secret,
                refresh_token,
            }),
        }
    }
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.grant.is_some() {
            "refresh token"
        } else {
            "access token"
        };
        write!(f, "TokenSource({kind}, [REDACTED])")
    }
}

impl TokenSource {
    /// A fixed access token; an expired one cannot be renewed.
    pub fn fixed(access_token: SecretString) -> Self {
        crate::redact::register(access_token.expose_secret());
        TokenSource {
            grant: None,
            current: RwLock::new(Some(Token {
                generation: 0,
                secret: access_token,
            })),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Access tokens minted from a refresh token on first use.
    pub fn refreshing(grant: RefreshGrant) -> Self {
        crate::redact::register(grant.refresh_token.expose_secret());
        if let Some(secret) = &grant.app_secret {
            crate::redact::register(secret.expose_secret());
        }
        TokenSource {
            grant: Some(grant),
            current: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// How many times the token was replaced (`None`: none minted yet).
    pub fn generation(&self) -> Option<u64> {
        self.snapshot().map(|t| t.generation)
    }

    pub fn can_refresh(&self) -> bool {
        self.grant.is_some()
    }

    fn snapshot(&self) -> Option<Token> {
        self.current
            .read()
            .expect("token lock poisoned")
            .as_ref()
            .map(|t| Token {
                generation: t.generation,
                secret: t.secret.clone(),
            })
    }

    /// The token to send now, minting the first one if needed.
    pub async fn token(&self, http: &reqwest::Client, token_url: &Url) -> Result<Token, ApiError> {
        if let Some(t) = self.snapshot() {
            return Ok(t);
        }
        self.refresh(None, http, token_url).await?;
        self.snapshot()
            .ok_or_else(|| ApiError::Refresh("no access token after refreshing".into()))
    }

    /// Replace the token of `generation` (`None`: there is none yet). A caller that lost
    /// the race finds a newer generation and returns without a second exchange.
    pub async fn refresh(
        &self,
        generation: Option<u64>,
        http: &reqwest::Client,
        token_url: &Url,
    ) -> Result<(), ApiError> {
        let Some(grant) = &self.grant else {
            return Err(ApiError::Refresh(
                "the sealed credential is a bare access token, which cannot be renewed".into(),
            ));
        };
        let _one_at_a_time = self.refreshing.lock().await;
        let now = self.snapshot().map(|t| t.generation);
        if now.is_some() && now != generation {
            return Ok(());
        }
        let access = exchange(grant, http, token_url).await?;
        let mut slot = self.current.write().expect("token lock poisoned");
        *slot = Some(Token {
            generation: now.map_or(0, |g| g + 1),
            secret: access,
        });
        Ok(())
    }
}

/// One `grant_type=refresh_token` exchange.
async fn exchange(
    grant: &RefreshGrant,
    http: &reqwest::Client,
    token_url: &Url,
) -> Result<SecretString, ApiError> {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", grant.refresh_token.expose_secret()),
        ("client_id", grant.app_key.as_str()),
    ];
    if let Some(secret) = &grant.app_secret {
        form.push(("client_secret", secret.expose_secret()));
    }
    let parsed = token_request(http, token_url, &form)
        .await
        .map_err(|e| ApiError::Refresh(e.explain(Grant::Refresh)))?;
    crate::redact::register(&parsed.access_token);
    Ok(SecretString::from(parsed.access_token))
}

/// One authorization's PKCE secret (RFC 7636): the authorize URL carries only its S256
/// challenge; the verifier itself goes only to the token endpoint, with the code.
pub struct Pkce {
    verifier: SecretString,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pkce([REDACTED])")
    }
}

impl Pkce {
    /// A fresh verifier: 128 characters of [A-Za-z0-9] (the most RFC 7636 allows) from the
    /// operating system's randomness.
    pub fn generate() -> Pkce {
        let verifier: String = rand::rngs::OsRng
            .sample_iter(&Alphanumeric)
            .take(128)
            .map(char::from)
            .collect();
        Pkce {
            verifier: SecretString::from(verifier),
        }
    }

    /// `BASE64URL(SHA256(verifier))`, unpadded.
    fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.expose_secret().as_bytes()))
    }

    /// Where the user approves `app_key`: a code (shown, not redirected) for offline access,
    /// bound to this verifier by its challenge.
    pub fn authorize_url(&self, endpoints: &Endpoints, app_key: &str) -> Url {
        let mut url = endpoints.authorize_url();
        url.query_pairs_mut()
            .append_pair("client_id", app_key)
            .append_pair("response_type", "code")
            .append_pair("code_challenge", &self.challenge())
            .append_pair("code_challenge_method", "S256")
            .append_pair("token_access_type", "offline");
        url
    }
}

/// The authorization-code grant with PKCE: the refresh token of offline access, for the
/// `code` the user was shown after approving [`Pkce::authorize_url`]. `app_secret` is for
/// apps that were registered with one.
pub async fn exchange_code(
    http: &reqwest::Client,
    token_url: &Url,
    app_key: &str,
    app_secret: Option<&SecretString>,
    code: &str,
    pkce: &Pkce,
) -> Result<SecretString, ApiError> {
    let verifier = &pkce.verifier;
    crate::redact::register(code);
    crate::redact::register(verifier.expose_secret());
    if let Some(secret) = app_secret {
        crate::redact::register(secret.expose_secret());
    }
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", app_key),
        ("code_verifier", verifier.expose_secret()),
    ];
    if let Some(secret) = app_secret {
        form.push(("client_secret", secret.expose_secret()));
    }
    let parsed = token_request(http, token_url, &form)
        .await
        .map_err(|e| ApiError::Authorize(e.explain(Grant::Code)))?;
    parsed.refresh_token.map(SecretString::from).ok_or_else(|| {
        ApiError::Authorize(
            "Dropbox granted no refresh token (offline access); run `dropbox-post auth` again"
                .into(),
        )
    })
}

/// What a token request exchanged: each refusal has its own remedy.
#[derive(Clone, Copy)]
enum Grant {
    Refresh,
    Code,
}

/// Why a token request failed: the endpoint's OAuth refusal, or anything else.
enum TokenFailure {
    Refused(u16, String),
    Other(String),
}

impl TokenFailure {
    fn explain(self, grant: Grant) -> String {
        match self {
            TokenFailure::Refused(status, body) => refusal(grant, status, &body),
            TokenFailure::Other(message) => message,
        }
    }
}

async fn token_request(
    http: &reqwest::Client,
    token_url: &Url,
    form: &[(&str, &str)],
) -> Result<TokenResponse, TokenFailure> {
    let response = http
        .post(token_url.clone())
        .form(form)
        .send()
        .await
        .map_err(|e| TokenFailure::Other(network("oauth2/token", token_url, &e).to_string()))?;
    let status = response.status();
    let body = answer_text("oauth2/token", response)
        .await
        .map_err(|e| TokenFailure::Other(e.to_string()))?;
    if !status.is_success() {
        return Err(TokenFailure::Refused(status.as_u16(), body));
    }
    serde_json::from_str(&body).map_err(|e| {
        TokenFailure::Other(format!(
            "{token_url} answered with an unexpected body: {}",
            short(&e.to_string())
        ))
    })
}

/// Dropbox's OAuth errors are JSON `{"error":"invalid_grant","error_description":..}`.
fn refusal(grant: Grant, status: u16, body: &str) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    let Ok(e) = serde_json::from_str::<OAuthError>(body) else {
        return format!("token endpoint answered {status}: {}", short(body));
    };
    let detail = format!(
        "{status} {}{}",
        short(&e.error),
        e.error_description
            .map(|d| format!(": {}", short(&d)))
            .unwrap_or_default()
    );
    match e.error.as_str() {
        // A wrong (or superfluous) secret, or an app key that no longer exists.
        "invalid_client" => format!(
            "Dropbox refused the app key or app secret ({detail}); copy both from the app's \
             Settings tab in the App Console and run `dropbox-post auth` again \
             (`--app-secret-file` for the secret; none at all for a PKCE app)"
        ),
        _ => match grant {
            Grant::Refresh => format!(
                "Dropbox refused the refresh token ({detail}); it was revoked or has expired: \
                 run `dropbox-post auth` again to seal a new one"
            ),
            Grant::Code => format!(
                "Dropbox refused the authorization code ({detail}); a code works once and for \
                 10 minutes: run `dropbox-post auth` again and paste the new code whole"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = TokenSource::fixed(SecretString::from("sl.very-secret"));
        assert!(!format!("{s:?}").contains("very-secret"));
        let s = TokenSource::refreshing(RefreshGrant {
            app_key: "key".into(),
            app_secret: Some(SecretString::from("app-secret")),
            refresh_token: SecretString::from("refresh-secret"),
        });
        let shown = format!("{s:?}");
        assert!(!shown.contains("secret") || shown.contains("REDACTED"));
        assert!(!shown.contains("refresh-secret") && !shown.contains("app-secret"));
    }

    #[test]
    fn oauth_refusals_are_explained() {
        let m = refusal(
            Grant::Refresh,
            400,
            r#"{"error":"invalid_grant","error_description":"refresh token is malformed"}"#,
        );
        assert!(
            m.contains("invalid_grant") && m.contains("malformed"),
            "{m}"
        );
        assert!(m.contains("dropbox-post auth"));
        let m = refusal(
            Grant::Refresh,
            400,
            r#"{"error":"invalid_client","error_description":"Invalid client_id or client_secret"}"#,
        );
        assert!(
            m.starts_with("Dropbox refused the app key or app secret (400 invalid_client"),
            "{m}"
        );
        assert!(
            m.contains("Settings tab") && m.contains("dropbox-post auth"),
            "{m}"
        );
        assert_eq!(
            refusal(Grant::Code, 502, "<html>\nbad gateway</html>"),
            "token endpoint answered 502: <html> bad gateway</html>"
        );
        let m = refusal(
            Grant::Code,
            400,
            r#"{"error":"invalid_grant","error_description":"code doesn't exist or has expired"}"#,
        );
        assert!(
            m.starts_with("Dropbox refused the authorization code (400"),
            "{m}"
        );
        assert!(
            m.contains("works once") && m.contains("paste the new code"),
            "{m}"
        );
    }

    #[test]
    fn verifiers_are_128_alphanumerics_and_fresh() {
        let (a, b) = (Pkce::generate(), Pkce::generate());
        let a = a.verifier.expose_secret();
        assert_eq!(a.len(), 128);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b.verifier.expose_secret());
    }

    #[test]
    fn the_challenge_is_rfc7636_s256() {
        // RFC 7636 appendix B.
        let pkce = Pkce {
            verifier: SecretString::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        };
        assert_eq!(
            pkce.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_authorize_url_carries_the_challenge_and_offline_never_the_verifier() {
        let e = Endpoints::single("http://127.0.0.1:9").unwrap();
        let pkce = Pkce {
            verifier: SecretString::from("x".repeat(128)),
        };
        let url = pkce.authorize_url(&e, "my key");
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/oauth2/authorize");
        assert_eq!(q["client_id"], "my key");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge"], pkce.challenge());
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["token_access_type"], "offline");
        assert!(!url.as_str().contains(&"x".repeat(128)));
        assert!(!format!("{pkce:?}").contains("xxx"));
    }

    #[tokio::test]
    async fn a_fixed_token_cannot_refresh() {
        let s = TokenSource::fixed(SecretString::from("t"));
        let http = reqwest::Client::new();
        let url = Url::parse("http://127.0.0.1:9/oauth2/token").unwrap();
        let t = s.token(&http, &url).await.unwrap();
        assert_eq!(t.generation, 0);
        assert_eq!(t.secret.expose_secret(), "t");
        assert!(matches!(
            s.refresh(Some(0), &http, &url).await,
            Err(ApiError::Refresh(_))
        ));
    }
}
