//! What every HTTP exchange with Dropbox shares, the API's and the token endpoint's alike:
//! a whole answer read within a bound, and what a failed connection means in a few words.

use super::error::{ApiError, short};

/// Largest answer read into memory (JSON, or an error body). A listing page of 2,000 entries
/// is well under 2 MiB; anything bigger is not Dropbox, and is refused rather than held.
const MAX_ANSWER: usize = 32 << 20;

/// A whole answer's body as text, refused beyond [`MAX_ANSWER`] bytes.
pub async fn answer_text(route: &str, mut response: reqwest::Response) -> Result<String, ApiError> {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let url = response.url().clone();
    while let Some(chunk) = (response.chunk().await).map_err(|e| network(route, &url, &e))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(ApiError::Decode {
                route: route.to_string(),
                status,
                message: format!(
                    "the answer is larger than {} MiB; is the endpoint really Dropbox?",
                    MAX_ANSWER >> 20
                ),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8(body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// No answer from `url` at all: where, and why in a few words; reqwest's layers of
/// context go to the log (`-v`).
pub fn network(route: &str, url: &url::Url, e: &reqwest::Error) -> ApiError {
    let text = chain(e);
    tracing::info!("{route}: {text}");
    let lower = text.to_lowercase();
    let innermost = {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        short(&cause.to_string())
    };
    let cause = if e.is_timeout() {
        "no answer in time".to_string()
    } else if lower.contains("connection refused") {
        "connection refused: nothing listens there".to_string()
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "the host name does not resolve".to_string()
    } else if lower.contains("certificate") || lower.contains("tls") {
        format!("the TLS connection failed: {innermost}")
    } else {
        innermost
    };
    ApiError::Network {
        route: route.to_string(),
        host: url.origin().ascii_serialization(),
        cause,
    }
}

/// reqwest's Display omits the cause ("error sending request"); show the whole chain.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
