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
    tracing::info!("{route}: {}", chain(e));
    let cause = match no_answer(e) {
        NoAnswer::InTime => "no answer in time".to_string(),
        NoAnswer::Refused => "connection refused: nothing listens there".to_string(),
        NoAnswer::Unresolved => "the host name does not resolve".to_string(),
        NoAnswer::Tls => format!("the TLS connection failed: {}", innermost(e)),
        NoAnswer::Other => innermost(e),
    };
    ApiError::Network {
        route: route.to_string(),
        host: url.origin().ascii_serialization(),
        cause,
    }
}

/// Why no answer came.
#[derive(Debug, PartialEq, Eq)]
enum NoAnswer {
    InTime,
    Refused,
    Unresolved,
    /// The connection was made, but its TLS handshake failed.
    Tls,
    Other,
}

/// Told by the error's types (reqwest's kinds, the `io::ErrorKind` in its source chain),
/// never by its text, which quotes the URL.
fn no_answer(e: &reqwest::Error) -> NoAnswer {
    if e.is_timeout() {
        return NoAnswer::InTime;
    }
    if e.is_dns() {
        return NoAnswer::Unresolved;
    }
    if !e.is_connect() {
        return NoAnswer::Other;
    }
    match sources(e).find_map(io_kind) {
        Some(std::io::ErrorKind::ConnectionRefused) => NoAnswer::Refused,
        // Once TCP is up, connecting is the TLS handshake: rustls reports a bad certificate
        // or a peer that does not speak TLS as invalid data, a peer that hangs up as EOF.
        Some(std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof) => NoAnswer::Tls,
        _ => NoAnswer::Other,
    }
}

/// The kind of the innermost `io::Error` that `e` is or wraps. An `io::Error`'s `source`
/// skips the error it wraps (connecting wraps rustls' `InvalidData` in an `Other`), so the
/// wrapped ones are reached through `get_ref`.
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut io = e.downcast_ref::<std::io::Error>()?;
    while let Some(inner) = io
        .get_ref()
        .and_then(|i| i.downcast_ref::<std::io::Error>())
    {
        io = inner;
    }
    Some(io.kind())
}

/// `e`'s causes, outermost first.
fn sources<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(e.source(), |s| s.source())
}

/// The innermost cause's words, trimmed for an error line.
fn innermost(e: &reqwest::Error) -> String {
    short(
        &sources(e)
            .last()
            .map_or_else(|| e.to_string(), ToString::to_string),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// The cause `network` gives for what `client` met asking `url`.
    async fn cause(client: reqwest::Client, url: &str) -> String {
        let url = url::Url::parse(url).unwrap();
        let e = client.post(url.clone()).send().await.unwrap_err();
        match network("files/r", &url, &e) {
            ApiError::Network { cause, .. } => cause,
            other => panic!("{other:?}"),
        }
    }

    /// A port bound a moment ago and let go: nothing listens there now.
    async fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let url = format!("http://127.0.0.1:{}/2/files/r", closed_port().await);
        let said = cause(reqwest::Client::new(), &url).await;
        assert_eq!(said, "connection refused: nothing listens there");
    }

    #[tokio::test]
    async fn a_listener_that_never_answers_is_no_answer_in_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/2/files/r", listener.local_addr().unwrap());
        let client = (reqwest::Client::builder().timeout(Duration::from_millis(200)))
            .build()
            .unwrap();
        assert_eq!(cause(client, &url).await, "no answer in time");
        drop(listener);
    }

    struct NoSuchName;

    impl reqwest::dns::Resolve for NoSuchName {
        fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
            Box::pin(async { Err(std::io::Error::other("no such name").into()) })
        }
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_says_so() {
        let client = (reqwest::Client::builder().dns_resolver(std::sync::Arc::new(NoSuchName)))
            .build()
            .unwrap();
        let said = cause(client, "http://api.dropboxapi.test/2/files/r").await;
        assert_eq!(said, "the host name does not resolve");
    }

    /// Plain HTTP where TLS was expected: the handshake fails.
    #[tokio::test]
    async fn a_server_without_tls_is_a_tls_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/2/files/r", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let said = cause(reqwest::Client::new(), &url).await;
        assert!(said.starts_with("the TLS connection failed: "), "{said}");
    }

    /// The words of the error's text (here the URL's) decide nothing: a connection closed
    /// before any answer is neither a TLS nor a name failure.
    #[tokio::test]
    async fn the_words_of_the_url_decide_nothing() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let url = format!("http://{at}/tls/certificate/dns%20error/connection%20refused");
        let said = cause(reqwest::Client::new(), &url).await;
        assert!(!said.contains("TLS") && !said.contains("resolve"), "{said}");
        assert!(!said.contains("nothing listens"), "{said}");
    }
}
