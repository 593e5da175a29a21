//! The HTTP surface: `/2/<route>` for the API, `/oauth2/*` for OAuth. One dispatcher applies
//! what every API call shares (latency, faults, auth, scope, path root, argument parsing)
//! in Dropbox's order, then hands a typed argument to the route's handler, which takes
//! paths in and gives metadata back relative to the request's namespace (`space`).

use std::collections::HashMap;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, body::Bytes};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::args::{self, PathKind};
use super::clock::Clock;
use super::error::ErrorAnswer;
use super::faults::{Exposure, Fault, FaultPlan, Point};
use super::jobs::Jobs;
use super::links::{Links, Target};
use super::list::Cursor;
use super::oauth::{self, Auth};
use super::route::Route;
use super::scopes::Scopes;
use super::session::{Begin, Direct, Sessions};
use super::space::{Account, Ns, Refusal};
use super::staging::{self, StageError, Staged};
use super::store::{Refused, Rejected, Store};
use dropbox_wire::arg::to_header_json;
use dropbox_wire::content_hash::ContentHasher;
use dropbox_wire::limits::{MAX_APPEND_BATCH, MAX_BATCH, MAX_LIST_LIMIT};
use dropbox_wire::types::{
    AccountName, CommitInfo, CreateFolderArg, CreateFolderResult, CreateSharedLinkArg, DeleteArg,
    DeleteBatchArg, DeleteBatchJobStatus, DeleteBatchLaunch, DeleteBatchResultEntry, DeleteResult,
    DownloadArg, EchoArg, EchoResult, FileMetadata, FullAccount, FullTeam, GetMetadataArg,
    ListFolderArg, ListFolderContinueArg, ListRevisionsArg, ListRevisionsResult,
    ListSharedLinksArg, ListSharedLinksResult, PATH_ROOT_HEADER, PollArg, RelocationArg,
    RelocationResult, RestoreArg, Tag, UploadArg, UploadSessionAppendArg,
    UploadSessionAppendBatchArg, UploadSessionAppendBatchResult,
    UploadSessionAppendBatchResultEntry, UploadSessionCursor, UploadSessionFinishArg,
    UploadSessionFinishBatchArg, UploadSessionFinishBatchResult,
    UploadSessionFinishBatchResultEntry, UploadSessionStartArg, UploadSessionStartBatchArg,
    UploadSessionStartBatchResult, UploadSessionStartResult,
};

/// Everything a request may touch.
pub struct App {
    pub account: Account,
    pub store: Store,
    pub sessions: Sessions,
    pub jobs: Jobs,
    pub auth: Auth,
    pub faults: FaultPlan,
    pub tmp: PathBuf,
    pub links: Links,
    /// The clock `POST /test/clock` moves; `None` (no such route) unless `test_clock`.
    pub clock: Option<Arc<Clock>>,
}

impl App {
    /// Commits `staged` at `info.path`; the fault plan may want it stored corrupted.
    fn commit(&self, info: &CommitInfo, staged: Staged) -> Result<FileMetadata, Rejected> {
        (self.store).commit(info, staged, self.faults.corrupts_commit())
    }
}

/// Cancelling this drops the request's connection without an answer (the cut fault).
#[derive(Clone)]
pub struct ConnCut(pub CancellationToken);

impl ConnCut {
    /// Drops the connection; the connection task drops this future together with it.
    async fn drop_unanswered<T>(&self) -> T {
        self.0.cancel();
        std::future::pending().await
    }

    /// `response` with the first half of its body (by its `Content-Length`), then the
    /// connection dropped.
    fn halfway(self, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        let length = parts.headers.get(header::CONTENT_LENGTH);
        let len = length.and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let head = body
            .into_data_stream()
            .scan(len.unwrap_or(0) / 2, |left, chunk| {
                let chunk = match chunk {
                    Ok(_) if *left == 0 => None,
                    Ok(mut bytes) => {
                        bytes.truncate(*left);
                        *left -= bytes.len();
                        Some(Ok(bytes))
                    }
                    Err(e) => Some(Err(e)),
                };
                std::future::ready(chunk)
            });
        let dropped = futures_util::stream::once(async move { self.drop_unanswered().await });
        Response::from_parts(parts, Body::from_stream(head.chain(dropped)))
    }
}

/// `start_batch` opens at most as many sessions as a batch holds entries.
const MAX_BATCH_U64: u64 = MAX_BATCH as u64;
const MAX_RPC_BODY: usize = 16 * 1024 * 1024;
/// `list_revisions`' `limit`: 10 unless asked, at most 100.
const DEFAULT_REVISIONS: u64 = 10;
const MAX_REVISIONS: u64 = 100;

impl Route {
    fn exposure(self) -> Exposure {
        Exposure {
            // Whatever needs the write scope changes the namespace, but for session starts
            // and appends (batched or not), which only stage data, and polls of a delete batch.
            writes: self.scope() == Some("files.content.write")
                && !matches!(
                    self,
                    Route::Start
                        | Route::StartBatch
                        | Route::Append
                        | Route::AppendBatch
                        | Route::DeleteBatchCheck
                ),
            has_body: self.uploads(),
        }
    }
}

/// Why a call produced no success answer.
enum CallFailure {
    /// 400, plain text; the dispatcher prefixes the route.
    Bad(String),
    Api(ErrorAnswer),
    Cut,
}

impl From<ErrorAnswer> for CallFailure {
    fn from(e: ErrorAnswer) -> Self {
        CallFailure::Api(e)
    }
}

impl From<Refused> for CallFailure {
    fn from(f: Refused) -> Self {
        match f {
            Refused::Api(v) => CallFailure::Api(ErrorAnswer::Endpoint(v)),
            Refused::Internal => {
                CallFailure::Api(ErrorAnswer::Server(StatusCode::INTERNAL_SERVER_ERROR))
            }
        }
    }
}

/// Wraps a nested error union, e.g. `LookupError` as `{".tag":"path","path":…}`.
fn wrap(tag: &str) -> impl Fn(Value) -> CallFailure + '_ {
    move |v| CallFailure::Api(ErrorAnswer::Endpoint(json!({".tag": tag, tag: v})))
}

pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new()
        .route("/2/{*route}", post(api))
        .route("/oauth2/authorize", get(authorize))
        .route("/s/{id}/{*name}", get(shared_link))
        .route("/oauth2/token", post(token));
    if let Some(clock) = &app.clock {
        router = router.route("/test/clock", post(advance_clock).with_state(clock.clone()));
    }
    router
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") })
        .with_state(app)
        .layer(middleware::from_fn(log_request))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceArg {
    advance_secs: u64,
}

/// `POST /test/clock` `{"advance_secs": N}` (only with `test_clock`): moves the clock
/// forward; answers how far ahead of real time it now is, `{"ahead_secs": N}`.
async fn advance_clock(State(clock): State<Arc<Clock>>, body: Bytes) -> Response {
    match serde_json::from_slice::<AdvanceArg>(&body) {
        Ok(arg) => {
            let ahead = clock.advance(std::time::Duration::from_secs(arg.advance_secs));
            tracing::info!("the test clock is now {ahead} s ahead");
            axum::Json(json!({"ahead_secs": ahead})).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("test/clock: {e}")).into_response(),
    }
}

/// `-v`: one line per request, with the body bytes that arrived (what a benchmark counts as
/// sent). Only the path is logged: a query may hold a token.
async fn log_request(req: Request, next: Next) -> Response {
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.run(req).await;
    }
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = std::time::Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let req = req.map(|body| {
        Body::from_stream(body.into_data_stream().inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
        }))
    });
    let response = next.run(req).await;
    tracing::info!(
        "{method} {path} -> {} ({} ms, {} bytes in)",
        response.status().as_u16(),
        started.elapsed().as_millis(),
        received.load(Ordering::Relaxed)
    );
    response
}

async fn authorize(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    latency(&app).await;
    app.auth.authorize(&q)
}

async fn token(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    latency(&app).await;
    app.auth.token(&headers, &body)
}

async fn latency(app: &App) {
    let l = app.faults.latency();
    if !l.is_zero() {
        tokio::time::sleep(l).await;
    }
}

async fn api(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    Extension(cut): Extension<ConnCut>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let route = Route::from_name(&name).filter(|_| !app.faults.unknown(&name));
    let Some(route) = route else {
        // Read what was sent, so the client can read the answer rather than a reset.
        drain(body).await;
        return ErrorAnswer::UnknownRoute(name).into_response();
    };
    let point = app.faults.point(&name);
    match point {
        Point::Serve | Point::LoseAnswer | Point::CutAnswer => {}
        Point::Stall => {
            drain(body).await;
            tracing::info!("stalling this {name} request (--stall) until the emulator stops");
            app.faults.released().await;
            return cut.drop_unanswered().await;
        }
        Point::Hold => {
            let hold = app.faults.hold();
            tracing::info!("holding this {name} request (--hold) until SIGUSR1");
            hold.await;
            tracing::info!("released the held {name} request");
        }
    }
    latency(&app).await;
    let fault = app.faults.draw(route.exposure());
    let answer = call(&app, route, fault, &query, &headers, body).await;
    if point == Point::LoseAnswer {
        tracing::info!("served this {name} request; dropping its answer (--lose-answer)");
        return cut.drop_unanswered().await;
    }
    let response = match answer {
        Ok(r) => r,
        Err(CallFailure::Bad(why)) => {
            ErrorAnswer::BadRequest(format!("Error in call to API function \"{name}\": {why}"))
                .into_response()
        }
        Err(CallFailure::Api(e)) => e.into_response(),
        Err(CallFailure::Cut) => return cut.drop_unanswered().await,
    };
    if point == Point::CutAnswer {
        tracing::info!("served this {name} request; cutting its answer half-way (--cut-answer)");
        return cut.halfway(response);
    }
    response
}

/// Reads and discards a body we refuse, so the client can read our answer.
async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    while let Some(Ok(_)) = stream.next().await {}
}

/// Who may call, and where: the caller authenticates as the route requires, holds its
/// scope, and may use the namespace its `Dropbox-API-Path-Root` names. Also the token's
/// digest, which names whose limits a session counts against (empty for app auth).
fn admit(
    app: &App,
    route: Route,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(Ns, String), CallFailure> {
    let owner = if route == Route::CheckApp {
        check_app_auth(app, headers)?;
        String::new()
    } else {
        let (owner, scopes) = check_auth(app, headers, query)?;
        check_scope(route, &scopes)?;
        owner
    };
    let header = headers
        .get(PATH_ROOT_HEADER)
        .filter(|_| route.takes_paths());
    let ns = app
        .account
        .select(header)
        .map_err(|refusal| match refusal {
            Refusal::Malformed(why) => CallFailure::Bad(why),
            Refusal::PathRoot(error) => CallFailure::Api(ErrorAnswer::PathRoot(error)),
        })?;
    Ok((ns, owner))
}

/// Runs after the token is identified: 401 `missing_scope` naming the route's scope.
fn check_scope(route: Route, scopes: &Scopes) -> Result<(), CallFailure> {
    match route.scope() {
        Some(needed) if !scopes.contains(needed) => Err(ErrorAnswer::MissingScope(needed).into()),
        _ => Ok(()),
    }
}

/// App authentication (`check/app`): HTTP Basic with the app key and secret.
fn check_app_auth(app: &App, headers: &HeaderMap) -> Result<(), CallFailure> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Err(CallFailure::Bad(
            "Must provide HTTP header \"Authorization\" (Basic app_key:app_secret).".into(),
        ));
    }
    match oauth::basic_auth(headers) {
        Some((key, secret)) if app.auth.check_app(&key, &secret) => Ok(()),
        Some(_) => Err(ErrorAnswer::Auth("invalid_access_token").into()),
        None => Err(CallFailure::Bad(
            "Invalid authorization value in HTTP header \"Authorization\": expecting \"Basic <base64(app_key:app_secret)>\"."
                .into(),
        )),
    }
}

fn check_auth(
    app: &App,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<(String, Scopes), CallFailure> {
    let value = match headers.get(header::AUTHORIZATION) {
        Some(v) => v.to_str().map_err(|_| {
            CallFailure::Bad("Invalid authorization value in HTTP header \"Authorization\".".into())
        })?,
        None => query
            .get("authorization")
            .map(String::as_str)
            .ok_or_else(|| {
                CallFailure::Bad(
                "Must provide HTTP header \"Authorization\" or URL parameter \"authorization\"."
                    .into(),
            )
            })?,
    };
    let token = bearer_token(value).ok_or_else(|| {
        CallFailure::Bad(
            "Invalid authorization value in HTTP header \"Authorization\": expecting \"Bearer <oauth2-access-token>\"."
                .into(),
        )
    })?;
    app.auth
        .check(token)
        .map_err(|tag| CallFailure::Api(ErrorAnswer::Auth(tag)))
}

/// The token of `Bearer <token>` exactly (RFC 6750 §2.1): one space, then a `b64token`, with
/// nothing around it. A lenient parser would let requests that Dropbox refuses pass here.
fn bearer_token(value: &str) -> Option<&str> {
    let token = value.strip_prefix("Bearer ")?;
    let body = token.trim_end_matches('=');
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
    (!body.is_empty() && body.bytes().all(b64)).then_some(token)
}

async fn call(
    app: &Arc<App>,
    route: Route,
    fault: Fault,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, CallFailure> {
    let early = match fault {
        Fault::ServerError(code) => Some(CallFailure::Api(ErrorAnswer::Server(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        ))),
        Fault::RateLimited {
            reason,
            retry_after,
        } => Some(CallFailure::Api(ErrorAnswer::RateLimited {
            reason,
            retry_after,
        })),
        _ => None,
    };
    let admitted = match early {
        Some(fail) => Err(fail),
        None => admit(app, route, headers, query),
    };
    let (ns, owner) = match admitted {
        Ok(admitted) => admitted,
        Err(fail) => {
            drain(body).await;
            return Err(fail);
        }
    };
    let contended = fault == Fault::WriteContention;
    let cut_after = match fault {
        Fault::Cut(share) => Some(cut_point(headers, share)),
        _ => None,
    };
    if route.uploads() {
        let up = Upload {
            app,
            ns,
            cut_after,
            contended,
            owner,
            incoming: announced_length(headers).unwrap_or(staging::MAX_REQUEST_BYTES),
        };
        return match route {
            Route::Upload => up.upload(content(headers, query, body).await?).await,
            Route::Start => up.start(content(headers, query, body).await?).await,
            Route::Append => up.append(content(headers, query, body).await?).await,
            Route::AppendBatch => up.append_batch(content(headers, query, body).await?).await,
            _ => up.finish(content(headers, query, body).await?).await,
        };
    }
    if route == Route::Download {
        let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
        return download(app, ns, parse(args::content_arg(headers, query))?, range);
    }
    let bytes = axum::body::to_bytes(body, MAX_RPC_BODY)
        .await
        .map_err(|e| CallFailure::Bad(format!("request body: {e}")))?;
    match route {
        Route::StartBatch => start_batch(app, &owner, rpc(headers, &bytes, false)?),
        Route::FinishBatch => finish_batch(app, ns, rpc(headers, &bytes, false)?, contended).await,
        Route::ListFolder => list_folder(app, ns, rpc(headers, &bytes, false)?),
        Route::ListContinue => list_continue(app, rpc(headers, &bytes, false)?),
        Route::GetMetadata => {
            let arg: GetMetadataArg = rpc(headers, &bytes, false)?;
            let mut meta = app
                .store
                .get(&ns.inward(&arg.path), arg.include_deleted)
                .map_err(wrap("path"))?;
            ns.outward(&mut meta);
            Ok(ok_json(&meta))
        }
        Route::CreateFolder => {
            let arg: CreateFolderArg = rpc(headers, &bytes, false)?;
            if contended {
                return Err(wrap("path")(json!({".tag": "too_many_write_operations"})));
            }
            match app
                .store
                .create_folder(&ns.inward(&arg.path), arg.autorename)
            {
                Ok(mut metadata) => {
                    ns.relative(&mut metadata.path_lower, &mut metadata.path_display);
                    Ok(ok_json(&CreateFolderResult { metadata }))
                }
                Err(Refused::Api(v)) => Err(wrap("path")(v)),
                Err(f) => Err(f.into()),
            }
        }
        Route::Delete | Route::DeleteV1 => {
            let arg: DeleteArg = rpc(headers, &bytes, false)?;
            if contended {
                return Err(ErrorAnswer::tag("too_many_write_operations").into());
            }
            let parent_rev = arg.parent_rev.as_deref();
            let mut metadata = app.store.delete(&ns.inward(&arg.path), parent_rev)?;
            ns.outward(&mut metadata);
            Ok(match route {
                Route::DeleteV1 => ok_json(&metadata),
                _ => ok_json(&DeleteResult { metadata }),
            })
        }
        Route::Copy | Route::Move => {
            let arg: RelocationArg = rpc(headers, &bytes, false)?;
            if contended {
                return Err(wrap("to")(json!({".tag": "too_many_write_operations"})));
            }
            let (from, to) = (ns.inward(&arg.from_path), ns.inward(&arg.to_path));
            let mut metadata =
                app.store
                    .relocate(&from, &to, arg.autorename, route == Route::Copy)?;
            ns.outward(&mut metadata);
            Ok(ok_json(&RelocationResult { metadata }))
        }
        Route::DeleteBatch => delete_batch(app, ns, rpc(headers, &bytes, false)?, contended),
        Route::ListRevisions => {
            let arg: ListRevisionsArg = rpc(headers, &bytes, false)?;
            let limit = arg.limit.unwrap_or(DEFAULT_REVISIONS) as usize;
            let mut entries = (app.store)
                .revisions(&ns.inward(&arg.path), limit)
                .map_err(wrap("path"))?;
            for meta in &mut entries {
                ns.relative(&mut meta.path_lower, &mut meta.path_display);
            }
            Ok(ok_json(&ListRevisionsResult {
                is_deleted: false,
                server_deleted: None,
                entries,
            }))
        }
        Route::Restore => {
            let arg: RestoreArg = rpc(headers, &bytes, false)?;
            if contended {
                return Err(wrap("path_write")(
                    json!({".tag": "too_many_write_operations"}),
                ));
            }
            let mut meta = app.store.restore(&ns.inward(&arg.path), &arg.rev)?;
            ns.relative(&mut meta.path_lower, &mut meta.path_display);
            Ok(ok_json(&meta))
        }
        Route::DeleteBatchCheck => {
            let arg: PollArg = rpc(headers, &bytes, false)?;
            let status = app
                .jobs
                .check(&arg.async_job_id)
                .map_err(ErrorAnswer::Endpoint)?;
            Ok(ok_json(&status))
        }
        Route::CreateSharedLink => {
            let arg: CreateSharedLinkArg = rpc(headers, &bytes, false)?;
            let mut link = app
                .links
                .create(&app.store, &ns.inward(&arg.path), arg.settings.is_some())
                .map_err(|e| CallFailure::Api(ErrorAnswer::Endpoint(e)))?;
            ns.relative(&mut link.path_lower, &mut None);
            Ok(ok_json(&link))
        }
        Route::ListSharedLinks => {
            let arg: ListSharedLinksArg = rpc(headers, &bytes, false)?;
            let path = arg.path.filter(|p| !p.is_empty()).map(|p| ns.inward(&p));
            let mut links = app
                .links
                .list(
                    &app.store,
                    path.as_deref(),
                    arg.direct_only.unwrap_or(false),
                )
                .map_err(wrap("path"))?;
            for link in &mut links {
                ns.relative(&mut link.path_lower, &mut None);
            }
            Ok(ok_json(&ListSharedLinksResult {
                links,
                has_more: false,
                cursor: None,
            }))
        }
        Route::CheckUser | Route::CheckApp => {
            let arg: EchoArg = rpc(headers, &bytes, false)?;
            Ok(ok_json(&EchoResult { result: arg.query }))
        }
        _ => {
            let () = rpc(headers, &bytes, true)?;
            Ok(ok_json(&account(app.account)))
        }
    }
}

/// The body's `Content-Length`, if it has one.
fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Where a cut fault drops the connection: a share of the announced length, or of 1 MiB
/// for a chunked body (at its end if it is shorter).
fn cut_point(headers: &HeaderMap, share: f64) -> u64 {
    let len = announced_length(headers).unwrap_or(1 << 20);
    ((len as f64 * share) as u64).max(1)
}

/// Checks the Stone constraints serde cannot express.
pub trait Validate {
    fn validate(&self) -> Result<(), String>;
}

fn check_commit(c: &CommitInfo) -> Result<(), String> {
    args::check_path("path", &c.path, PathKind::WriteOrId)?;
    args::check_timestamp("client_modified", c.client_modified.as_deref())?;
    match &c.mode {
        dropbox_wire::types::WriteMode::Update { update } if !args::is_rev(update) => Err(format!(
            "mode: update: '{update}' did not match pattern '[0-9a-f]+' of at least 9 characters"
        )),
        _ => Ok(()),
    }
}

impl Validate for UploadArg {
    fn validate(&self) -> Result<(), String> {
        check_commit(&self.commit)?;
        args::check_hash(self.content_hash.as_deref())
    }
}
impl Validate for UploadSessionStartArg {
    fn validate(&self) -> Result<(), String> {
        args::check_hash(self.content_hash.as_deref())
    }
}
impl Validate for UploadSessionAppendArg {
    fn validate(&self) -> Result<(), String> {
        args::check_hash(self.content_hash.as_deref())
    }
}
impl Validate for UploadSessionAppendBatchArg {
    fn validate(&self) -> Result<(), String> {
        if self.entries.len() > MAX_APPEND_BATCH {
            return Err(format!(
                "entries: list has more than {MAX_APPEND_BATCH} items"
            ));
        }
        args::check_hash(self.content_hash.as_deref())
    }
}
impl Validate for UploadSessionStartBatchArg {
    fn validate(&self) -> Result<(), String> {
        match self.num_sessions {
            1..=MAX_BATCH_U64 => Ok(()),
            n => Err(format!(
                "num_sessions: {n} is not between 1 and {MAX_BATCH_U64}"
            )),
        }
    }
}
impl Validate for UploadSessionFinishArg {
    fn validate(&self) -> Result<(), String> {
        check_commit(&self.commit)?;
        args::check_hash(self.content_hash.as_deref())
    }
}
/// A batch route's `entries` hold at most [`MAX_BATCH`].
fn check_batch(entries: usize) -> Result<(), String> {
    if entries > MAX_BATCH {
        return Err(format!("entries: list has more than {MAX_BATCH} items"));
    }
    Ok(())
}
impl Validate for UploadSessionFinishBatchArg {
    fn validate(&self) -> Result<(), String> {
        check_batch(self.entries.len())?;
        self.entries
            .iter()
            .try_for_each(|e| check_commit(&e.commit))
    }
}
impl Validate for DownloadArg {
    fn validate(&self) -> Result<(), String> {
        args::check_path("path", &self.path, PathKind::Read)?;
        match &self.rev {
            Some(r) if !args::is_rev(r) => Err(format!("rev: '{r}' is not a revision")),
            _ => Ok(()),
        }
    }
}
impl Validate for ListFolderArg {
    fn validate(&self) -> Result<(), String> {
        args::check_path("path", &self.path, PathKind::RootOrId)?;
        match self.limit {
            Some(l) if !(1..=MAX_LIST_LIMIT).contains(&l) => {
                Err(format!("limit: {l} is not between 1 and {MAX_LIST_LIMIT}"))
            }
            _ => Ok(()),
        }
    }
}
impl Validate for ListFolderContinueArg {
    fn validate(&self) -> Result<(), String> {
        if self.cursor.is_empty() {
            return Err("cursor: must not be empty".into());
        }
        Ok(())
    }
}
impl Validate for GetMetadataArg {
    fn validate(&self) -> Result<(), String> {
        args::check_path("path", &self.path, PathKind::Read)
    }
}
impl Validate for CreateFolderArg {
    fn validate(&self) -> Result<(), String> {
        args::check_path("path", &self.path, PathKind::Write)
    }
}
impl Validate for DeleteArg {
    fn validate(&self) -> Result<(), String> {
        args::check_path("path", &self.path, PathKind::WriteOrId)?;
        check_rev("parent_rev", self.parent_rev.as_deref())
    }
}
impl Validate for ListRevisionsArg {
    fn validate(&self) -> Result<(), String> {
        args::check_path("path", &self.path, PathKind::WriteOrId)?;
        match self.limit {
            Some(l) if !(1..=MAX_REVISIONS).contains(&l) => {
                Err(format!("limit: {l} is not between 1 and {MAX_REVISIONS}"))
            }
            _ => Ok(()),
        }
    }
}
impl Validate for RestoreArg {
    fn validate(&self) -> Result<(), String> {
        args::check_path("path", &self.path, PathKind::Write)?;
        check_rev("rev", Some(&self.rev))
    }
}
/// A `Rev` field: lower-case hex, at least 9 digits.
fn check_rev(field: &str, rev: Option<&str>) -> Result<(), String> {
    match rev {
        Some(r) if !args::is_rev(r) => Err(format!(
            "{field}: '{r}' did not match pattern '[0-9a-f]+' of at least 9 characters"
        )),
        _ => Ok(()),
    }
}
impl Validate for RelocationArg {
    fn validate(&self) -> Result<(), String> {
        args::check_path("from_path", &self.from_path, PathKind::WriteOrId)?;
        args::check_path("to_path", &self.to_path, PathKind::WriteOrId)
    }
}
impl Validate for EchoArg {
    fn validate(&self) -> Result<(), String> {
        match self.query.chars().count() {
            n if n > 500 => Err(format!("query: length {n} is more than 500")),
            _ => Ok(()),
        }
    }
}
impl Validate for DeleteBatchArg {
    fn validate(&self) -> Result<(), String> {
        check_batch(self.entries.len())?;
        self.entries.iter().try_for_each(Validate::validate)
    }
}
impl Validate for PollArg {
    fn validate(&self) -> Result<(), String> {
        if self.async_job_id.is_empty() {
            return Err("async_job_id: must be at least 1 character".into());
        }
        Ok(())
    }
}
impl Validate for CreateSharedLinkArg {
    fn validate(&self) -> Result<(), String> {
        args::check_path("path", &self.path, PathKind::Read)?;
        match &self.settings {
            Some(s) if !s.is_object() => Err("settings: expected an object".into()),
            _ => Ok(()),
        }
    }
}
impl Validate for ListSharedLinksArg {
    fn validate(&self) -> Result<(), String> {
        match &self.path {
            Some(p) if !p.is_empty() => args::check_path("path", p, PathKind::Read),
            _ => Ok(()),
        }
    }
}
impl Validate for () {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

fn parse<T: Validate>(arg: Result<T, String>) -> Result<T, CallFailure> {
    let arg = arg.map_err(CallFailure::Bad)?;
    arg.validate().map_err(CallFailure::Bad)?;
    Ok(arg)
}

fn rpc<T: DeserializeOwned + Validate>(
    headers: &HeaderMap,
    bytes: &[u8],
    void: bool,
) -> Result<T, CallFailure> {
    parse(args::rpc_arg(headers, bytes, void))
}

/// A content route's argument; a refused argument still drains the body.
async fn content<T: DeserializeOwned + Validate>(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: Body,
) -> Result<(T, Body), CallFailure> {
    let arg = args::check_content_type(headers, "application/octet-stream", true)
        .and_then(|()| args::content_arg(headers, query));
    match parse(arg) {
        Ok(arg) => Ok((arg, body)),
        Err(fail) => {
            drain(body).await;
            Err(fail)
        }
    }
}

fn ok_json(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(e) => ErrorAnswer::internal("encoding a result", e).into_response(),
    }
}

/// The content-upload routes, which share staging, hash checks and the fault state.
#[derive(Clone)]
struct Upload<'a> {
    app: &'a App,
    ns: Ns,
    cut_after: Option<u64>,
    contended: bool,
    /// The token's digest: whose session limits the data counts against.
    owner: String,
    /// What the body may add to a session (its length, else the most a request may carry).
    incoming: u64,
}

impl Upload<'_> {
    /// Streams the body to disk and checks the request's `content_hash`.
    async fn stage(&self, body: Body, expected: Option<&str>) -> Result<Staged, CallFailure> {
        let staged = staging::stage(&self.app.tmp, body, self.cut_after)
            .await
            .map_err(stage_failed)?;
        check_hash(expected, &staged.hasher)?;
        Ok(staged)
    }

    /// Streams the body into a locked sequential session (`Sessions::begin`) and checks the
    /// request's `content_hash`; returns the session and the body's length.
    async fn receive(
        &self,
        mut session: Direct,
        file: std::fs::File,
        body: Body,
        expected: Option<&str>,
    ) -> Result<(Direct, u64), CallFailure> {
        let hashers = staging::Hashers {
            running: session.hasher.take(),
            own: expected.map(|_| Box::new(ContentHasher::new())),
        };
        let (size, hashers) = staging::write_body(file, body, self.cut_after, hashers)
            .await
            .map_err(stage_failed)?;
        if let Some(own) = &hashers.own {
            check_hash(expected, own)?;
        }
        session.hasher = hashers.running;
        Ok((session, size))
    }

    /// The fault plan's `too_many_write_operations` for a write.
    fn uncontended(&self) -> Result<(), CallFailure> {
        if self.contended {
            return Err(ErrorAnswer::tag("too_many_write_operations").into());
        }
        Ok(())
    }

    async fn upload(&self, (mut arg, body): (UploadArg, Body)) -> Result<Response, CallFailure> {
        arg.commit.path = self.ns.inward(&arg.commit.path);
        let staged = self.stage(body, arg.content_hash.as_deref()).await?;
        let result = if self.contended {
            Err(Rejected {
                failed: Refused::Api(json!({".tag": "too_many_write_operations"})),
                staged,
            })
        } else {
            self.app.commit(&arg.commit, staged)
        };
        match result {
            Ok(meta) => Ok(self.file(meta)),
            Err(Rejected {
                failed: Refused::Api(reason),
                staged,
            }) => {
                // Dropbox keeps the data in a session so the commit can be retried.
                let id = self.app.sessions.create_closed(&self.owner, staged)?;
                Err(ErrorAnswer::Endpoint(
                    json!({".tag": "path", "reason": reason, "upload_session_id": id}),
                )
                .into())
            }
            Err(Rejected { failed, .. }) => Err(failed.into()),
        }
    }

    /// Refuses (after reading the body, so the client gets the answer) data that would take
    /// the token past its session limits.
    async fn admit(&self, body: Body, new_session: bool) -> Result<Body, CallFailure> {
        match self
            .app
            .sessions
            .admit(&self.owner, self.incoming, new_session)
        {
            Ok(()) => Ok(body),
            Err(failed) => {
                drain(body).await;
                Err(failed.into())
            }
        }
    }

    async fn start(
        &self,
        (arg, body): (UploadSessionStartArg, Body),
    ) -> Result<Response, CallFailure> {
        let body = self.admit(body, true).await?;
        let staged = self.stage(body, arg.content_hash.as_deref()).await?;
        let session_id = self.app.sessions.start(
            &self.owner,
            arg.session_type.unwrap_or_default(),
            arg.close,
            staged,
        )?;
        Ok(ok_json(&UploadSessionStartResult { session_id }))
    }

    async fn append(
        &self,
        (arg, body): (UploadSessionAppendArg, Body),
    ) -> Result<Response, CallFailure> {
        let body = self.admit(body, false).await?;
        (self.append_to(&arg.cursor, arg.close, body, arg.content_hash.as_deref())).await?;
        Ok(ok_json(&()))
    }

    /// Adds `body` to the session `cursor` names: an `append_v2`, or one entry of an
    /// `append_batch`. `Err` holds an `UploadSessionAppendError`.
    async fn append_to(
        &self,
        cursor: &UploadSessionCursor,
        close: bool,
        body: Body,
        expected: Option<&str>,
    ) -> Result<(), CallFailure> {
        let sessions = &self.app.sessions;
        match sessions.begin(cursor, false).await? {
            Begin::Stream(session, file) => {
                let (session, size) = self.receive(session, file, body, expected).await?;
                sessions.appended(session, size, close)?;
            }
            Begin::Refuse(failed) => {
                self.stage(body, expected).await?;
                return Err(failed.into());
            }
            Begin::Staged => {
                let staged = self.stage(body, expected).await?;
                sessions.append(cursor, close, staged).await?;
            }
        }
        Ok(())
    }

    /// `append_batch`: the body is staged whole (its length and `content_hash` are checked
    /// before any entry is applied), then each entry's bytes go to its session in order, as
    /// an `append_v2` of its own would; an entry's failure is reported in its place.
    async fn append_batch(
        &self,
        (arg, body): (UploadSessionAppendBatchArg, Body),
    ) -> Result<Response, CallFailure> {
        let body = self.admit(body, false).await?;
        let staged = self.stage(body, arg.content_hash.as_deref()).await?;
        let total = arg
            .entries
            .iter()
            .map(|e| e.length)
            .try_fold(0u64, u64::checked_add);
        if total != Some(staged.size) {
            return Err(ErrorAnswer::tag("length_mismatch").into());
        }
        // The whole body is in: a cut can no longer fall inside an entry.
        let each = Upload {
            cut_after: None,
            ..self.clone()
        };
        let mut file = tokio::fs::File::open(&staged.temp)
            .await
            .map_err(|e| ErrorAnswer::internal("reading a staged batch", e))?;
        let mut entries = Vec::with_capacity(arg.entries.len());
        for e in &arg.entries {
            let mut bytes = Vec::new();
            (&mut file)
                .take(e.length)
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| ErrorAnswer::internal("reading a staged batch", e))?;
            entries.push(
                match each
                    .append_to(&e.cursor, e.close, Body::from(bytes), None)
                    .await
                {
                    Ok(()) => UploadSessionAppendBatchResultEntry::Success,
                    Err(CallFailure::Api(ErrorAnswer::Endpoint(failure))) => {
                        UploadSessionAppendBatchResultEntry::Failure { failure }
                    }
                    Err(fail) => return Err(fail),
                },
            );
        }
        Ok(ok_json(&UploadSessionAppendBatchResult { entries }))
    }

    async fn finish(
        &self,
        (mut arg, body): (UploadSessionFinishArg, Body),
    ) -> Result<Response, CallFailure> {
        arg.commit.path = self.ns.inward(&arg.commit.path);
        let expected = arg.content_hash.as_deref();
        let sessions = &self.app.sessions;
        let commit = |whole| self.app.commit(&arg.commit, whole);
        let meta = match sessions.begin(&arg.cursor, true).await? {
            Begin::Stream(session, file) => {
                let (session, size) = self.receive(session, file, body, expected).await?;
                self.uncontended()?;
                sessions.finish_streamed(session, size, commit).await?
            }
            Begin::Refuse(failed) => {
                self.stage(body, expected).await?;
                self.uncontended()?;
                return Err(failed.into());
            }
            Begin::Staged => {
                let staged = self.stage(body, expected).await?;
                self.uncontended()?;
                sessions
                    .finish(&arg.cursor, staged.size > 0, false, commit)
                    .await?
            }
        };
        Ok(self.file(meta))
    }

    /// A committed file's metadata, relative to the request's namespace.
    fn file(&self, mut meta: FileMetadata) -> Response {
        self.ns
            .relative(&mut meta.path_lower, &mut meta.path_display);
        ok_json(&meta)
    }
}

fn stage_failed(e: StageError) -> CallFailure {
    match e {
        StageError::Cut => CallFailure::Cut,
        StageError::TooLarge => ErrorAnswer::tag("payload_too_large").into(),
        StageError::Body(e) => CallFailure::Bad(format!("reading the request body: {e}")),
        StageError::Io(e) => ErrorAnswer::internal("staging a request body", e).into(),
    }
}

/// Checks a request's `content_hash` against the hash of the bytes it carried.
fn check_hash(expected: Option<&str>, got: &ContentHasher) -> Result<(), CallFailure> {
    match expected {
        Some(h) if !h.eq_ignore_ascii_case(&got.clone().finish()) => {
            Err(ErrorAnswer::tag("content_hash_mismatch").into())
        }
        _ => Ok(()),
    }
}

/// `start_batch`: `num_sessions` empty sessions, as many `start`s without data would give.
fn start_batch(
    app: &App,
    owner: &str,
    arg: UploadSessionStartBatchArg,
) -> Result<Response, CallFailure> {
    let kind = arg.session_type.unwrap_or_default();
    let session_ids = (0..arg.num_sessions)
        .map(|_| {
            let empty = Staged::empty(&app.tmp)
                .map_err(|e| ErrorAnswer::internal("staging an empty session", e))?;
            Ok(app.sessions.start(owner, kind, false, empty)?)
        })
        .collect::<Result<_, CallFailure>>()?;
    Ok(ok_json(&UploadSessionStartBatchResult { session_ids }))
}

async fn finish_batch(
    app: &App,
    ns: Ns,
    mut arg: UploadSessionFinishBatchArg,
    contended: bool,
) -> Result<Response, CallFailure> {
    let mut entries = Vec::with_capacity(arg.entries.len());
    for (i, e) in arg.entries.iter_mut().enumerate() {
        e.commit.path = ns.inward(&e.commit.path);
        // An entry carries no bytes: its `content_hash` can only be that of nothing.
        let hashed = check_hash(e.content_hash.as_deref(), &ContentHasher::new()).is_ok();
        let result = if !hashed {
            Err(Refused::Api(json!({".tag": "content_hash_mismatch"})))
        } else if contended && i % 2 == 0 {
            Err(Refused::Api(json!({".tag": "too_many_write_operations"})))
        } else {
            app.sessions
                .finish(&e.cursor, false, true, |whole| app.commit(&e.commit, whole))
                .await
        };
        entries.push(match result {
            Ok(mut meta) => {
                ns.relative(&mut meta.path_lower, &mut meta.path_display);
                UploadSessionFinishBatchResultEntry::Success(meta)
            }
            Err(Refused::Api(failure)) => UploadSessionFinishBatchResultEntry::Failure { failure },
            Err(Refused::Internal) => return Err(Refused::Internal.into()),
        });
    }
    Ok(ok_json(&UploadSessionFinishBatchResult { entries }))
}

/// `files/delete_batch`: always asynchronous, as Dropbox documents it. The job deletes the
/// entries in order (an entry under one deleted before it is then `not_found`), each taking
/// `--latency-ms`; under the write-contention fault every other entry fails with
/// `too_many_write_operations`.
fn delete_batch(
    app: &Arc<App>,
    ns: Ns,
    arg: DeleteBatchArg,
    contended: bool,
) -> Result<Response, CallFailure> {
    let job = app.clone();
    let async_job_id = app.jobs.launch(async move {
        let mut entries = Vec::with_capacity(arg.entries.len());
        for (i, e) in arg.entries.iter().enumerate() {
            latency(&job).await;
            let result = if contended && i % 2 == 0 {
                Err(Refused::Api(json!({".tag": "too_many_write_operations"})))
            } else {
                job.store
                    .delete(&ns.inward(&e.path), e.parent_rev.as_deref())
            };
            entries.push(match result {
                Ok(mut metadata) => {
                    ns.outward(&mut metadata);
                    DeleteBatchResultEntry::Success { metadata }
                }
                Err(Refused::Api(failure)) => DeleteBatchResultEntry::Failure { failure },
                Err(Refused::Internal) => return Err(()),
            });
        }
        serde_json::to_value(DeleteBatchJobStatus::Complete { entries })
            .map_err(|e| tracing::error!("encoding a delete batch result: {e}"))
    });
    Ok(ok_json(&DeleteBatchLaunch::AsyncJobId { async_job_id }))
}

/// `files/download`; with a `Range` header, the bytes it names (206), or 416 when it names
/// none of the file's, as Dropbox serves ranges. A header we cannot read, or one asking
/// for several ranges, is ignored: the whole file (200), as HTTP allows.
fn download(
    app: &App,
    ns: Ns,
    arg: DownloadArg,
    range: Option<&str>,
) -> Result<Response, CallFailure> {
    let (mut meta, mut file) = app
        .store
        .open_file(&ns.inward(&arg.path))
        .map_err(wrap("path"))?;
    if arg.rev.as_ref().is_some_and(|r| *r != meta.rev) {
        return Err(wrap("path")(json!({".tag": "not_found"})));
    }
    let size = meta.size;
    let part = match range.map(|r| wanted(r, size)) {
        None | Some(Wanted::Whole) => None,
        Some(Wanted::Part(part)) => Some(part),
        Some(Wanted::Unsatisfiable) => {
            let mut refused = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            let all = HeaderValue::from_str(&format!("bytes */{size}"))
                .map_err(|e| ErrorAnswer::internal("encoding a range", e))?;
            refused.headers_mut().insert(header::CONTENT_RANGE, all);
            return Ok(refused);
        }
    };
    ns.relative(&mut meta.path_lower, &mut meta.path_display);
    let result =
        to_header_json(&meta).map_err(|e| ErrorAnswer::internal("encoding metadata", e))?;
    let result = HeaderValue::from_str(&result)
        .map_err(|e| ErrorAnswer::internal("encoding metadata", e))?;
    let mut response = match part {
        None => file_response(file, size),
        Some(part) => {
            file.seek(SeekFrom::Start(*part.start()))
                .map_err(|e| ErrorAnswer::internal("reading a file", e))?;
            let len = part.end() - part.start() + 1;
            let mut r = file_response(file, len);
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let at = format!("bytes {}-{}/{size}", part.start(), part.end());
            let at = HeaderValue::from_str(&at)
                .map_err(|e| ErrorAnswer::internal("encoding a range", e))?;
            r.headers_mut().insert(header::CONTENT_RANGE, at);
            r
        }
    };
    response.headers_mut().insert("dropbox-api-result", result);
    Ok(response)
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq)]
enum Wanted {
    Whole,
    Part(std::ops::RangeInclusive<u64>),
    Unsatisfiable,
}

fn wanted(header: &str, size: u64) -> Wanted {
    // The unit is case-insensitive (RFC 9110 §14.1); the parser wants it lower case.
    let header = match header.split_once('=') {
        Some((unit, ranges)) if unit.eq_ignore_ascii_case("bytes") => format!("bytes={ranges}"),
        _ => return Wanted::Whole,
    };
    if header == "bytes=-0" {
        // A suffix of no bytes is satisfiable by no file.
        return Wanted::Unsatisfiable;
    }
    let Ok(parsed) = http_range_header::parse_range_header(&header) else {
        return Wanted::Whole;
    };
    if parsed.ranges.len() != 1 {
        return Wanted::Whole;
    }
    if size == 0 {
        // Nothing to take a part of: all of it. The SDK's Downloader asks an empty file for
        // `bytes=0-0` and expects no bytes, not a refusal.
        return Wanted::Whole;
    }
    match parsed.validate(size) {
        Ok(mut ranges) => Wanted::Part(ranges.remove(0)),
        // A suffix longer than the file means all of it (RFC 9110 §14.1.2).
        Err(http_range_header::RangeUnsatisfiableError::FileSuffixOutOfBounds) => {
            Wanted::Part(0..=size - 1)
        }
        Err(_) => Wanted::Unsatisfiable,
    }
}

/// A file's next `len` bytes, streamed.
fn file_response(file: std::fs::File, len: u64) -> Response {
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        tokio::fs::File::from_std(file).take(len),
        1 << 20,
    ));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// `GET /s/<id>/<name>`: what a shared link shows; no auth, like a public Dropbox link.
async fn shared_link(
    State(app): State<Arc<App>>,
    Path((id, _name)): Path<(String, String)>,
) -> Response {
    latency(&app).await;
    let not_found = || (StatusCode::NOT_FOUND, "shared link not found\n").into_response();
    match app.links.resolve(&app.store, &id) {
        Some(Target::File(path)) => match app.store.open_file(&path) {
            Ok((meta, file)) => file_response(file, meta.size),
            Err(_) => not_found(),
        },
        Some(Target::Listing(text)) => {
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        None => not_found(),
    }
}

fn list_folder(app: &App, ns: Ns, arg: ListFolderArg) -> Result<Response, CallFailure> {
    let folder = app
        .store
        .folder_key(&ns.inward(&arg.path))
        .map_err(wrap("path"))?;
    let page = app.store.read(|nodes, seq| {
        Cursor::start(
            folder,
            ns.lower(),
            arg.recursive,
            arg.include_deleted,
            arg.limit.unwrap_or(MAX_LIST_LIMIT),
            seq,
        )
        .page(nodes)
    });
    Ok(ok_json(&page))
}

fn list_continue(app: &App, arg: ListFolderContinueArg) -> Result<Response, CallFailure> {
    let cursor = Cursor::decode(&arg.cursor)
        .ok_or_else(|| CallFailure::Bad("request body: cursor: invalid cursor".into()))?;
    if !cursor.folder().is_empty() {
        app.store
            .folder_key(cursor.folder())
            .map_err(wrap("path"))?;
    }
    let page = app.store.read(|nodes, _| cursor.page(nodes));
    Ok(ok_json(&page))
}

/// The one account: Emma, on her own or as a member of a team with a shared root.
fn account(account: Account) -> FullAccount {
    let team = account.team.then(|| FullTeam {
        id: "dbtid:AAFdgehTzw7WlXhZJsbGCLePe8RvQGYDr-I".into(),
        name: "Ulator Lab".into(),
        sharing_policies: json!({
            "shared_folder_member_policy": {".tag": "team"},
            "shared_folder_join_policy": {".tag": "from_anyone"},
            "shared_link_create_policy": {".tag": "team_only"},
            "group_creation_policy": {".tag": "admins_only"},
            "shared_folder_link_restriction_policy": {".tag": "anyone"},
            "enforce_link_password_policy": {".tag": "optional"},
            "default_link_expiration_days_policy": {".tag": "none"},
            "shared_link_default_permissions_policy": {".tag": "default"},
        }),
        office_addin_policy: json!({".tag": "disabled"}),
        top_level_content_policy: json!({".tag": "admin_only"}),
    });
    FullAccount {
        account_id: oauth::ACCOUNT_ID.into(),
        name: AccountName {
            given_name: "Emma".into(),
            surname: "Ulator".into(),
            familiar_name: "Emma".into(),
            display_name: "Emma Ulator".into(),
            abbreviated_name: "EU".into(),
        },
        email: "emulator@example.com".into(),
        email_verified: true,
        disabled: false,
        locale: "en".into(),
        referral_link: "https://db.tt/emulator".into(),
        is_paired: false,
        account_type: Tag {
            tag: if team.is_some() { "business" } else { "basic" }.into(),
        },
        root_info: account.root_info(),
        country: Some("US".into()),
        team_member_id: team
            .as_ref()
            .map(|_| "dbmid:AAHhy7WsR0x-u4ZCqiDl5Fz5zvuL3kmspwU".into()),
        team,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn ranges_are_served_as_http_says() {
        use super::Wanted::{Part, Unsatisfiable, Whole};
        for (header, size, want) in [
            ("bytes=0-9", 100, Part(0..=9)),
            ("bytes=90-", 100, Part(90..=99)),
            ("bytes=95-200", 100, Part(95..=99)),
            ("bytes=-10", 100, Part(90..=99)),
            ("bytes=-500", 100, Part(0..=99)),
            ("bytes=100-", 100, Unsatisfiable),
            ("bytes=100-200", 100, Unsatisfiable),
            ("bytes=0-0", 0, Whole),
            ("bytes=9-0", 100, Unsatisfiable),
            ("bytes=0-1,5-6", 100, Whole),
            ("items=0-9", 100, Whole),
            ("bytes=x-9", 100, Whole),
            ("BYTES=1-2", 100, Part(1..=2)),
            ("Bytes=-10", 100, Part(90..=99)),
            ("bytes=-0", 100, Unsatisfiable),
        ] {
            assert_eq!(super::wanted(header, size), want, "{header} of {size}");
        }
    }
    use super::bearer_token;

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        assert_eq!(
            bearer_token("Bearer sl.abc-_~+/9=="),
            Some("sl.abc-_~+/9==")
        );
        for bad in [
            "Bearer  tok",
            "Bearer tok ",
            "bearer tok",
            "Bearer",
            "Bearer ",
            "Bearer ==",
            "Bearer a=b",
            "Bearer tok\t",
            "Basic dG9rOg==",
        ] {
            assert_eq!(bearer_token(bad), None, "{bad:?}");
        }
    }
}
