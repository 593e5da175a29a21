//! Harness for the emulator tests: start a real `dropbox-post emulate` process on a random
//! port, talk to it with reqwest, stop it gracefully (SIGTERM) to test restarts.
#![allow(dead_code)]

#[path = "../common/emulator_process.rs"]
mod emulator_process;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use reqwest::StatusCode;
use serde_json::Value;

pub const TOKEN: &str = "test-token";

pub struct Emu {
    child: Child,
    pub url: String,
    pub root: PathBuf,
    pub http: reqwest::Client,
}

impl Emu {
    /// Starts an emulator on `root` with `--token TOKEN` and `extra` flags.
    pub fn start(root: &Path, extra: &[&str]) -> Emu {
        Self::start_with(root, extra, reqwest::Client::new())
    }

    pub fn start_with(root: &Path, extra: &[&str], http: reqwest::Client) -> Emu {
        let (child, url) = emulator_process::spawn(root, TOKEN, extra);
        Emu {
            child,
            url,
            root: root.to_path_buf(),
            http,
        }
    }

    /// SIGTERM, then wait: the emulator must exit cleanly.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "emulator exit status {exit:?}");
    }

    pub fn restart(self, extra: &[&str]) -> Emu {
        let (root, http) = (self.root.clone(), self.http.clone());
        self.stop();
        Emu::start_with(&root, extra, http)
    }

    pub fn route(&self, route: &str) -> String {
        format!("{}/2/{route}", self.url)
    }

    /// An RPC call with the test token: status and body (JSON when it parses, else text).
    pub async fn rpc(&self, route: &str, arg: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.route(route))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/json")
            .body(arg.to_string())
            .send()
            .await
            .expect("send");
        body(r).await
    }

    /// A content call with the test token and `arg` sent verbatim as `Dropbox-API-Arg`.
    pub async fn raw<A>(
        &self,
        route: &str,
        arg: A,
        data: impl Into<reqwest::Body>,
    ) -> reqwest::Response
    where
        A: TryInto<reqwest::header::HeaderValue>,
        A::Error: std::fmt::Debug,
    {
        let arg: reqwest::header::HeaderValue = arg.try_into().expect("a header value");
        self.http
            .post(self.route(route))
            .bearer_auth(TOKEN)
            .header("Dropbox-API-Arg", arg)
            .header("Content-Type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .expect("send")
    }

    /// A content-upload call with the argument in `Dropbox-API-Arg` (header-safe).
    pub async fn upload_to(&self, route: &str, arg: Value, data: Vec<u8>) -> (StatusCode, Value) {
        let header = dropbox_post::dropbox::arg::to_header_json(&arg).unwrap();
        body(self.raw(route, header, data).await).await
    }

    pub async fn upload(&self, path: &str, data: &[u8]) -> (StatusCode, Value) {
        self.upload_to(
            "files/upload",
            serde_json::json!({"path": path}),
            data.to_vec(),
        )
        .await
    }

    /// `files/upload` of a chunked body (no Content-Length).
    pub async fn upload_chunks(
        &self,
        path: &str,
        chunks: impl Iterator<Item = Vec<u8>> + Send + Sync + 'static,
    ) -> (StatusCode, Value) {
        let header = serde_json::json!({"path": path}).to_string();
        let stream = futures_util::stream::iter(chunks.map(Ok::<_, std::io::Error>));
        let r = self
            .raw("files/upload", header, reqwest::Body::wrap_stream(stream))
            .await;
        body(r).await
    }

    /// The bytes of a file, via `files/download`.
    pub async fn download(&self, path: &str) -> Vec<u8> {
        let arg = serde_json::json!({"path": path}).to_string();
        let r = self.raw("files/download", arg, "").await;
        assert_eq!(r.status(), StatusCode::OK, "download {path}");
        r.bytes().await.expect("body").to_vec()
    }

    /// `route?arg=…`: the URL-parameter form of a content route's argument.
    pub fn with_arg(&self, route: &str, arg: &str) -> url::Url {
        url::Url::parse_with_params(&self.route(route), &[("arg", arg)]).unwrap()
    }

    /// Every entry of a listing, following `has_more`.
    pub async fn list_all(&self, arg: &Value) -> Vec<Value> {
        let (s, mut page) = self.rpc("files/list_folder", arg).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let mut entries = Vec::new();
        loop {
            entries.extend(page["entries"].as_array().unwrap().iter().cloned());
            if !page["has_more"].as_bool().unwrap() {
                return entries;
            }
            let (s, next) = self
                .rpc(
                    "files/list_folder/continue",
                    &serde_json::json!({"cursor": page["cursor"]}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{next}");
            page = next;
        }
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

pub fn hash(data: &[u8]) -> String {
    dropbox_post::dropbox::content_hash::content_hash(data)
}
