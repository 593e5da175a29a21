//! How the emulator answers a failed request, in Dropbox's status codes and body shapes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use dropbox_wire::types::ApiErrorBody;

/// A failed API call. Each variant is one of Dropbox's documented error classes.
#[derive(Debug)]
pub enum ErrorAnswer {
    /// 400, plain text: the full message, e.g. `Error in call to API function "files/upload": …`.
    BadRequest(String),
    /// 401 with an `AuthError` tag (`invalid_access_token`, `expired_access_token`).
    Auth(&'static str),
    /// 401 `AuthError.missing_scope`: the token lacks the route's scope.
    MissingScope(&'static str),
    /// 422 with a `PathRootError` (a refused `Dropbox-API-Path-Root`).
    PathRoot(Value),
    /// 409 with the route's error union.
    Endpoint(Value),
    /// 429; `reason` is `None` for the plain-text form.
    RateLimited {
        reason: Option<&'static str>,
        retry_after: u64,
    },
    /// 500 or 503 injected by a fault, or 500 for a local failure (already logged).
    Server(StatusCode),
    /// A route that does not exist: 400 plain text, as Dropbox answers (an SDK reports it
    /// as a bad-input error, not as a route error it cannot decode).
    UnknownRoute(String),
}

impl ErrorAnswer {
    /// 409 with a tag that carries no data, e.g. `content_hash_mismatch`.
    pub fn tag(tag: &str) -> ErrorAnswer {
        ErrorAnswer::Endpoint(json!({ ".tag": tag }))
    }

    /// A local I/O failure: logged here, answered as a bare 500 like Dropbox's internal errors.
    pub fn internal(what: &str, err: impl std::fmt::Display) -> ErrorAnswer {
        tracing::error!("{what}: {err}");
        ErrorAnswer::Server(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

fn plain(status: StatusCode, text: String) -> Response {
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json_body(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_string());
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl IntoResponse for ErrorAnswer {
    fn into_response(self) -> Response {
        match self {
            ErrorAnswer::BadRequest(text) => plain(StatusCode::BAD_REQUEST, text),
            ErrorAnswer::Auth(tag) => json_body(
                StatusCode::UNAUTHORIZED,
                &ApiErrorBody::new(json!({ ".tag": tag })),
            ),
            ErrorAnswer::MissingScope(scope) => json_body(
                StatusCode::UNAUTHORIZED,
                &ApiErrorBody::new(json!({".tag": "missing_scope", "required_scope": scope})),
            ),
            ErrorAnswer::PathRoot(error) => {
                json_body(StatusCode::UNPROCESSABLE_ENTITY, &ApiErrorBody::new(error))
            }
            ErrorAnswer::Endpoint(error) => {
                json_body(StatusCode::CONFLICT, &ApiErrorBody::new(error))
            }
            ErrorAnswer::RateLimited {
                reason,
                retry_after,
            } => {
                let mut r = match reason {
                    Some(reason) => json_body(
                        StatusCode::TOO_MANY_REQUESTS,
                        &json!({
                            "error_summary": format!("{reason}/.."),
                            "error": {"reason": {".tag": reason}, "retry_after": retry_after},
                        }),
                    ),
                    None => plain(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests".into()),
                };
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                r
            }
            ErrorAnswer::Server(status) => plain(status, String::new()),
            ErrorAnswer::UnknownRoute(route) => plain(
                StatusCode::BAD_REQUEST,
                format!(
                    "Error in call to API function \"{route}\": Unknown API function: /2/{route}"
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_has_retry_after() {
        let r = ErrorAnswer::RateLimited {
            reason: Some("too_many_requests"),
            retry_after: 2,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }

    /// `TokenScopeError` is a struct member of `AuthError`: Stone puts its fields beside
    /// the tag.
    #[tokio::test]
    async fn missing_scope_inlines_the_scope() {
        let r = ErrorAnswer::MissingScope("files.content.write").into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let body = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"error_summary": "missing_scope/..",
                   "error": {".tag": "missing_scope", "required_scope": "files.content.write"}})
        );
        let r = ErrorAnswer::UnknownRoute("files/nope".into()).into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn conflict_is_409_json() {
        let r = ErrorAnswer::tag("content_hash_mismatch").into_response();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
