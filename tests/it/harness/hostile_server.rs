//! A hostile "Dropbox" for tests: an axum router the test writes, served on 127.0.0.1 from
//! a runtime of its own, so the test itself can run the binary synchronously.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, post};

pub struct HostileServer {
    pub url: String,
    /// Serves until dropped with the server.
    _runtime: tokio::runtime::Runtime,
}

impl HostileServer {
    pub fn start(app: Router) -> HostileServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, app).await });
        HostileServer {
            url,
            _runtime: runtime,
        }
    }

    /// A server whose `get_metadata` answers `meta` and whose download is `download`.
    pub fn serving(meta: serde_json::Value, download: MethodRouter) -> HostileServer {
        HostileServer::start(
            Router::new()
                .route(
                    "/2/files/get_metadata",
                    post(move || async move { axum::Json(meta) }),
                )
                .route("/2/files/download", download),
        )
    }
}

/// The request's `Authorization` header as the client sent it (the bearer token).
pub fn authorization(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// File metadata as Dropbox sends it, with the given name, path and size.
pub fn file_metadata(name: &str, path: &str, size: u64) -> serde_json::Value {
    serde_json::json!({
        ".tag": "file", "name": name, "id": "id:hostile", "path_display": path,
        "path_lower": path.to_lowercase(), "client_modified": "2026-01-01T00:00:00Z",
        "server_modified": "2026-01-01T00:00:00Z", "rev": "0123456789", "size": size,
    })
}

/// One request that went through a [`HostileServer::proxy`].
#[derive(Clone, Debug)]
pub struct Seen {
    /// `files/upload_session/start`, …
    pub route: String,
    /// The argument: `Dropbox-API-Arg`, or an RPC's JSON body (`Null` when neither parses).
    pub arg: serde_json::Value,
    pub body: bytes::Bytes,
}

/// What a proxy does with each request before forwarding it: record it, or act as a second
/// writer would at that very moment.
pub type Hook = Box<dyn Fn(&Seen) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

impl HostileServer {
    /// Forwards every request to `target` (an emulator's URL) and answers what it answers,
    /// once `hook` has seen it (and its future has run).
    pub fn proxy(target: &str, hook: Hook) -> HostileServer {
        let target = target.to_string();
        let state = std::sync::Arc::new((hook, reqwest::Client::new()));
        let forward = move |request: axum::extract::Request| {
            let (state, target) = (state.clone(), target.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let arg = parts.headers.get("dropbox-api-arg");
                let arg = arg.map_or(&body[..], |a| a.as_bytes());
                let seen = Seen {
                    route: parts.uri.path().trim_start_matches("/2/").to_string(),
                    arg: serde_json::from_slice(arg).unwrap_or_default(),
                    body: body.clone(),
                };
                (state.0)(&seen).await;
                let mut headers = parts.headers.clone();
                headers.remove("host");
                let answer = state
                    .1
                    .post(format!("{target}{}", parts.uri))
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let mut response = axum::http::Response::builder().status(answer.status());
                for (name, value) in answer.headers() {
                    response = response.header(name, value);
                }
                response
                    .body(axum::body::Body::from(answer.bytes().await.unwrap()))
                    .unwrap()
            }
        };
        HostileServer::start(Router::new().fallback(forward))
    }
}
