//! A hostile "Dropbox" for tests: an axum router the test writes, served on 127.0.0.1 from
//! a runtime of its own, so the test itself can run the binary synchronously.

use axum::Router;
use axum::http::HeaderMap;

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
