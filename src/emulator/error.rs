//! How the emulator answers a failed request, in Dropbox's status codes and body shapes.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::dropbox::types::ApiErrorBody;

/// A failed API call. Each variant is one of Dropbox's documented error classes.
#[derive(Debug)]
pub enum ApiError {
    /// 400, plain text: the full message, e.g. `Error in call to API function "files/upload": …`.
    BadRequest(String),
    /// 401 with an `AuthError` tag (`invalid_access_token`, `expired_access_token`).
    Auth(&'static str),
    /// 409 with the route's error union.
    Endpoint(Value),
    /// 429; `reason` is `None` for the plain-text form.
    RateLimited {
        reason: Option<&'static str>,
        retry_after: u64,
    },
    /// 500 or 503 injected by a fault, or 500 for a local failure (already logged).
    Server(StatusCode),
    /// 404 for a route that does not exist.
    UnknownRoute(String),
}

impl ApiError {
    /// 409 with a tag that carries no data, e.g. `content_hash_mismatch`.
    pub fn tag(tag: &str) -> ApiError {
        ApiError::Endpoint(json!({ ".tag": tag }))
    }

    /// A local I/O failure: logged here, answered as a bare 500 like Dropbox's internal errors.
    pub fn internal(what: &str, err: impl std::fmt::Display) -> ApiError {
        tracing::error!("{what}: {err}");
        ApiError::Server(StatusCode::INTERNAL_SERVER_ERROR)
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(text) => plain(StatusCode::BAD_REQUEST, text),
            ApiError::Auth(tag) => json_body(
                StatusCode::UNAUTHORIZED,
                &ApiErrorBody::new(json!({ ".tag": tag })),
            ),
            ApiError::Endpoint(error) => json_body(StatusCode::CONFLICT, &ApiErrorBody::new(error)),
            ApiError::RateLimited {
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
            ApiError::Server(status) => plain(status, String::new()),
            ApiError::UnknownRoute(route) => plain(
                StatusCode::NOT_FOUND,
                format!("Unknown API function: \"{route}\""),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_has_retry_after() {
        let r = ApiError::RateLimited {
            reason: Some("too_many_requests"),
            retry_after: 2,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn conflict_is_409_json() {
        let r = ApiError::tag("content_hash_mismatch").into_response();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
