//! Harness for the emulator tests: start a real `dropbox-post emulate` process on a random
//! port, talk to it with reqwest, stop it gracefully (SIGTERM) to test restarts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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
        let mut child = Command::new(assert_cmd::cargo::cargo_bin!("dropbox-post"))
            .args(["emulate", "--root"])
            .arg(root)
            .args(["--token", TOKEN])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the base URL");
        let url = line.trim().to_string();
        assert!(url.starts_with("http"), "first line is the URL: {url:?}");
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

    /// A content-upload call with the argument in `Dropbox-API-Arg` (header-safe).
    pub async fn upload_to(&self, route: &str, arg: Value, data: Vec<u8>) -> (StatusCode, Value) {
        let header = dropbox_post::dropbox::arg::to_header_json(&arg).unwrap();
        let r = self
            .http
            .post(self.route(route))
            .bearer_auth(TOKEN)
            .header("Dropbox-API-Arg", header)
            .header("Content-Type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .expect("send");
        body(r).await
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
            .http
            .post(self.route("files/upload"))
            .bearer_auth(TOKEN)
            .header("Dropbox-API-Arg", header)
            .header("Content-Type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
            .expect("send");
        body(r).await
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
