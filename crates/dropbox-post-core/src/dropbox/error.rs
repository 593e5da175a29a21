//! Dropbox's error model as typed errors.
//!
//! Dropbox answers by status: 400 plain text (a bug on our side: never retried), 401 JSON
//! `AuthError`, 403 JSON `AccessError`, 409 JSON route error (`error_summary` + `error`),
//! 422 JSON `PathRootError` (a refused `Dropbox-API-Path-Root`), 429 rate limit (JSON or
//! plain text; `Retry-After` is the source of truth), 5xx server trouble.
//! [`ApiError::route_error`] decodes a 409 by its route's error shape ([`RouteError`]).
//!
//! Every error reads as one sentence that says what failed, in the user's terms (the
//! Dropbox path, the endpoint), and what to do; a route error's tags are translated
//! ([`explain`]). The raw route and answer are logged at info level (`-v`), never shown
//! otherwise, except for answers this client does not know.

use std::time::Duration;

use serde_json::Value;

use super::route_error::RouteError;
use dropbox_wire::types::{error_summary, union_tags};

/// One failed Dropbox call (after the client's own retries, when it made any).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "Dropbox rejected the request to {route} as malformed (400: {message}); this is a bug \
         in dropbox-post, or the endpoint is not Dropbox: please report it"
    )]
    BadInput { route: String, message: String },
    #[error("{}", auth_message(.auth))]
    Auth { route: String, auth: AuthError },
    #[error(
        "Dropbox denied the account access ({summary}); check that the account (personal or \
         team) and the app's permissions allow this"
    )]
    Access { route: String, summary: String },
    #[error("{}", path_root_message(.error))]
    PathRoot { route: String, error: Value },
    /// `--root team` asked of an account without a shared team root: a personal account,
    /// or a member of a team whose folders live in each member's own space.
    #[error("{}", no_team_space_message(.account, .team.as_deref()))]
    NoTeamSpace {
        account: String,
        team: Option<String>,
    },
    /// A route's own error (409); `path` is the Dropbox path the request named, if any.
    #[error("{}", endpoint_message(.route, .summary, .error, .path.as_deref()))]
    Endpoint {
        route: String,
        summary: String,
        error: Value,
        path: Option<String>,
    },
    #[error(
        "Dropbox is limiting the rate of requests (429{}); wait a few minutes, or post with fewer --jobs",
        retry_note(.retry_after)
    )]
    RateLimited {
        route: String,
        retry_after: Option<Duration>,
    },
    #[error(
        "Dropbox had a server error ({status}: {body}); try again later \
         (https://status.dropbox.com says whether Dropbox is down)"
    )]
    Server {
        route: String,
        status: u16,
        body: String,
    },
    /// No answer at all: `host` is the endpoint's scheme, host and port.
    #[error(
        "cannot reach Dropbox at {host} ({cause}); check the network connection, and the URL \
         given by --endpoint or DROPBOX_POST_ENDPOINT if one is set"
    )]
    Network {
        route: String,
        host: String,
        cause: String,
    },
    /// The file a request's body streams from could not be read: not retried, the file is
    /// at fault, not Dropbox.
    #[error("could not read the file as it was sent: {source}")]
    Unreadable {
        route: String,
        source: std::io::Error,
    },
    #[error("unexpected answer from {route} ({status}): {message}")]
    Decode {
        route: String,
        status: u16,
        message: String,
    },
    #[error("could not refresh the Dropbox access token: {0}")]
    Refresh(String),
    /// `auth`'s exchange of the authorization code for a refresh token failed.
    #[error("could not authorize dropbox-post: {0}")]
    Authorize(String),
    #[error("gave up after {attempts} attempts: {last}")]
    Exhausted {
        route: String,
        attempts: u32,
        last: Box<ApiError>,
    },
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

fn auth_message(auth: &AuthError) -> String {
    match auth {
        AuthError::ExpiredAccessToken => format!(
            "Dropbox refused the credential: the access token has expired (those generated in \
             the App Console last about 4 hours); {SEAL_AGAIN}"
        ),
        AuthError::InvalidAccessToken => format!(
            "Dropbox refused the credential: the access token is invalid or was revoked (in the \
             App Console, or under Connected apps in the account's settings); {SEAL_AGAIN}"
        ),
        AuthError::MissingScope(scope) => format!(
            "Dropbox refused the request: the app lacks the permission {scope}: tick {scope} on \
             the app's Permissions tab in the App Console (https://www.dropbox.com/developers/apps), \
             click Submit, then run `dropbox-post auth` again, since permissions apply only to \
             tokens issued after the change"
        ),
        AuthError::Other(tag) => format!("Dropbox refused the credential ({tag}); {SEAL_AGAIN}"),
    }
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

fn path_root_message(error: &Value) -> String {
    let tags = union_tags(error);
    match tags.first().copied() {
        Some("invalid_root") => format!(
            "Dropbox refused the team space: the account's team space changed while this ran \
             (its root is now namespace {}); run the command again",
            error
                .pointer("/invalid_root/root_namespace_id")
                .and_then(Value::as_str)
                .map_or_else(|| "?".into(), short)
        ),
        Some("no_permission") => "Dropbox refused the team space: the account may not use \
             that namespace; check that the credential belongs to a member of the team"
            .into(),
        _ => format!(
            "Dropbox refused the space paths start in (422: {}); run the command again, \
             without --root team if it persists",
            short(&error.to_string())
        ),
    }
}

fn retry_note(retry_after: &Option<Duration>) -> String {
    retry_after.map_or(String::new(), |d| {
        format!(", retry after {} s", d.as_secs())
    })
}

fn endpoint_message(route: &str, summary: &str, error: &Value, path: Option<&str>) -> String {
    explain(error, path).unwrap_or_else(|| match path {
        Some(path) => format!("Dropbox refused {route} for {}: {summary}", short(path)),
        None => format!("Dropbox refused {route}: {summary}"),
    })
}

/// A route error (a 409 body's `error`, or a batch entry's `failure`) as one sentence
/// about `path` with what to do, or `None` for tags this client does not know. The
/// sentences follow Dropbox's documented `LookupError`, `WriteError`, upload-session,
/// delete and sharing errors.
pub fn explain(error: &Value, path: Option<&str>) -> Option<String> {
    let tags = union_tags(error);
    let at = path.map_or_else(|| "the path".to_string(), short);
    let session = tags.contains(&"lookup_failed") || tags.first() == Some(&"not_found");
    // The innermost tag Dropbox gave: wrappers (`path`, `lookup_failed`…) carry no meaning.
    tags.iter().rev().find_map(|tag| {
        Some(match *tag {
            "not_found" if session => format!(
                "the upload session for {at} expired or is unknown to Dropbox (sessions last 7 \
                 days); post again to start afresh"
            ),
            "not_found" => format!(
                "{at} does not exist in Dropbox; check the path (`dropbox-post ls` lists a folder)"
            ),
            "not_file" => format!("{at} is a folder in Dropbox, not a file"),
            "invalid_revision" => format!("Dropbox does not have that version of {at} (any more)"),
            "not_folder" => format!("{at} is a file in Dropbox, not a folder"),
            "restricted_content" => format!(
                "Dropbox restricts {at} (for legal reasons, such as a copyright claim) and will \
                 not transfer it"
            ),
            "unsupported_content_type" => {
                format!("Dropbox does not support this for the kind of file {at} is")
            }
            "locked" => format!("{at} is locked in Dropbox; unlock it there and try again"),
            "malformed_path" => format!(
                "Dropbox refuses {at} as a path; check its spelling (names may not end in a \
                 space or a period)"
            ),
            "file" if tags.contains(&"conflict") => format!(
                "a different file is already at {at} in Dropbox; post with --mode overwrite to \
                 replace it, or move it away there"
            ),
            "folder" if tags.contains(&"conflict") => format!(
                "a folder is already at {at} in Dropbox, where a file should go; rename or move \
                 one of them"
            ),
            "file_ancestor" => format!(
                "a file in Dropbox stands where a folder of {at} should be; rename or move it there"
            ),
            "no_write_permission" => format!(
                "the account may not write to {at} (a read-only shared folder?); ask its owner \
                 for edit access, or post elsewhere"
            ),
            "insufficient_space" => "the Dropbox account is full; free some space or upgrade \
                 the plan, then post again"
                .to_string(),
            "disallowed_name" => format!(
                "Dropbox does not allow the name of {at} (such as desktop.ini, thumbs.db or \
                 .ds_store); rename it, or leave it out with --exclude"
            ),
            "team_folder" => {
                format!("{at} is a team folder, which only a team admin can move or delete")
            }
            "operation_suppressed" => format!("Dropbox does not allow this at {at}"),
            "access_restricted" => format!("a team admin restricts access to {at}"),
            "too_many_write_operations" => "Dropbox is busy with other changes to the same \
                 folder; try again in a minute"
                .to_string(),
            "too_many_files" => {
                format!("{at} holds too many files to delete at once; delete its subfolders first")
            }
            "too_large" => format!("{at} is larger than Dropbox's largest file (2 TiB)"),
            "payload_too_large" => format!(
                "a request for {at} was larger than Dropbox's 150 MiB limit; post with a \
                 smaller --chunk-size"
            ),
            "content_hash_mismatch" => format!(
                "the bytes Dropbox received for {at} do not hash as sent (damaged on the way); \
                 post again"
            ),
            "email_not_verified" => "creating a shared link needs a verified email address: \
                 verify the account's email in Dropbox's settings"
                .to_string(),
            "access_denied" => format!(
                "the account may not create a shared link to {at} (restricted content, or the \
                 team disallows links)"
            ),
            "reset" => format!("Dropbox reset the listing of {at}; run the command again"),
            _ => return None,
        })
    })
}

/// A batch entry's failure (`finish_batch_v2`, `delete_batch`) for `path` in words; the
/// raw tags go to the log (`-v`).
pub fn entry_failure(route: &str, failure: &Value, path: &str) -> String {
    let summary = short(&error_summary(failure));
    tracing::info!("{route}: {}: {summary}", short(path));
    endpoint_message(route, &summary, failure, Some(path))
}

impl ApiError {
    /// The error of a request that named the Dropbox `path`, to say so.
    pub(crate) fn at(mut self, path: Option<String>) -> ApiError {
        self.name_path(&path);
        self
    }

    fn name_path(&mut self, path: &Option<String>) {
        match self {
            ApiError::Endpoint { path: at, .. } if at.is_none() => at.clone_from(path),
            ApiError::Exhausted { last, .. } => last.name_path(path),
            _ => {}
        }
    }

    /// What failed: the error itself, or the last attempt's when retries ran out.
    fn last(&self) -> &ApiError {
        match self {
            ApiError::Exhausted { last, .. } => last.last(),
            error => error,
        }
    }

    /// The union tags of a 409 error, outermost first (`["path", "conflict", "file"]`).
    pub fn tags(&self) -> Vec<&str> {
        match self.last() {
            ApiError::Endpoint { error, .. } => union_tags(error),
            _ => Vec::new(),
        }
    }

    /// What a route's own error means, decoded by the shape of its route's errors.
    pub fn route_error(&self) -> Option<RouteError> {
        match self.last() {
            ApiError::Endpoint { route, error, .. } => Some(RouteError::of(route, error)),
            _ => None,
        }
    }

    /// Dropbox refused the credential, a permission or the space: the same for every call.
    pub fn refused(&self) -> bool {
        matches!(
            self.last(),
            ApiError::Auth { .. }
                | ApiError::Refresh(_)
                | ApiError::Authorize(_)
                | ApiError::Access { .. }
                | ApiError::PathRoot { .. }
                | ApiError::NoTeamSpace { .. }
        )
    }

    /// A failure that would repeat for every file (bad credential, no space): stop the run.
    pub fn is_fatal(&self) -> bool {
        self.refused() || self.route_error() == Some(RouteError::InsufficientSpace)
    }

    /// What the server said when it refused the request itself (400, or 404: no such
    /// route), as a server refuses a route it does not serve.
    pub fn request_refusal(&self) -> Option<&str> {
        match self.last() {
            ApiError::BadInput { message, .. }
            | ApiError::Decode {
                status: 404,
                message,
                ..
            } => Some(message),
            _ => None,
        }
    }

    /// Dropbox could not be reached at all, after every retry.
    pub fn is_unreachable(&self) -> bool {
        matches!(self.last(), ApiError::Network { .. })
    }
}

/// Classify a 401 body.
pub fn auth_error_of(body: &str) -> AuthError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    match error.map(union_tags).as_deref() {
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
            "Dropbox is limiting the rate of requests (429, retry after 3 s); wait a few \
             minutes, or post with fewer --jobs"
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

    /// Documented route errors read as sentences about the path, with what to do and
    /// without the raw tags; unknown ones keep their summary.
    #[test]
    fn route_errors_are_translated() {
        let cases = [
            (
                json!({".tag":"path","path":{".tag":"not_found"}}),
                "/x does not exist in Dropbox",
            ),
            (
                json!({".tag":"path","path":{".tag":"not_folder"}}),
                "/x is a file in Dropbox, not a folder",
            ),
            (
                json!({".tag":"path","reason":{".tag":"conflict","conflict":{".tag":"file"}},"upload_session_id":"s"}),
                "--mode overwrite",
            ),
            (
                json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"file_ancestor"}}}),
                "where a folder of /x should be",
            ),
            (
                json!({".tag":"path","path":{".tag":"no_write_permission"}}),
                "may not write to /x",
            ),
            (
                json!({".tag":"path","path":{".tag":"insufficient_space"}}),
                "the Dropbox account is full",
            ),
            (
                json!({".tag":"path","path":{".tag":"disallowed_name"}}),
                "does not allow the name of /x",
            ),
            (
                json!({".tag":"path","path":{".tag":"malformed_path","malformed_path":null}}),
                "refuses /x as a path",
            ),
            (
                json!({".tag":"path_write","path_write":{".tag":"team_folder"}}),
                "/x is a team folder",
            ),
            (
                json!({".tag":"too_many_files"}),
                "too many files to delete at once",
            ),
            (
                json!({".tag":"lookup_failed","lookup_failed":{".tag":"not_found"}}),
                "the upload session for /x expired",
            ),
            (json!({".tag":"email_not_verified"}), "verified email"),
        ];
        for (error, part) in cases {
            let e = ApiError::Endpoint {
                route: "files/r".into(),
                summary: error_summary(&error),
                error: error.clone(),
                path: Some("/x".into()),
            };
            let text = e.to_string();
            assert!(text.contains(part), "{text}");
            let raw = error_summary(&error);
            assert!(!text.contains("files/r") && !text.contains(&raw), "{text}");
        }
        let unknown = json!({".tag":"path","path":{".tag":"brand_new_tag"}});
        assert_eq!(explain(&unknown, Some("/x")), None);
        assert_eq!(
            entry_failure("files/r", &unknown, "/x"),
            "Dropbox refused files/r for /x: path/brand_new_tag/."
        );
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
                path: None,
            }),
        };
        assert_eq!(e.route_error(), Some(RouteError::InsufficientSpace));
        assert!(e.is_fatal());
        assert_eq!(e.tags(), vec!["path", "insufficient_space"]);
    }
}
