//! The accept loop. Each connection is served by hyper with its own cut switch (see
//! `routes::ConnCut`), optionally behind TLS; shutdown lets open requests finish.

use std::time::Duration;

use axum::{Extension, Router};
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::routes::ConnCut;

/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<RustlsConfig>,
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
        let (router, shutdown, tls) = (router.clone(), shutdown.clone(), tls.clone());
        connections.spawn(async move {
            match tls {
                None => connection(tcp, router, shutdown).await,
                Some(config) => match RustlsAcceptor::new(config).accept(tcp, ()).await {
                    Ok((stream, _)) => connection(stream, router, shutdown).await,
                    Err(e) => tracing::debug!("TLS handshake failed: {e}"),
                },
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

async fn connection<S>(stream: S, router: Router, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let cut = CancellationToken::new();
    let service = TowerToHyperService::new(router.layer(Extension(ConnCut(cut.clone()))));
    let builder = auto::Builder::new(TokioExecutor::new());
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
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cut.cancelled() => {}
            }
        }
    }
}
