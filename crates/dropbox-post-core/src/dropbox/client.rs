//! The Dropbox HTTP client: one shared connection pool, the one retry loop, typed errors.
//!
//! Every call goes through [`DropboxClient::call`]: wait for the pacer's gate, attach the
//! bearer token, send, classify the answer ([`ApiError`]), and ask the pacer whether to try
//! again. A 401 `expired_access_token` refreshes the token once and repeats the call.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RANGE, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::auth::TokenSource;
use super::bwlimit::Bandwidth;
use super::endpoint::Endpoints;
use super::error::{ApiError, AuthError, auth_error_of, short};
use super::http::{answer_text, network};
use super::pacer::{Decision, Pacer};
use super::route_error::{RouteError, WriteConflict};
use dropbox_wire::arg::to_header_json;
use dropbox_wire::content_hash::ContentHasher;
use dropbox_wire::limits::MAX_LIST_LIMIT;
use dropbox_wire::types::{
    ApiErrorBody, CreateFolderArg, CreateFolderResult, DeleteArg, DeleteBatchArg,
    DeleteBatchJobStatus, DeleteBatchLaunch, DeleteBatchResultEntry, DeleteResult, DownloadArg,
    FileMetadata, ListFolderArg, ListFolderContinueArg, ListFolderResult, ListRevisionsArg,
    ListRevisionsMode, ListRevisionsResult, Metadata, PATH_ROOT_HEADER, PathRoot, PollArg,
    RestoreArg, SessionType, UploadSessionAppendArg, UploadSessionAppendBatchArg,
    UploadSessionAppendBatchArgEntry, UploadSessionAppendBatchResult,
    UploadSessionAppendBatchResultEntry, UploadSessionCursor, UploadSessionFinishBatchArg,
    UploadSessionFinishBatchResult, UploadSessionFinishBatchResultEntry, UploadSessionStartArg,
    UploadSessionStartBatchArg, UploadSessionStartBatchResult, UploadSessionStartResult,
};
use futures_util::StreamExt;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Per read, not per request: a 150 MiB body may take minutes to send, but Dropbox must
/// answer within this once it has it (`finish_batch_v2` can be slow under load).
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// What one listing may hold, counted as its entries arrive (each entry's struct and text):
/// about 600,000 files with ordinary names, far beyond what a study posts. A bound in bytes,
/// not entries, so that a server sending long names cannot fill memory before a count is
/// reached; a longer listing is refused, not held.
pub const MAX_LIST_HELD: usize = 256 << 20;
/// Pages a listing may take beyond one per [`MIN_PAGE_FILL`] entries. Dropbox fills its pages
/// (up to the 2,000 entries asked for; an empty one now and then), so only a server that
/// sends empty or tiny pages without end, each costing a round trip, ever runs out of them.
pub const SPARE_LIST_PAGES: usize = 100;
pub const MIN_PAGE_FILL: usize = 100;

pub struct DropboxClient {
    http: reqwest::Client,
    endpoints: Endpoints,
    auth: TokenSource,
    pacer: Pacer,
    /// `Dropbox-API-Path-Root` for every call; `None` works in the home namespace.
    path_root: Option<HeaderValue>,
    /// Upload bodies draw from this bucket (`--bwlimit`).
    bandwidth: Option<Arc<Bandwidth>>,
}

/// What a request carries: JSON in the body (RPC), or JSON in `Dropbox-API-Arg` and the
/// bytes in the body (content upload), or only the header (content download, with a
/// `Range` for part of the file). Each attempt sends it anew.
enum Payload {
    Rpc(String),
    Content { arg: HeaderValue, data: Data },
    Download { arg: HeaderValue, range: ByteRange },
}

/// Bytes `first..=last` of a file (`Range: bytes=FIRST-LAST`), or `None` for all of it.
pub type ByteRange = Option<(u64, u64)>;

/// An upload's bytes: parts in memory sent one after another (so that the files of an
/// `append_batch` go out without being copied into one buffer), or a span of an open file,
/// read again for each attempt so that a big piece is never held whole.
enum Data {
    Parts(Vec<Bytes>),
    Span(FileSpan),
}

/// `len` bytes of an open file from `offset` on.
#[derive(Clone, Debug)]
pub struct FileSpan {
    pub file: Arc<std::fs::File>,
    pub offset: u64,
    pub len: u64,
}

/// Bytes read from a file per step of a streamed body: small, so that a dozen bodies in
/// flight hold a few MiB between them.
const SPAN_READ: u64 = 256 << 10;

impl FileSpan {
    /// The span's bytes, read on a blocking thread a step at a time; a file that got
    /// shorter fails the body (and so the request).
    fn read(self) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        futures_util::stream::try_unfold(self, |span| async move {
            if span.len == 0 {
                return Ok(None);
            }
            let n = span.len.min(SPAN_READ);
            let (file, at) = (span.file.clone(), span.offset);
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; n as usize];
                dropbox_post_files::read_exact_at(&file, &mut buf, at).map(|()| buf)
            });
            let buf = (read.await.map_err(std::io::Error::other)?)
                .map_err(|e| std::io::Error::new(e.kind(), Unreadable(e)))?;
            let rest = FileSpan {
                offset: at + n,
                len: span.len - n,
                ..span
            };
            Ok(Some((Bytes::from(buf), rest)))
        })
    }
}

/// What fails a streamed body when its file cannot be read (it got shorter, or the disk
/// failed), told apart from the network's failures: sending again would fail the same way.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Unreadable(std::io::Error);

/// The file error that failed the body of request `e`, if that is what failed it.
fn unreadable(route: &str, e: &reqwest::Error) -> Option<ApiError> {
    let causes = std::iter::successors(std::error::Error::source(e), |s| s.source());
    let read = causes
        .filter_map(|s| s.downcast_ref::<std::io::Error>()?.get_ref())
        .find_map(|inner| inner.downcast_ref::<Unreadable>())?;
    Some(ApiError::Unreadable {
        route: route.to_string(),
        source: std::io::Error::new(read.0.kind(), read.0.to_string()),
    })
}

impl Data {
    fn len(&self) -> u64 {
        match self {
            Data::Parts(parts) => parts.iter().map(|p| p.len() as u64).sum(),
            Data::Span(span) => span.len,
        }
    }
}

impl Payload {
    /// The Dropbox path the argument names (`path`, or a commit's `commit.path`), to name
    /// it in messages: parsed again only when the call failed.
    fn path(&self) -> Option<String> {
        let json = match self {
            Payload::Rpc(json) => json.as_str(),
            Payload::Content { arg, .. } | Payload::Download { arg, .. } => arg.to_str().ok()?,
        };
        let arg: serde_json::Value = serde_json::from_str(json).ok()?;
        let path = arg.get("path").or_else(|| arg.pointer("/commit/path"))?;
        path.as_str().filter(|p| !p.is_empty()).map(str::to_owned)
    }
}

impl DropboxClient {
    pub fn new(endpoints: Endpoints, auth: TokenSource) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(90))
            // Over TLS, Dropbox would agree to HTTP/2, which carries every request in flight
            // on one TCP connection: one congestion window, the ~12 MiB/s one connection
            // gets. HTTP/1.1 gives each its own: 8 ranges at once took 1.1 s against 5.8 s
            // over HTTP/2 through `emulate --tls` and the link model (benchmarks.md, W8).
            .http1_only()
            // The API never redirects; following one would resend the request elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dropbox-post/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| network("(client setup)", &endpoints.api, &e))?;
        Ok(DropboxClient {
            http,
            endpoints,
            auth,
            pacer: Pacer::default(),
            path_root: None,
            bandwidth: None,
        })
    }

    /// Paths of every later call are relative to `root` (a team space's root, say).
    pub fn with_path_root(mut self, root: &PathRoot) -> Self {
        // Serialized ASCII JSON of a tag and digits: always a valid header value.
        self.path_root = serde_json::to_string(root)
            .ok()
            .and_then(|json| HeaderValue::from_str(&json).ok());
        self
    }

    pub fn with_pacer(mut self, pacer: Pacer) -> Self {
        self.pacer = pacer;
        self
    }

    /// Every upload body goes through `limit`, which may be shared with other clients.
    pub fn with_bandwidth(mut self, limit: Option<Arc<Bandwidth>>) -> Self {
        self.bandwidth = limit;
        self
    }

    pub fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    pub fn auth(&self) -> &TokenSource {
        &self.auth
    }

    /// An RPC route (`files/list_folder`): JSON argument, JSON result.
    pub async fn rpc<A: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        arg: &A,
    ) -> Result<R, ApiError> {
        let json = serde_json::to_string(arg).map_err(|e| encode_error(route, e))?;
        self.call(route, Payload::Rpc(json)).await
    }

    /// A content-upload route (`files/upload_session/append_v2`).
    pub async fn upload<A: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        arg: &A,
        data: Bytes,
    ) -> Result<R, ApiError> {
        self.upload_data(route, arg, Data::Parts(vec![data])).await
    }

    /// A content-upload route whose body is `data`.
    async fn upload_data<A: Serialize, R: DeserializeOwned>(
        &self,
        route: &str,
        arg: &A,
        data: Data,
    ) -> Result<R, ApiError> {
        let json = to_header_json(arg).map_err(|e| encode_error(route, e))?;
        let arg = HeaderValue::from_str(&json).map_err(|e| encode_error(route, e))?;
        self.call(route, Payload::Content { arg, data }).await
    }

    async fn call<R: DeserializeOwned>(
        &self,
        route: &str,
        payload: Payload,
    ) -> Result<R, ApiError> {
        self.retrying(route, &payload, |response| json_of(route, response))
            .await
            .map_err(|e| e.at(payload.path()))
    }

    /// The retry loop; `finish` turns a 2xx answer into the result (its errors retry too).
    async fn retrying<T, F, Fut>(
        &self,
        route: &str,
        payload: &Payload,
        finish: F,
    ) -> Result<T, ApiError>
    where
        F: Fn(reqwest::Response) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let token_url = self.endpoints.token_url();
        let mut refreshed = false;
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            self.pacer.ready().await;
            let token = self.auth.token(&self.http, &token_url).await?;
            let answer = match self.send(route, payload, &token.secret).await {
                Ok(response) => finish(response).await,
                Err(e) => Err(e),
            };
            let error = match answer {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if let ApiError::Auth {
                auth: AuthError::ExpiredAccessToken,
                ..
            } = error
                && self.auth.can_refresh()
                && !refreshed
            {
                refreshed = true;
                attempt -= 1;
                self.auth
                    .refresh(Some(token.generation), &self.http, &token_url)
                    .await?;
                continue;
            }
            match self.pacer.decide(attempt, waited, &error) {
                Decision::RetryAfter(wait) => {
                    tracing::debug!("{error}; attempt {attempt}, retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                Decision::GiveUp if attempt > 1 && Pacer::is_retryable(&error) => {
                    return Err(ApiError::Exhausted {
                        route: route.to_string(),
                        attempts: attempt,
                        last: Box::new(error),
                    });
                }
                Decision::GiveUp => return Err(error),
            }
        }
    }

    /// One attempt: the 2xx response, or the error it answered.
    async fn send(
        &self,
        route: &str,
        payload: &Payload,
        token: &secrecy::SecretString,
    ) -> Result<reqwest::Response, ApiError> {
        let url = match payload {
            Payload::Rpc(_) => self.endpoints.rpc(route),
            Payload::Content { .. } | Payload::Download { .. } => {
                self.endpoints.content_route(route)
            }
        };
        let request = match payload {
            Payload::Rpc(json) => self
                .http
                .post(url.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(json.clone()),
            Payload::Content { arg, data } => self
                .http
                .post(url.clone())
                .header("Dropbox-API-Arg", arg.clone())
                .header(CONTENT_TYPE, "application/octet-stream")
                // A streamed body's length is announced all the same.
                .header(CONTENT_LENGTH, data.len())
                .body(body_of(data, self.bandwidth.as_ref())),
            Payload::Download { arg, range } => {
                let request = self
                    .http
                    .post(url.clone())
                    .header("Dropbox-API-Arg", arg.clone());
                match range {
                    Some((first, last)) => request.header(RANGE, format!("bytes={first}-{last}")),
                    None => request,
                }
            }
        };
        let request = match &self.path_root {
            Some(root) => request.header(PATH_ROOT_HEADER, root.clone()),
            None => request,
        };
        let response = request
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| unreadable(route, &e).unwrap_or_else(|| network(route, &url, &e)))?;
        let status = response.status();
        tracing::debug!("{route}: {status}");
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status.is_success() {
            return Ok(response);
        }
        let body = answer_text(route, response).await?;
        // The raw answer is for -v; the error says what it means.
        tracing::info!("{route} answered {status}: {}", short(&body));
        Err(classify(route, status, retry_after, &body))
    }

    /// Download a file, or only its bytes `range` (`first, last`, inclusive): its metadata
    /// (from `Dropbox-API-Result`) and the response, whose body (and `Content-Range`) the
    /// caller checks and streams. Retries cover getting the answer, not reading the body.
    pub async fn download(
        &self,
        path: &str,
        range: ByteRange,
    ) -> Result<(FileMetadata, reqwest::Response), ApiError> {
        let route = "files/download";
        let arg = DownloadArg {
            path: path.to_string(),
            rev: None,
        };
        let json = to_header_json(&arg).map_err(|e| encode_error(route, e))?;
        let arg = HeaderValue::from_str(&json).map_err(|e| encode_error(route, e))?;
        let payload = Payload::Download { arg, range };
        let retried = self
            .retrying(route, &payload, |response| async move {
                let decode = |message: String| ApiError::Decode {
                    route: route.to_string(),
                    status: response.status().as_u16(),
                    message,
                };
                let header = response
                    .headers()
                    .get("dropbox-api-result")
                    .ok_or_else(|| decode("no Dropbox-API-Result header".into()))?;
                let text = header
                    .to_str()
                    .map_err(|e| decode(format!("Dropbox-API-Result: {e}")))?;
                let meta: FileMetadata = serde_json::from_str(text).map_err(|e| {
                    decode(format!(
                        "{} in Dropbox-API-Result {}",
                        short(&e.to_string()),
                        short(text)
                    ))
                })?;
                Ok((meta, response))
            })
            .await;
        retried.map_err(|e| e.at(Some(path.to_string())))
    }

    /// Every entry under `path`, recursively (`""` is the root), following `has_more`.
    pub async fn list_folder_recursive(&self, path: &str) -> Result<Vec<Metadata>, ApiError> {
        self.list_folder(path, true).await
    }

    /// Every entry in `path` (and below it when `recursive`), following `has_more` within
    /// [`MAX_LIST_HELD`] bytes and [`SPARE_LIST_PAGES`] + entries / [`MIN_PAGE_FILL`] pages.
    pub async fn list_folder(
        &self,
        path: &str,
        recursive: bool,
    ) -> Result<Vec<Metadata>, ApiError> {
        let mut arg = ListFolderArg::new(path, recursive);
        arg.limit = Some(MAX_LIST_LIMIT);
        let mut page: ListFolderResult = self.rpc("files/list_folder", &arg).await?;
        let mut entries = Vec::new();
        let (mut pages, mut held) = (1, 0);
        loop {
            held += page.entries.iter().map(held_bytes).sum::<usize>();
            entries.append(&mut page.entries);
            if !page.has_more {
                return Ok(entries);
            }
            let stop = if held > MAX_LIST_HELD {
                format!("holds more than {} MiB of entries", MAX_LIST_HELD >> 20)
            } else if pages >= SPARE_LIST_PAGES + entries.len() / MIN_PAGE_FILL {
                "sends too few entries per page to be Dropbox's".to_string()
            } else {
                let next = ListFolderContinueArg {
                    cursor: std::mem::take(&mut page.cursor),
                };
                page = self.rpc("files/list_folder/continue", &next).await?;
                pages += 1;
                continue;
            };
            return Err(ApiError::Decode {
                route: "files/list_folder/continue".into(),
                status: 200,
                message: format!(
                    "the listing of {} {stop} ({} entries in {pages} pages, and more to come); \
                     list or get a smaller folder, and check that the endpoint is Dropbox",
                    if path.is_empty() { "/" } else { path },
                    entries.len()
                ),
            });
        }
    }

    pub async fn get_metadata(&self, path: &str) -> Result<Metadata, ApiError> {
        self.rpc(
            "files/get_metadata",
            &dropbox_wire::types::GetMetadataArg::new(path),
        )
        .await
    }

    /// Create a folder; one that already exists is fine.
    pub async fn create_folder(&self, path: &str) -> Result<(), ApiError> {
        let arg = CreateFolderArg {
            path: path.to_string(),
            autorename: false,
        };
        match self
            .rpc::<_, CreateFolderResult>("files/create_folder_v2", &arg)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.route_error() == Some(RouteError::Conflict(WriteConflict::Folder)) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Open an upload session with its first bytes, whose content hash is `content_hash`
    /// (Dropbox checks it); `close` when they are all there is.
    pub async fn start_session(
        &self,
        data: Bytes,
        content_hash: &str,
        close: bool,
    ) -> Result<String, ApiError> {
        let arg = UploadSessionStartArg {
            close,
            content_hash: Some(content_hash.to_string()),
            ..Default::default()
        };
        let r: UploadSessionStartResult = self
            .upload("files/upload_session/start", &arg, data)
            .await?;
        Ok(r.session_id)
    }

    /// Start an empty concurrent session: its pieces may then be appended in any order.
    pub async fn start_concurrent_session(&self) -> Result<String, ApiError> {
        let arg = UploadSessionStartArg {
            session_type: Some(SessionType::Concurrent),
            ..Default::default()
        };
        let r: UploadSessionStartResult = self
            .upload("files/upload_session/start", &arg, Bytes::new())
            .await?;
        Ok(r.session_id)
    }

    /// Append `data` at `cursor`; `content_hash` is that of `data` alone (`None` for no data).
    pub async fn append(
        &self,
        cursor: UploadSessionCursor,
        data: Bytes,
        content_hash: Option<&str>,
        close: bool,
    ) -> Result<(), ApiError> {
        let arg = UploadSessionAppendArg {
            cursor,
            close,
            content_hash: content_hash.map(str::to_string),
        };
        self.upload("files/upload_session/append_v2", &arg, data)
            .await
    }

    /// Append `span` of a file at `cursor`, streamed from disk (and read again should the
    /// call be retried); `content_hash` is that of the span's bytes.
    pub async fn append_span(
        &self,
        cursor: UploadSessionCursor,
        span: FileSpan,
        content_hash: &str,
        close: bool,
    ) -> Result<(), ApiError> {
        let arg = UploadSessionAppendArg {
            cursor,
            close,
            content_hash: Some(content_hash.to_string()),
        };
        let route = "files/upload_session/append_v2";
        self.upload_data(route, &arg, Data::Span(span)).await
    }

    /// Start `count` (1 to 1,000) empty sessions in one call.
    pub async fn start_batch(
        &self,
        count: usize,
        session_type: SessionType,
    ) -> Result<Vec<String>, ApiError> {
        let route = "files/upload_session/start_batch";
        let arg = UploadSessionStartBatchArg {
            num_sessions: count as u64,
            session_type: Some(session_type),
        };
        let r: UploadSessionStartBatchResult = self.rpc(route, &arg).await?;
        expect_results(route, r.session_ids.len(), count)?;
        Ok(r.session_ids)
    }

    /// Append to many sessions in one request: `parts[i]` is what `entries[i]` appends
    /// (their lengths are taken from the parts), and the call names the content hash of
    /// the whole body. Results come in the order of `entries`.
    pub async fn append_batch(
        &self,
        entries: Vec<(UploadSessionCursor, bool)>,
        parts: Vec<Bytes>,
    ) -> Result<Vec<UploadSessionAppendBatchResultEntry>, ApiError> {
        let route = "files/upload_session/append_batch";
        let expected = entries.len();
        let mut hasher = ContentHasher::new();
        parts.iter().for_each(|part| hasher.update(part));
        let arg = UploadSessionAppendBatchArg {
            entries: (entries.into_iter().zip(&parts))
                .map(|((cursor, close), part)| UploadSessionAppendBatchArgEntry {
                    cursor,
                    length: part.len() as u64,
                    close,
                })
                .collect(),
            content_hash: Some(hasher.finish()),
        };
        let r: UploadSessionAppendBatchResult =
            self.upload_data(route, &arg, Data::Parts(parts)).await?;
        expect_results(route, r.entries.len(), expected)?;
        Ok(r.entries)
    }

    /// Commit closed sessions together; results come in the order of `entries`.
    pub async fn finish_batch(
        &self,
        entries: Vec<dropbox_wire::types::UploadSessionFinishArg>,
    ) -> Result<Vec<UploadSessionFinishBatchResultEntry>, ApiError> {
        let route = "files/upload_session/finish_batch_v2";
        let expected = entries.len();
        let r: UploadSessionFinishBatchResult = self
            .rpc(route, &UploadSessionFinishBatchArg { entries })
            .await?;
        expect_results(route, r.entries.len(), expected)?;
        Ok(r.entries)
    }

    /// `files/list_revisions` of the file at `path`: its newest `limit` revisions, newest
    /// first.
    pub async fn list_revisions(
        &self,
        path: &str,
        limit: u64,
    ) -> Result<ListRevisionsResult, ApiError> {
        let arg = ListRevisionsArg {
            path: path.to_string(),
            mode: ListRevisionsMode::Path,
            limit: Some(limit),
        };
        self.rpc("files/list_revisions", &arg).await
    }

    /// `files/restore`: revision `rev` of the file at `path` becomes its newest again.
    pub async fn restore(&self, path: &str, rev: &str) -> Result<FileMetadata, ApiError> {
        let arg = RestoreArg {
            path: path.to_string(),
            rev: rev.to_string(),
        };
        self.rpc("files/restore", &arg).await
    }

    /// Delete the file at `path` only if its newest revision is still `rev` (`delete_v2`
    /// with `parent_rev`): a version someone wrote since stays.
    pub async fn delete_revision(&self, path: &str, rev: &str) -> Result<(), ApiError> {
        let arg = DeleteArg {
            path: path.to_string(),
            parent_rev: Some(rev.to_string()),
        };
        let _: DeleteResult = self.rpc("files/delete_v2", &arg).await?;
        Ok(())
    }

    /// Delete `entries` (at most 1,000; a file with `parent_rev` only at that revision)
    /// with one `files/delete_batch` job, polling it until it is done; a result per entry,
    /// in order.
    pub async fn delete_batch(
        &self,
        entries: &[DeleteArg],
    ) -> Result<Vec<DeleteBatchResultEntry>, ApiError> {
        const CHECK: &str = "files/delete_batch/check";
        let arg = DeleteBatchArg {
            entries: entries.to_vec(),
        };
        let launch: DeleteBatchLaunch = self.rpc("files/delete_batch", &arg).await?;
        let mut wait = Duration::from_millis(50);
        let results = match launch {
            DeleteBatchLaunch::Complete { entries } => entries,
            DeleteBatchLaunch::AsyncJobId { async_job_id } => loop {
                tokio::time::sleep(wait).await;
                let poll = PollArg {
                    async_job_id: async_job_id.clone(),
                };
                match self.rpc(CHECK, &poll).await? {
                    DeleteBatchJobStatus::InProgress => wait = (wait * 2).min(MAX_POLL),
                    DeleteBatchJobStatus::Complete { entries } => break entries,
                    DeleteBatchJobStatus::Failed { failed } => {
                        return Err(ApiError::Endpoint {
                            route: CHECK.into(),
                            summary: dropbox_wire::types::error_summary(&failed),
                            error: failed,
                            path: None,
                        });
                    }
                    DeleteBatchJobStatus::Other => return Err(unknown_tag(CHECK)),
                }
            },
            DeleteBatchLaunch::Other => return Err(unknown_tag("files/delete_batch")),
        };
        if results.len() != entries.len() {
            return Err(ApiError::Decode {
                route: CHECK.into(),
                status: 200,
                message: format!("{} results for {} entries", results.len(), entries.len()),
            });
        }
        Ok(results)
    }
}

/// The longest wait between two polls of an asynchronous job.
const MAX_POLL: Duration = Duration::from_secs(2);

/// A batch route answers one result per entry asked for, or it cannot be matched up.
fn expect_results(route: &str, got: usize, expected: usize) -> Result<(), ApiError> {
    match got == expected {
        true => Ok(()),
        false => Err(ApiError::Decode {
            route: route.into(),
            status: 200,
            message: format!("{got} results for {expected} entries"),
        }),
    }
}

/// An upload's body: one part in memory as is, anything else (or a throttled one) as a
/// stream.
fn body_of(data: &Data, limit: Option<&Arc<Bandwidth>>) -> reqwest::Body {
    let stream = match data {
        Data::Parts(parts) => match (parts.as_slice(), limit) {
            ([one], None) => return one.clone().into(),
            _ => futures_util::stream::iter(parts.clone()).map(Ok).boxed(),
        },
        Data::Span(span) => span.clone().read().boxed(),
    };
    match limit {
        None => reqwest::Body::wrap_stream(stream),
        Some(limit) => {
            let limit = limit.clone();
            let throttled = stream.flat_map(move |part| match part {
                Ok(part) => limit.throttle(part).left_stream(),
                Err(e) => futures_util::stream::once(async { Err(e) }).right_stream(),
            });
            reqwest::Body::wrap_stream(throttled)
        }
    }
}

fn unknown_tag(route: &str) -> ApiError {
    ApiError::Decode {
        route: route.into(),
        status: 200,
        message: "an answer this client does not know".into(),
    }
}

/// A 2xx answer's JSON body.
async fn json_of<R: DeserializeOwned>(
    route: &str,
    response: reqwest::Response,
) -> Result<R, ApiError> {
    let status = response.status().as_u16();
    let body = answer_text(route, response).await?;
    decode_json(route, status, &body)
}

/// Decodes a 2xx answer's JSON body.
pub fn decode_json<R: DeserializeOwned>(
    route: &str,
    status: u16,
    body: &str,
) -> Result<R, ApiError> {
    serde_json::from_str(body).map_err(|e| ApiError::Decode {
        route: route.to_string(),
        status,
        message: format!("{} in {}", short(&e.to_string()), short(body)),
    })
}

/// What a listed entry holds in memory: its struct and its text.
fn held_bytes(entry: &Metadata) -> usize {
    let opt = |s: &Option<String>| s.as_deref().map_or(0, str::len);
    let text = match entry {
        Metadata::File(f) => {
            f.name.len()
                + f.id.len()
                + f.client_modified.len()
                + f.server_modified.len()
                + f.rev.len()
                + opt(&f.path_lower)
                + opt(&f.path_display)
                + opt(&f.content_hash)
        }
        Metadata::Folder(f) => {
            f.name.len() + f.id.len() + opt(&f.path_lower) + opt(&f.path_display)
        }
        Metadata::Deleted(d) => d.name.len() + opt(&d.path_lower) + opt(&d.path_display),
    };
    std::mem::size_of::<Metadata>() + text
}

/// Turn a non-2xx answer into an [`ApiError`].
pub fn classify(
    route: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &str,
) -> ApiError {
    let route = route.to_string();
    match status.as_u16() {
        400 => ApiError::BadInput {
            route,
            message: short(body),
        },
        401 => ApiError::Auth {
            route,
            auth: auth_error_of(body),
        },
        403 => ApiError::Access {
            route,
            summary: summary_of(body),
        },
        422 => match serde_json::from_str::<ApiErrorBody>(body) {
            Ok(b) => ApiError::PathRoot {
                route,
                error: b.error,
            },
            Err(_) => ApiError::Decode {
                route,
                status: 422,
                message: short(body),
            },
        },
        409 => match serde_json::from_str::<ApiErrorBody>(body) {
            Ok(b) => ApiError::Endpoint {
                route,
                summary: short(&b.error_summary),
                error: b.error,
                path: None,
            },
            Err(_) => ApiError::Decode {
                route,
                status: 409,
                message: short(body),
            },
        },
        // The header is the source of truth; the JSON `retry_after` is a fallback.
        429 => ApiError::RateLimited {
            route,
            retry_after: retry_after.or_else(|| {
                serde_json::from_str::<serde_json::Value>(body)
                    .ok()?
                    .pointer("/error/retry_after")?
                    .as_u64()
                    .map(Duration::from_secs)
            }),
        },
        s if s >= 500 => ApiError::Server {
            route,
            status: s,
            body: short(body),
        },
        s => ApiError::Decode {
            route,
            status: s,
            message: short(body),
        },
    }
}

fn summary_of(body: &str) -> String {
    serde_json::from_str::<ApiErrorBody>(body)
        .map(|b| short(&b.error_summary))
        .unwrap_or_else(|_| short(body))
}

fn encode_error(route: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::BadInput {
        route: route.to_string(),
        message: format!("cannot encode the argument: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_error_model() {
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert!(matches!(
            classify("r", s(400), None, "Error in call to API function \"files/x\": bad"),
            ApiError::BadInput { message, .. } if message.contains("bad")
        ));
        assert!(matches!(
            classify(
                "r",
                s(401),
                None,
                r#"{"error_summary":"expired_access_token/","error":{".tag":"expired_access_token"}}"#
            ),
            ApiError::Auth {
                auth: AuthError::ExpiredAccessToken,
                ..
            }
        ));
        let e = classify(
            "files/upload_session/finish",
            s(409),
            None,
            r#"{"error_summary":"path/conflict/file/..","error":{".tag":"path","path":{".tag":"conflict","conflict":{".tag":"file"}}}}"#,
        );
        let conflict = RouteError::Conflict(WriteConflict::File);
        assert_eq!(e.route_error(), Some(conflict));
        assert!(
            e.to_string()
                .starts_with("a different file is already at the path")
        );
        let e = e.at(Some("/d/a.csv".into()));
        assert!(
            e.to_string()
                .starts_with("a different file is already at /d/a.csv in Dropbox")
        );
        let unknown = classify(
            "r",
            s(409),
            None,
            r#"{"error_summary":"path/frobnicated/","error":{".tag":"path","path":{".tag":"frobnicated"}}}"#,
        );
        assert_eq!(unknown.to_string(), "Dropbox refused r: path/frobnicated/");
        assert!(matches!(
            classify("r", s(409), None, "not json"),
            ApiError::Decode { status: 409, .. }
        ));
        assert!(matches!(
            classify("r", s(503), None, "busy"),
            ApiError::Server { status: 503, .. }
        ));
        assert!(matches!(
            classify("r", s(418), None, "teapot"),
            ApiError::Decode { status: 418, .. }
        ));
        let root = classify(
            "r",
            s(422),
            None,
            r#"{"error_summary":"no_permission/..","error":{".tag":"no_permission"}}"#,
        );
        assert!(
            matches!(&root, ApiError::PathRoot { error, .. } if error[".tag"] == "no_permission"),
            "{root:?}"
        );
    }

    /// Found by `cargo fuzz run response`: Dropbox's `error_summary`, a 401's tag and serde's
    /// message (which quotes a mistyped string) went into errors whole.
    #[test]
    fn messages_are_one_bounded_line_whatever_dropbox_answers() {
        let s = |n| StatusCode::from_u16(n).unwrap();
        let long = "x\\n".repeat(3000);
        let summary = format!(r#"{{"error_summary":"{long}","error":{{".tag":"{long}"}}}}"#);
        let errors = [
            classify("r", s(409), None, &summary),
            classify("r", s(403), None, &summary),
            classify("r", s(401), None, &summary),
            decode_json::<ListFolderResult>("r", 200, &format!(r#"{{"cursor":"{long}"}}"#))
                .unwrap_err(),
            decode_json::<ListFolderResult>("r", 200, &format!(r#"{{"entries":"{long}"}}"#))
                .unwrap_err(),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains('\n') && text.len() < 1024, "{text}");
        }
    }

    #[test]
    fn rate_limits_prefer_the_header() {
        let s = StatusCode::TOO_MANY_REQUESTS;
        let json = r#"{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":300}}"#;
        let wait = |e: ApiError| match e {
            ApiError::RateLimited { retry_after, .. } => retry_after,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            wait(classify("r", s, Some(Duration::from_secs(2)), json)),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            wait(classify("r", s, None, json)),
            Some(Duration::from_secs(300))
        );
        assert_eq!(wait(classify("r", s, None, "slow down")), None);
    }

    /// `app` on a local port, and a client of it.
    async fn serve(app: axum::Router) -> DropboxClient {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        DropboxClient::new(
            Endpoints::single(&base).unwrap(),
            TokenSource::fixed("t".into()),
        )
        .unwrap()
    }

    /// A throttled body still announces its length (Dropbox's upload routes want one) and
    /// arrives whole.
    #[tokio::test]
    async fn throttled_bodies_keep_their_length_and_bytes() {
        use axum::http::HeaderMap;
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/2/files/upload_session/append_v2",
            post(|headers: HeaderMap, body: Bytes| async move {
                let announced = headers.get("content-length").and_then(|v| v.to_str().ok());
                let chunked = headers.contains_key("transfer-encoding");
                let whole = body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8);
                if announced == Some(body.len().to_string().as_str()) && !chunked && whole {
                    (StatusCode::OK, "null")
                } else {
                    (StatusCode::BAD_REQUEST, "length or bytes differ")
                }
            }),
        );
        let client = serve(app)
            .await
            .with_bandwidth(Some(Bandwidth::new(64 << 20)));
        let data: Bytes = (0..300_000).map(|i| (i % 251) as u8).collect();
        let cursor = UploadSessionCursor {
            session_id: "s".into(),
            offset: 0,
        };
        let hash = dropbox_wire::content_hash::content_hash(&data);
        client
            .append(cursor, data, Some(&hash), false)
            .await
            .unwrap();
    }

    /// A server that redirects, or answers without end, gets neither followed nor held.
    #[tokio::test]
    async fn redirects_are_not_followed_and_huge_answers_are_refused() {
        use axum::routing::post;
        use futures_util::StreamExt;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let followed = Arc::new(AtomicUsize::new(0));
        let hits = followed.clone();
        let app = axum::Router::new()
            .route(
                "/2/files/get_metadata",
                post(|| async {
                    (
                        StatusCode::TEMPORARY_REDIRECT,
                        [("location", "/2/elsewhere")],
                    )
                }),
            )
            .route(
                "/2/elsewhere",
                post(move || async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    r#"{".tag":"folder","name":"x","id":"id:x"}"#
                }),
            )
            .route(
                "/2/files/list_folder",
                post(|| async {
                    let chunk = Bytes::from(vec![b' '; 1 << 20]);
                    let endless = futures_util::stream::repeat(chunk).map(Ok::<_, std::io::Error>);
                    axum::body::Body::from_stream(endless)
                }),
            );
        let client = serve(app).await;
        let redirected = client.get_metadata("/x").await;
        assert!(
            matches!(redirected, Err(ApiError::Decode { status: 307, .. })),
            "{redirected:?}"
        );
        assert_eq!(followed.load(Ordering::SeqCst), 0);
        let huge = client.list_folder("", false).await;
        assert!(
            matches!(&huge, Err(ApiError::Decode { message, .. }) if message.contains("larger than")),
            "{huge:?}"
        );
    }
}
