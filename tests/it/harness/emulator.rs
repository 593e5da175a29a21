//! A real `dropbox-post emulate` process on 127.0.0.1 (random port), with its root in a temp
//! dir, and the HTTP calls the emulator tests make to it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

use super::{TOKEN, bin, isolate_in, temp_dir};

/// The namespace ids of the emulator's account: its home, and with `--team` the team root.
pub const HOME_NS: &str = "3235641";
pub const ROOT_NS: &str = "1920468532";

pub struct Emulator {
    child: Option<Child>,
    /// The base URL it printed.
    pub url: String,
    /// `root/dropbox` is its `--root`; `root/home` its HOME.
    temp: TempDir,
    pub http: reqwest::Client,
}

impl Emulator {
    /// `emulate --listen 127.0.0.1:0 --token TOKEN --root ROOT FLAGS…`; killed on drop.
    pub fn start(flags: &[&str]) -> Emulator {
        let mut emulator = Emulator {
            child: None,
            url: String::new(),
            temp: temp_dir("dropbox-post-emulator-", &["dropbox"]),
            http: reqwest::Client::new(),
        };
        emulator.start_again(flags);
        emulator
    }

    /// A new process on the same root (after [`Emulator::stop`] or [`Emulator::kill`]).
    pub fn start_again(&mut self, flags: &[&str]) {
        assert!(self.child.is_none(), "the emulator is still running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the emulator's log");
        let mut cmd = std::process::Command::new(bin());
        isolate_in(&mut cmd, self.temp.path());
        let mut child = cmd
            .args([
                "emulate",
                "--listen",
                "127.0.0.1:0",
                "--token",
                TOKEN,
                "--root",
            ])
            .arg(self.root())
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the base URL");
        self.child = Some(child);
        self.url = line.trim().to_string();
        assert!(
            self.url.starts_with("http"),
            "first line is the URL: {line:?}"
        );
    }

    /// SIGTERM, then wait: the emulator must exit cleanly.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("the emulator is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = child.wait().expect("wait");
        assert!(exit.success(), "emulator exit status {exit:?}");
    }

    /// SIGUSR1: the requests it holds (`--hold ROUTE:N`) go on.
    pub fn release(&self) {
        let child = self.child.as_ref().expect("the emulator is running");
        let status = std::process::Command::new("kill")
            .args(["-USR1", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGKILL, as a crash would: nothing is flushed or shut down cleanly.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the emulator is running");
        child.kill().expect("kill");
        child.wait().expect("wait");
    }

    /// Stops it and starts it again on the same root with `flags`.
    pub fn restart(&mut self, flags: &[&str]) {
        self.stop();
        self.start_again(flags);
    }

    /// Its `--root`: `files/`, `sessions/`, `tmp/`, `oauth.json`, `links.json`.
    pub fn root(&self) -> PathBuf {
        self.temp.path().join("dropbox")
    }

    /// Its stderr, appended to by every start: start it with `-v` for a line per request.
    pub fn log_path(&self) -> PathBuf {
        self.temp.path().join("emulator.log")
    }

    /// What it has logged so far (see [`Emulator::log_path`]).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The request-body bytes it has received on routes whose path starts with `prefix`
    /// (e.g. `/2/files/upload`), by the `-v` log: what a client really sent. A request is
    /// logged before its answer leaves, so a finished client's requests are all counted.
    pub fn bytes_in(&self, prefix: &str) -> u64 {
        self.log()
            .lines()
            .filter_map(|line| {
                let (_, request) = line.split_once("POST ")?;
                let (path, rest) = request.split_once(" -> ")?;
                let count = rest.strip_suffix(" bytes in)")?.rsplit(' ').next()?;
                path.starts_with(prefix)
                    .then(|| count.parse::<u64>().ok())?
            })
            .sum()
    }

    /// Runs `post` to its end while this emulator holds the request its `--hold` names:
    /// once it is held, `writer` acts (a colleague posting while the run goes on, the clock
    /// moving on), then it is released.
    pub fn race(&self, mut post: Command, writer: impl FnOnce()) -> Output {
        let child = post
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.log().contains("holding this") {
            assert!(
                Instant::now() < deadline,
                "post never reached the hold\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        writer();
        self.release();
        child.wait_with_output().unwrap()
    }

    /// How many requests it has answered on `route` (e.g. `files/upload_session/start`),
    /// by the `-v` log.
    pub fn requests(&self, route: &str) -> usize {
        let line = format!("POST /2/{route} -> ");
        self.log().lines().filter(|l| l.contains(&line)).count()
    }

    /// Where it keeps the bytes of Dropbox path `path` ("/" is the whole Dropbox).
    pub fn file(&self, path: &str) -> PathBuf {
        self.root().join("files").join(path.trim_start_matches('/'))
    }

    pub fn route(&self, route: &str) -> String {
        format!("{}/2/{route}", self.url)
    }

    /// `route?arg=…`: the URL-parameter form of a content route's argument.
    pub fn with_arg(&self, route: &str, arg: &str) -> url::Url {
        url::Url::parse_with_params(&self.route(route), &[("arg", arg)]).unwrap()
    }

    /// Moves its clock `secs` forward (it must run with `--test-clock`): what expires
    /// (sessions, issued tokens, codes) expires as if that much time had passed.
    pub async fn advance_clock(&self, secs: u64) {
        let r = self.http.post(format!("{}/test/clock", self.url));
        let arg = serde_json::json!({ "advance_secs": secs });
        let (status, answer) = body(r.json(&arg).send().await.expect("send")).await;
        assert_eq!(status, StatusCode::OK, "test/clock: {answer}");
    }

    /// `users/get_current_account` with `token`.
    pub async fn current_account(&self, token: &str) -> reqwest::Response {
        self.http
            .post(self.route("users/get_current_account"))
            .bearer_auth(token)
            .send()
            .await
            .expect("send")
    }

    /// The authorization-code flow of app `client_id` (approved at once, as the emulator
    /// does) with `params` added to the authorization (`scope`, …), the code redeemed with
    /// `secret`: status and token answer.
    pub async fn grant(
        &self,
        client_id: &str,
        secret: &str,
        params: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut query = vec![
            ("client_id", client_id),
            ("response_type", "code"),
            ("token_access_type", "offline"),
        ];
        query.extend_from_slice(params);
        let url = format!("{}/oauth2/authorize", self.url);
        let url = url::Url::parse_with_params(&url, &query).unwrap();
        let r = self.http.get(url).send().await.expect("send");
        assert_eq!(r.status(), StatusCode::OK, "authorize {client_id}");
        let code = r.text().await.expect("body");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.trim()),
            ("client_id", client_id),
            ("client_secret", secret),
        ];
        let r = self.http.post(format!("{}/oauth2/token", self.url));
        body(r.form(&form).send().await.expect("send")).await
    }

    /// An RPC call with the test token: status and body (JSON when it parses, else text).
    pub async fn rpc(&self, route: &str, arg: &Value) -> (StatusCode, Value) {
        self.rpc_as(TOKEN, route, arg, &[]).await
    }

    /// [`Emulator::rpc`] with `token` and extra `headers` (e.g. `Dropbox-API-Path-Root`).
    pub async fn rpc_as(
        &self,
        token: &str,
        route: &str,
        arg: &Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .post(self.route(route))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(arg.to_string());
        for (name, value) in headers {
            r = r.header(*name, *value);
        }
        body(r.send().await.expect("send")).await
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
        self.raw_with(route, arg, data, &[]).await
    }

    /// [`Emulator::raw`] with extra `headers` (e.g. `Dropbox-API-Path-Root`).
    pub async fn raw_with<A>(
        &self,
        route: &str,
        arg: A,
        data: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response
    where
        A: TryInto<reqwest::header::HeaderValue>,
        A::Error: std::fmt::Debug,
    {
        let arg: reqwest::header::HeaderValue = arg.try_into().expect("a header value");
        let mut r = self
            .http
            .post(self.route(route))
            .bearer_auth(TOKEN)
            .header("Dropbox-API-Arg", arg)
            .header("Content-Type", "application/octet-stream")
            .body(data);
        for (name, value) in headers {
            r = r.header(*name, *value);
        }
        r.send().await.expect("send")
    }

    /// A content-upload call with the argument in `Dropbox-API-Arg` (header-safe).
    pub async fn upload_to(&self, route: &str, arg: Value, data: Vec<u8>) -> (StatusCode, Value) {
        let header = dropbox_wire::arg::to_header_json(&arg).unwrap();
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

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Status and body: JSON when it parses, else the text.
pub async fn body(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Dropbox's content hash of `data`.
pub fn hash(data: &[u8]) -> String {
    dropbox_wire::content_hash::content_hash(data)
}
