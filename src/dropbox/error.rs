//! Dropbox's error model as typed errors.
//!
//! Dropbox answers by status: 400 plain text (a bug on our side: never retried), 401 JSON
//! `AuthError`, 403 JSON `AccessError`, 409 JSON route error (`error_summary` + `error`),
//! 422 JSON `PathRootError` (a refused `Dropbox-API-Path-Root`), 429 rate limit (JSON or
//! plain text; `Retry-After` is the source of truth), 5xx server trouble.
//! [`ApiError::reason`] reduces a 409 union to the few cases the engine acts on.
//!
//! A failure the user can fix in the App Console or with `auth` reads as one sentence that
//! says what to do there.

use std::time::Duration;

use serde_json::Value;

use crate::exit::{ExitKind, Failure};

/// One failed Dropbox call (after the client's own retries, when it made any).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Dropbox rejected the request to {route} (400): {message}")]
    BadInput { route: String, message: String },
    #[error("{}", auth_message(.route, .auth))]
    Auth { route: String, auth: AuthError },
    #[error("Dropbox denied access on {route} (403): {summary}")]
    Access { route: String, summary: String },
    #[error("{}", path_root_message(.route, .error))]
    PathRoot { route: String, error: Value },
    /// `--root team` asked of an account without a shared team root: a personal account,
    /// or a member of a team whose folders live in each member's own space.
    #[error("{}", no_team_space_message(.account, .team.as_deref()))]
    NoTeamSpace {
        account: String,
        team: Option<String>,
    },
    #[error("{route}: {summary}")]
    Endpoint {
        route: String,
        summary: String,
        error: Value,
    },
    #[error("Dropbox rate-limited {route} (429){}", retry_note(.retry_after))]
    RateLimited {
        route: String,
        retry_after: Option<Duration>,
    },
    #[error("Dropbox server error on {route} ({status}): {body}")]
    Server {
        route: String,
        status: u16,
        body: String,
    },
    #[error("network error on {route}: {message}")]
    Network { route: String, message: String },
    #[error("unexpected answer from {route} ({status}): {message}")]
    Decode {
        route: String,
        status: u16,
        message: String,
    },
    #[error("could not refresh the Dropbox access token: {0}")]
    Refresh(String),
    #[error("gave up on {route} after {attempts} attempts: {last}")]
    Exhausted {
        route: String,
        attempts: u32,
        last: Box<ApiError>,
    },
}

impl ApiError {
    /// The exit code it means: credentials (or spaces) Dropbox refuses are 5, the rest 6.
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            ApiError::Auth { .. }
            | ApiError::Refresh(_)
            | ApiError::Access { .. }
            | ApiError::PathRoot { .. }
            | ApiError::NoTeamSpace { .. } => ExitKind::Auth,
            ApiError::Exhausted { last, .. } => last.exit_kind(),
            _ => ExitKind::Transfer,
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure::new(error.exit_kind(), error)
    }
}

/// The `AuthError` tags of a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    ExpiredAccessToken,
    InvalidAccessToken,
    MissingScope(String),
    Other(String),
}

const SEAL_AGAIN: &str = "seal a fresh credential (`dropbox-post auth` for a refresh token, \
     or `dropbox-post encrypt` a newly generated access token) and try again";

fn auth_message(route: &str, auth: &AuthError) -> String {
    let what = match auth {
        AuthError::ExpiredAccessToken => format!(
            "the access token has expired (those generated in the App Console last about 4 hours); {SEAL_AGAIN}"
        ),
        AuthError::InvalidAccessToken => format!(
            "the access token is invalid or was revoked (in the App Console, or under Connected apps in the account's settings); {SEAL_AGAIN}"
        ),
        AuthError::MissingScope(scope) => format!(
            "the app lacks the permission {scope}: tick {scope} on the app's Permissions tab in \
             the App Console (https://www.dropbox.com/developers/apps), click Submit, then run \
             `dropbox-post auth` again, since permissions apply only to tokens issued after the change"
        ),
        AuthError::Other(tag) => format!("the credential was refused ({tag}); {SEAL_AGAIN}"),
    };
    format!("Dropbox refused {route}: {what}")
}

fn no_team_space_message(account: &str, team: Option<&str>) -> String {
    const DROP: &str = "drop --root team and <param name=\"root\">team</param>";
    match team {
        None => format!(
            "{account} is a personal Dropbox account, which has no team space: run \
             `dropbox-post auth` signed in to the team (work) account, or post to the personal \
             space ({DROP})"
        ),
        Some(team) => format!(
            "the team {team} of {account} has no shared team space (its team folders are in \
             each member's own space, where paths start anyway): {DROP}"
        ),
    }
}

fn path_root_message(route: &str, error: &Value) -> String {
    let tags = tag_chain(error);
    match tags.first().copied() {
        Some("invalid_root") => format!(
            "Dropbox refused {route}: the account's team space changed while this ran \
             (invalid_root; its root is now namespace {}); run the command again",
            error
                .pointer("/invalid_root/root_namespace_id")
                .and_then(Value::as_str)
                .map_or_else(|| "?".into(), short)
        ),
        Some("no_permission") => format!(
            "Dropbox refused {route}: the account may not use that namespace (no_permission); \
             check that the credential belongs to a member of the team"
        ),
        _ => format!(
            "Dropbox refused {route} (422): {}",
            short(&error.to_string())
        ),
    }
}

fn retry_note(retry_after: &Option<Duration>) -> String {
    retry_after.map_or(String::new(), |d| {
        format!(", retry after {} s", d.as_secs())
    })
}

/// What a 409 route error means for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The path (or the upload session) does not exist.
    NotFound,
    /// Something is already at the path: `file`, `folder` or `file_ancestor`.
    Conflict(String),
    /// The server holds a different number of bytes for the session; resume there.
    IncorrectOffset(u64),
    /// The session was already closed (a retried close got through the first time).
    Closed,
    ContentHashMismatch,
    /// Namespace lock contention: retry later.
    TooManyWriteOperations,
    InsufficientSpace,
    Other,
}

impl ApiError {
    /// The union tags of a 409 error, outermost first (`["path", "conflict", "file"]`).
    pub fn tags(&self) -> Vec<&str> {
        match self {
            ApiError::Endpoint { error, .. } => tag_chain(error),
            ApiError::Exhausted { last, .. } => last.tags(),
            _ => Vec::new(),
        }
    }

    pub fn reason(&self) -> Option<Reason> {
        match self {
            ApiError::Endpoint { error, .. } => Some(reason_of(error)),
            ApiError::Exhausted { last, .. } => last.reason(),
            _ => None,
        }
    }

    /// A failure that would repeat for every file (bad credential, no space): stop the run.
    pub fn is_fatal(&self) -> bool {
        match self {
            ApiError::Auth { .. }
            | ApiError::Refresh(_)
            | ApiError::Access { .. }
            | ApiError::PathRoot { .. }
            | ApiError::NoTeamSpace { .. } => true,
            ApiError::Exhausted { last, .. } => last.is_fatal(),
            _ => self.reason() == Some(Reason::InsufficientSpace),
        }
    }
}

/// Reduce a 409 `error` (or a `finish_batch_v2` entry's `failure`) to a [`Reason`].
pub fn reason_of(error: &Value) -> Reason {
    let tags = tag_chain(error);
    let has = |t: &str| tags.contains(&t);
    if has("too_many_write_operations") {
        Reason::TooManyWriteOperations
    } else if has("insufficient_space") {
        Reason::InsufficientSpace
    } else if has("incorrect_offset") {
        match find_u64(error, "correct_offset") {
            Some(offset) => Reason::IncorrectOffset(offset),
            None => Reason::Other,
        }
    } else if has("content_hash_mismatch") {
        Reason::ContentHashMismatch
    } else if has("closed") {
        Reason::Closed
    } else if has("conflict") {
        Reason::Conflict(
            tags.iter()
                .skip_while(|t| **t != "conflict")
                .nth(1)
                .unwrap_or(&"file")
                .to_string(),
        )
    } else if has("not_found") {
        Reason::NotFound
    } else {
        Reason::Other
    }
}

/// Follow a Stone union value: `.tag`, then the member named by the tag (or, for a struct
/// member like `UploadWriteFailed`, its `reason` field).
fn tag_chain(error: &Value) -> Vec<&str> {
    let mut tags = Vec::new();
    let mut cur = error;
    while let Some(tag) = cur.get(".tag").and_then(Value::as_str) {
        tags.push(tag);
        match [tag, "reason"].iter().find_map(|k| cur.get(*k)) {
            Some(next) if next.is_object() => cur = next,
            _ => break,
        }
    }
    tags
}

fn find_u64(v: &Value, key: &str) -> Option<u64> {
    match v {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_u64)
            .or_else(|| map.values().find_map(|x| find_u64(x, key))),
        _ => None,
    }
}

/// Classify a 401 body.
pub fn auth_error_of(body: &str) -> AuthError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    match error.map(tag_chain).as_deref() {
        Some(["expired_access_token", ..]) => AuthError::ExpiredAccessToken,
        Some(["invalid_access_token", ..]) => AuthError::InvalidAccessToken,
        // `TokenScopeError` is a struct: Stone puts its field beside the tag.
        Some(["missing_scope", ..]) => AuthError::MissingScope(short(
            error
                .and_then(|e| e.get("required_scope"))
                .and_then(Value::as_str)
                .unwrap_or("?"),
        )),
        Some([tag, ..]) => AuthError::Other(short(tag)),
        _ => AuthError::Other(short(body)),
    }
}

/// A response body (or any text from the server) trimmed for an error line: known secrets
/// cut out, whitespace runs as one space, control characters escaped, bounded length.
pub fn short(body: &str) -> String {
    // Enough to show; a secret cut at this edge is still caught from 16 bytes on.
    let head = body
        .char_indices()
        .nth(4096)
        .map_or(body, |(i, _)| &body[..i]);
    let line = crate::redact::scrub(head)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let line = crate::redact::escape_controls(&line).into_owned();
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasons_of_documented_bodies() {
        let conflict = json!({".tag":"path","reason":{".tag":"conflict","conflict":{".tag":"file"}},"upload_session_id":"x"});
        assert_eq!(reason_of(&conflict), Reason::Conflict("file".into()));
        let folder = json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"folder"}}});
        assert_eq!(reason_of(&folder), Reason::Conflict("folder".into()));
        let offset = json!({".tag":"lookup_failed","lookup_failed":{".tag":"incorrect_offset","correct_offset":8388608}});
        assert_eq!(reason_of(&offset), Reason::IncorrectOffset(8_388_608));
        let append = json!({".tag":"incorrect_offset","correct_offset":5});
        assert_eq!(reason_of(&append), Reason::IncorrectOffset(5));
        assert_eq!(
            reason_of(&json!({".tag":"path","path":{".tag":"not_found"}})),
            Reason::NotFound
        );
        assert_eq!(
            reason_of(&json!({".tag":"too_many_write_operations"})),
            Reason::TooManyWriteOperations
        );
        assert_eq!(
            reason_of(&json!({".tag":"path","path":{".tag":"too_many_write_operations"}})),
            Reason::TooManyWriteOperations
        );
        assert_eq!(
            reason_of(&json!({".tag":"path","reason":{".tag":"insufficient_space"}})),
            Reason::InsufficientSpace
        );
        assert_eq!(
            reason_of(&json!({".tag":"lookup_failed","lookup_failed":{".tag":"closed"}})),
            Reason::Closed
        );
        assert_eq!(
            reason_of(&json!({".tag":"content_hash_mismatch"})),
            Reason::ContentHashMismatch
        );
        assert_eq!(reason_of(&json!({".tag":"other"})), Reason::Other);
        assert_eq!(reason_of(&json!("garbage")), Reason::Other);
        // incorrect_offset without its number cannot be acted on.
        assert_eq!(
            reason_of(&json!({".tag":"incorrect_offset"})),
            Reason::Other
        );
    }

    #[test]
    fn auth_errors() {
        assert_eq!(
            auth_error_of(
                r#"{"error_summary":"expired_access_token/.","error":{".tag":"expired_access_token"}}"#
            ),
            AuthError::ExpiredAccessToken
        );
        assert_eq!(
            auth_error_of(r#"{"error":{".tag":"invalid_access_token"}}"#),
            AuthError::InvalidAccessToken
        );
        assert_eq!(
            auth_error_of(
                r#"{"error_summary":"missing_scope/..","error":{".tag":"missing_scope","required_scope":"files.content.write"}}"#
            ),
            AuthError::MissingScope("files.content.write".into())
        );
        assert_eq!(
            auth_error_of("not json\nat all"),
            AuthError::Other("not json at all".into())
        );
    }

    #[test]
    fn messages_are_one_line_and_actionable() {
        let e = ApiError::Auth {
            route: "files/list_folder".into(),
            auth: AuthError::InvalidAccessToken,
        };
        let text = e.to_string();
        assert!(text.contains("invalid or was revoked"), "{text}");
        assert!(text.contains("dropbox-post encrypt"), "{text}");
        assert!(!text.contains('\n'));
        assert!(e.is_fatal());
        let e = ApiError::RateLimited {
            route: "r".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            e.to_string(),
            "Dropbox rate-limited r (429), retry after 3 s"
        );
        assert_eq!(short(&"x".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn app_console_failures_say_what_to_do_there() {
        let auth = |auth| ApiError::Auth {
            route: "files/upload".into(),
            auth,
        };
        let text = auth(AuthError::MissingScope("files.content.write".into())).to_string();
        for part in [
            "files.content.write",
            "Permissions tab",
            "Submit",
            "`dropbox-post auth`",
        ] {
            assert!(text.contains(part), "{text}");
        }
        let text = auth(AuthError::ExpiredAccessToken).to_string();
        assert!(
            text.contains("4 hours") && text.contains("dropbox-post auth"),
            "{text}"
        );
        let root = ApiError::PathRoot {
            route: "files/list_folder".into(),
            error: json!({".tag": "invalid_root", "invalid_root": {".tag": "team", "root_namespace_id": "77", "home_namespace_id": "1", "home_path": "/Me"}}),
        };
        assert!(root.to_string().contains("namespace 77"), "{root}");
        assert!(root.is_fatal());
        let personal = ApiError::NoTeamSpace {
            account: "Emma <e@x>".into(),
            team: None,
        };
        assert!(
            personal
                .to_string()
                .starts_with("Emma <e@x> is a personal Dropbox account")
        );
        let distinct = ApiError::NoTeamSpace {
            account: "Emma <e@x>".into(),
            team: Some("Lab".into()),
        };
        let text = distinct.to_string();
        assert!(
            text.starts_with("the team Lab of Emma <e@x> has no shared team space"),
            "{text}"
        );
        for e in [root, personal, distinct] {
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn exhausted_keeps_the_reason() {
        let e = ApiError::Exhausted {
            route: "files/upload_session/finish".into(),
            attempts: 10,
            last: Box::new(ApiError::Endpoint {
                route: "files/upload_session/finish".into(),
                summary: "path/insufficient_space/..".into(),
                error: json!({".tag":"path","path":{".tag":"insufficient_space"}}),
            }),
        };
        assert_eq!(e.reason(), Some(Reason::InsufficientSpace));
        assert!(e.is_fatal());
        assert_eq!(e.tags(), vec!["path", "insufficient_space"]);
    }
}
