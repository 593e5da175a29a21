//! The accept loop. Each connection is served by hyper with its own cut switch (see
//! `routes::ConnCut`), optionally behind TLS, over the link model (`shaping`); shutdown lets
//! open requests finish.
//!
//! A connection that goes quiet is closed: one that sends nothing (before TLS, before its
//! first request, between requests, in the middle of a body) for `idle` while no request of
//! it is being answered, and one that takes longer than `idle` to send a request's headers
//! however slowly it dribbles them (hyper's header timeout). Slow or idle clients thus cannot
//! hold connections, and the tasks and memory behind them, forever.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::{Extension, Router};
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::routes::ConnCut;
use super::shaping::Link;

/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<RustlsConfig>,
    idle: Duration,
    link: Link,
    shutdown: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (router, shutdown, tls, link) =
            (router.clone(), shutdown.clone(), tls.clone(), link.clone());
        connections.spawn(async move {
            let activity = Activity::new();
            // Shaped below TLS, so the link model limits what a wire would carry.
            let tcp = Watched {
                inner: link.shape(tcp),
                activity: activity.clone(),
            };
            match tls {
                None => connection(tcp, router, idle, activity, shutdown).await,
                Some(config) => {
                    let handshake = RustlsAcceptor::new(config).accept(tcp, ());
                    match tokio::time::timeout(idle, handshake).await {
                        Ok(Ok((stream, _))) => {
                            connection(stream, router, idle, activity, shutdown).await
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("closing connections still busy after {} s", DRAIN.as_secs());
    }
}

async fn connection<S>(
    stream: S,
    router: Router,
    idle: Duration,
    activity: Arc<Activity>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let cut = CancellationToken::new();
    let router = router
        .layer(middleware::from_fn(answering))
        .layer(Extension(activity.clone()))
        .layer(Extension(ConnCut(cut.clone())));
    let service = TowerToHyperService::new(router);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // Leaving the select drops `conn`, which closes the socket: that is the cut.
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("connection ended: {e}");
            }
        }
        _ = cut.cancelled() => {}
        _ = activity.quiet_for(idle) => tracing::debug!("closing a connection idle for {idle:?}"),
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cut.cancelled() => {}
            }
        }
    }
}

/// When a connection last moved a byte, and how many of its requests are being answered.
pub struct Activity {
    started: Instant,
    /// Milliseconds after `started`.
    last: AtomicU64,
    answering: AtomicUsize,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            started: Instant::now(),
            last: AtomicU64::new(0),
            answering: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// Returns once no byte has moved for `idle` while no request was being answered.
    async fn quiet_for(&self, idle: Duration) {
        let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            tokio::time::sleep(tick).await;
            let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
            let quiet = self.started.elapsed().saturating_sub(last);
            if quiet >= idle && self.answering.load(Ordering::Relaxed) == 0 {
                return;
            }
        }
    }
}

/// Counts the request as being answered until its handler returns (a streamed answer
/// then moves bytes, which counts as activity).
async fn answering(
    Extension(activity): Extension<Arc<Activity>>,
    req: Request,
    next: Next,
) -> Response {
    struct Answering(Arc<Activity>);
    impl Drop for Answering {
        fn drop(&mut self) {
            self.0.answering.fetch_sub(1, Ordering::Relaxed);
            self.0.touch();
        }
    }
    activity.answering.fetch_add(1, Ordering::Relaxed);
    let _answering = Answering(activity);
    next.run(req).await
}

/// A stream that records each byte it moves in an [`Activity`].
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
