//! Who may call the API: static `--token`s, and tokens issued through the OAuth2
//! authorization-code flow (PKCE or app secret) and refresh grant of registered `--app`s.
//! Every token carries the scopes it was granted: the app's (or a subset the authorization
//! asked for, plus earlier grants with `include_granted_scopes=user`), narrowed further by
//! a refresh with `scope=`. Only SHA-256 digests of tokens are kept; issued grants persist
//! in `ROOT/oauth.json`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::clock::Clock;
use super::scopes::{AppSpec, Scopes, StaticToken};
use dropbox_wire::types::TokenResponse;

/// The one account every token belongs to (a Stone `AccountId` is exactly 40 chars).
pub const ACCOUNT_ID: &str = "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc";
pub const UID: &str = "12345";
const CODE_LIFETIME_SECS: i64 = 600;

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 48];
    rand::thread_rng().fill(&mut bytes[..]);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[derive(Serialize, Deserialize, Clone)]
struct RefreshGrant {
    client_id: String,
    /// Granted through PKCE: refreshing needs no secret.
    pkce: bool,
    scope: Scopes,
}

#[derive(Serialize, Deserialize, Clone)]
struct Issued {
    /// Unix seconds.
    expires: i64,
    scope: Scopes,
}

#[derive(Serialize, Deserialize, Default)]
struct Persisted {
    /// digest(refresh token) → grant.
    refresh: HashMap<String, RefreshGrant>,
    /// digest(access token) → its expiry and scopes.
    access: HashMap<String, Issued>,
    /// App key → every scope the user has granted it (for `include_granted_scopes`).
    #[serde(default)]
    granted: HashMap<String, Scopes>,
}

struct PendingCode {
    client_id: String,
    challenge: Option<String>,
    redirect_uri: Option<String>,
    offline: bool,
    scope: Scopes,
    /// Unix seconds, by the clock.
    issued: i64,
}

struct App {
    secret: Option<SecretString>,
    /// Ticked on its Permissions tab: the most its tokens can get.
    scopes: Scopes,
}

pub struct Auth {
    /// digest(token) → scopes.
    static_tokens: HashMap<String, Scopes>,
    apps: HashMap<String, App>,
    lifetime: Duration,
    path: PathBuf,
    state: Mutex<Persisted>,
    codes: Mutex<HashMap<String, PendingCode>>,
    /// When codes and issued tokens expire.
    clock: Arc<Clock>,
}

/// An OAuth endpoint's error: 400 `{"error":…,"error_description":…}`.
#[derive(Debug)]
struct OAuthError(StatusCode, &'static str, String);

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.1, "error_description": self.2});
        (
            self.0,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

fn invalid_grant(why: &str) -> OAuthError {
    OAuthError(StatusCode::BAD_REQUEST, "invalid_grant", why.to_string())
}

fn invalid_client() -> OAuthError {
    OAuthError(
        StatusCode::BAD_REQUEST,
        "invalid_client",
        "Invalid client_id or client_secret".to_string(),
    )
}

fn invalid_request(why: String) -> OAuthError {
    OAuthError(StatusCode::BAD_REQUEST, "invalid_request", why)
}

fn invalid_scope(why: String) -> OAuthError {
    OAuthError(StatusCode::BAD_REQUEST, "invalid_scope", why)
}

/// A `scope` parameter: known scope names, all among `allowed` (`what` names the bound).
fn requested_scope(text: &str, allowed: &Scopes, what: &str) -> Result<Scopes, OAuthError> {
    let scope: Scopes = text.parse().map_err(|e| invalid_scope(format!("{e}")))?;
    match scope.beyond(allowed).as_slice() {
        [] => Ok(scope),
        beyond => Err(invalid_scope(format!("{} not {what}", beyond.join(" ")))),
    }
}

impl Auth {
    pub fn new(
        root: &std::path::Path,
        tokens: &[StaticToken],
        apps: &[AppSpec],
        lifetime: Duration,
        clock: Arc<Clock>,
    ) -> std::io::Result<Auth> {
        let path = root.join("oauth.json");
        let state = match super::read_state(&path)? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(
                    "{} unreadable, starting without grants: {e}",
                    path.display()
                );
                Persisted::default()
            }),
            None => Persisted::default(),
        };
        Ok(Auth {
            static_tokens: tokens
                .iter()
                .map(|t| (digest(&t.token), t.scopes.clone()))
                .collect(),
            apps: apps
                .iter()
                .map(|a| {
                    let app = App {
                        secret: a.secret.clone().map(SecretString::from),
                        scopes: a.scopes.clone(),
                    };
                    (a.key.clone(), app)
                })
                .collect(),
            lifetime,
            path,
            state: Mutex::new(state),
            codes: Mutex::new(HashMap::new()),
            clock,
        })
    }

    /// Checks a bearer token: its digest (which names whose limits its uploads count
    /// against) and the scopes it carries, or the 401 `AuthError` tag.
    pub fn check(&self, token: &str) -> Result<(String, Scopes), &'static str> {
        let d = digest(token);
        if let Some(scopes) = self.static_tokens.get(&d) {
            return Ok((d, scopes.clone()));
        }
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let scopes = match state.access.get(&d) {
            Some(t) if t.expires > self.clock.now() => t.scope.clone(),
            Some(_) => return Err("expired_access_token"),
            None => return Err("invalid_access_token"),
        };
        Ok((d, scopes))
    }

    /// App authentication (HTTP Basic `key:secret`): a registered app, with its secret.
    pub fn check_app(&self, key: &str, secret: &str) -> bool {
        self.apps
            .get(key)
            .is_some_and(|app| same_secret(app, Some(secret)))
    }

    fn save(&self, state: &Persisted) {
        if let Err(e) = super::write_json_atomically(&self.path, state) {
            tracing::error!("saving {}: {e}", self.path.display());
        }
    }

    /// `GET /oauth2/authorize`: approves at once. Answers the code as plain text, or
    /// redirects to `redirect_uri` with `code` and `state`.
    pub fn authorize(&self, q: &HashMap<String, String>) -> Response {
        let Some((client_id, app)) = q.get("client_id").and_then(|c| self.apps.get_key_value(c))
        else {
            return (StatusCode::BAD_REQUEST, "Invalid client_id.").into_response();
        };
        if q.get("response_type").map(String::as_str) != Some("code") {
            return (StatusCode::BAD_REQUEST, "response_type must be \"code\".").into_response();
        }
        let challenge = q.get("code_challenge").cloned();
        if challenge.is_some() && q.get("code_challenge_method").map(String::as_str) != Some("S256")
        {
            return (
                StatusCode::BAD_REQUEST,
                "code_challenge_method must be \"S256\".",
            )
                .into_response();
        }
        let scope = match self.authorized_scope(client_id, app, q) {
            Ok(scope) => scope,
            Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
        };
        let code = random_secret("");
        let redirect_uri = q.get("redirect_uri").cloned();
        self.codes.lock().unwrap_or_else(|p| p.into_inner()).insert(
            code.clone(),
            PendingCode {
                client_id: client_id.clone(),
                challenge,
                redirect_uri: redirect_uri.clone(),
                offline: q.get("token_access_type").map(String::as_str) == Some("offline"),
                scope,
                issued: self.clock.now(),
            },
        );
        match redirect_uri {
            Some(uri) => {
                let mut url = match url::Url::parse(&uri) {
                    Ok(u) => u,
                    Err(_) => {
                        return (StatusCode::BAD_REQUEST, "Invalid redirect_uri.").into_response();
                    }
                };
                url.query_pairs_mut().append_pair("code", &code);
                if let Some(state) = q.get("state") {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Redirect::to(url.as_str()).into_response()
            }
            None => code.into_response(),
        }
    }

    /// `POST /oauth2/token` (form-encoded).
    pub fn token(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        match self.grant(headers, body) {
            Ok(t) => (
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_string(&t).unwrap_or_default(),
            )
                .into_response(),
            Err(e) => e.into_response(),
        }
    }

    fn grant(&self, headers: &HeaderMap, body: &[u8]) -> Result<TokenResponse, OAuthError> {
        let mut form: HashMap<String, String> = serde_urlencoded::from_bytes(body)
            .map_err(|e| invalid_request(format!("request body is not a form: {e}")))?;
        if let Some((id, secret)) = basic_auth(headers) {
            form.entry("client_id".into()).or_insert(id);
            form.entry("client_secret".into()).or_insert(secret);
        }
        let field = |name: &str| {
            form.get(name)
                .map(String::as_str)
                .ok_or_else(|| invalid_request(format!("No \"{name}\" given.")))
        };
        let client_id = field("client_id")?;
        let Some(app) = self.apps.get(client_id) else {
            return Err(invalid_client());
        };
        let secret_ok = |given: Option<&String>| same_secret(app, given.map(String::as_str));
        if form.contains_key("client_secret") && !secret_ok(form.get("client_secret")) {
            return Err(invalid_client());
        }
        match field("grant_type")? {
            "authorization_code" => {
                let code = field("code")?;
                let pending = self
                    .codes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(code)
                    .filter(|p| {
                        self.clock.now() - p.issued < CODE_LIFETIME_SECS && p.client_id == client_id
                    })
                    .ok_or_else(|| invalid_grant("code doesn't exist or has expired"))?;
                if pending.redirect_uri.as_deref() != form.get("redirect_uri").map(String::as_str) {
                    return Err(invalid_grant("redirect_uri mismatch"));
                }
                let pkce = match &pending.challenge {
                    Some(challenge) => {
                        let verifier = field("code_verifier")?;
                        if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge
                        {
                            return Err(invalid_grant("invalid code verifier"));
                        }
                        true
                    }
                    None if secret_ok(form.get("client_secret")) => false,
                    None => return Err(invalid_client()),
                };
                let refresh = {
                    let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    let granted = state.granted.remove(client_id).unwrap_or_else(Scopes::none);
                    state
                        .granted
                        .insert(client_id.to_string(), granted.union(&pending.scope));
                    pending.offline.then(|| {
                        let token = random_secret("");
                        let grant = RefreshGrant {
                            client_id: client_id.to_string(),
                            pkce,
                            scope: pending.scope.clone(),
                        };
                        state.refresh.insert(digest(&token), grant);
                        token
                    })
                };
                let mut t = self.issue(pending.scope.clone());
                t.refresh_token = refresh;
                t.scope = Some(pending.scope.to_string());
                t.uid = Some(UID.into());
                t.account_id = Some(ACCOUNT_ID.into());
                Ok(t)
            }
            "refresh_token" => {
                let token = field("refresh_token")?;
                let grant = {
                    let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    state.refresh.get(&digest(token)).cloned()
                };
                let grant = grant
                    .filter(|g| g.client_id == client_id)
                    .ok_or_else(|| invalid_grant("refresh token is malformed"))?;
                if !grant.pkce && !secret_ok(form.get("client_secret")) {
                    return Err(invalid_client());
                }
                // `scope=` narrows this access token; the refresh token keeps its grant.
                let narrowed = form
                    .get("scope")
                    .map(|text| {
                        requested_scope(text, &grant.scope, "granted to this refresh token")
                    })
                    .transpose()?;
                let mut t = self.issue(narrowed.clone().unwrap_or(grant.scope));
                t.scope = narrowed.map(|s| s.to_string());
                Ok(t)
            }
            other => Err(OAuthError(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type \"{other}\" is not supported"),
            )),
        }
    }

    /// What an authorization grants: the app's scopes, or the subset `scope` asks for plus,
    /// with `include_granted_scopes=user`, every scope the user granted the app before.
    /// `Err` is the plain-text reason of a 400.
    fn authorized_scope(
        &self,
        client_id: &str,
        app: &App,
        q: &HashMap<String, String>,
    ) -> Result<Scopes, String> {
        let include = q.get("include_granted_scopes").map(String::as_str);
        let Some(text) = q.get("scope") else {
            return match include {
                None => Ok(app.scopes.clone()),
                Some(_) => Err("include_granted_scopes needs a scope parameter.".into()),
            };
        };
        let scope = requested_scope(text, &app.scopes, "enabled on the app's Permissions tab")
            .map_err(|e| format!("Invalid scope: {}.", e.2))?;
        match include {
            None => Ok(scope),
            Some("user") => {
                let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                Ok(match state.granted.get(client_id) {
                    Some(before) => scope.union(before),
                    None => scope,
                })
            }
            Some("team") => Err(
                "include_granted_scopes=team needs a team admin; the emulated account is none."
                    .into(),
            ),
            Some(other) => Err(format!(
                "include_granted_scopes must be \"user\" or \"team\", not {other:?}."
            )),
        }
    }

    /// A new short-lived access token, recorded (and every grant saved) before it is handed out.
    fn issue(&self, scope: Scopes) -> TokenResponse {
        let token = random_secret("sl.");
        let expires_in = self.lifetime.as_secs();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let expires = self.clock.now() + expires_in as i64;
        state
            .access
            .insert(digest(&token), Issued { expires, scope });
        self.save(&state);
        TokenResponse {
            access_token: token,
            token_type: "bearer".into(),
            expires_in: Some(expires_in),
            refresh_token: None,
            scope: None,
            uid: None,
            account_id: None,
        }
    }
}

fn same_secret(app: &App, given: Option<&str>) -> bool {
    match (&app.secret, given) {
        (Some(s), Some(g)) => digest(s.expose_secret()) == digest(g),
        _ => false,
    }
}

/// HTTP Basic credentials: `(user, password)`.
pub fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(dir: &std::path::Path) -> Auth {
        Auth::new(
            dir,
            &[
                "static".into(),
                "narrow=files.metadata.read".parse().unwrap(),
            ],
            &["key:secret=files.metadata.read files.content.write"
                .parse()
                .unwrap()],
            Duration::from_secs(60),
            Arc::default(),
        )
        .unwrap()
    }

    #[test]
    fn static_and_unknown_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let a = auth(dir.path());
        assert_eq!(a.check("static").map(|(_, s)| s), Ok(Scopes::default_set()));
        assert_eq!(
            a.check("narrow").unwrap().1.to_string(),
            "files.metadata.read"
        );
        assert_eq!(a.check("other"), Err("invalid_access_token"));
        assert!(a.check_app("key", "secret"));
        assert!(!a.check_app("key", "wrong") && !a.check_app("nokey", "secret"));
    }

    #[test]
    fn code_flow_with_secret_and_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let a = auth(dir.path());
        let q: HashMap<String, String> = [
            ("client_id", "key"),
            ("response_type", "code"),
            ("token_access_type", "offline"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let r = a.authorize(&q);
        assert_eq!(r.status(), StatusCode::OK);
        let code = a.codes.lock().unwrap().keys().next().unwrap().clone();
        let h = HeaderMap::new();
        let body = format!("grant_type=authorization_code&code={code}&client_id=key");
        assert!(a.grant(&h, body.as_bytes()).is_err(), "no secret, no PKCE");
        a.authorize(&q);
        let code = a.codes.lock().unwrap().keys().next().unwrap().clone();
        let body =
            format!("grant_type=authorization_code&code={code}&client_id=key&client_secret=secret");
        let t = a.grant(&h, body.as_bytes()).unwrap();
        let app_scopes = "account_info.read files.content.write files.metadata.read";
        assert_eq!(t.scope.as_deref(), Some(app_scopes));
        assert_eq!(a.check(&t.access_token).unwrap().1.to_string(), app_scopes);
        let refresh = t.refresh_token.unwrap();
        let body = format!("grant_type=refresh_token&refresh_token={refresh}&client_id=key");
        assert!(a.grant(&h, body.as_bytes()).is_err(), "secret required");
        let body = format!("{body}&client_secret=secret");
        let full = a.grant(&h, body.as_bytes()).unwrap();
        assert_eq!(
            (
                full.scope,
                a.check(&full.access_token).unwrap().1.to_string()
            ),
            (None, app_scopes.into())
        );
        // A refresh narrows with `scope=`, never widens.
        let narrow = a
            .grant(&h, format!("{body}&scope=files.metadata.read").as_bytes())
            .unwrap();
        assert_eq!(narrow.scope.as_deref(), Some("files.metadata.read"));
        assert_eq!(
            a.check(&narrow.access_token).unwrap().1.to_string(),
            "files.metadata.read"
        );
        let wide = a
            .grant(&h, format!("{body}&scope=sharing.read").as_bytes())
            .unwrap_err();
        assert_eq!(wide.1, "invalid_scope");
        // Grants survive a restart; the persisted file holds no raw token.
        let again = auth(dir.path());
        assert_eq!(
            again.check(&t.access_token).unwrap().1.to_string(),
            app_scopes
        );
        let saved = std::fs::read_to_string(dir.path().join("oauth.json")).unwrap();
        assert!(!saved.contains(&refresh) && !saved.contains(&t.access_token));
    }

    #[test]
    fn authorizations_ask_for_a_subset_and_may_add_earlier_grants() {
        let dir = tempfile::tempdir().unwrap();
        let a = auth(dir.path());
        let grant = |extra: &[(&str, &str)]| {
            let q: HashMap<String, String> = [("client_id", "key"), ("response_type", "code")]
                .iter()
                .chain(extra)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let r = a.authorize(&q);
            if r.status() != StatusCode::OK {
                return Err(r.status());
            }
            let code = a.codes.lock().unwrap().keys().next().unwrap().clone();
            let body = format!(
                "grant_type=authorization_code&code={code}&client_id=key&client_secret=secret"
            );
            Ok(a.grant(&HeaderMap::new(), body.as_bytes())
                .unwrap()
                .scope
                .unwrap())
        };
        assert_eq!(
            grant(&[("scope", "files.metadata.read")]),
            Ok("files.metadata.read".into())
        );
        assert_eq!(
            grant(&[
                ("scope", "files.content.write"),
                ("include_granted_scopes", "user")
            ]),
            Ok("files.content.write files.metadata.read".into())
        );
        assert_eq!(
            grant(&[("scope", "files.content.write")]),
            Ok("files.content.write".into())
        );
        for bad in [
            &[("scope", "sharing.read")][..],
            &[("scope", "no.such.scope")],
            &[("include_granted_scopes", "user")],
            &[
                ("scope", "files.content.write"),
                ("include_granted_scopes", "team"),
            ],
        ] {
            assert_eq!(grant(bad), Err(StatusCode::BAD_REQUEST), "{bad:?}");
        }
    }
}
