//! The HTTP side: the Docker Engine API router and the accept loop.
//!
//! As in mini-redis, [`run`] takes its listener and a shutdown future, so tests drive it
//! with a listener of their own and stop it when they want.

pub mod archive;
pub mod attach;
pub mod attach_ws;
pub mod build;
pub mod commit;
pub mod containers;
pub mod error;
pub mod events;
pub mod exec;
pub mod images;
pub mod legacy_hijack;
pub mod limits;
pub mod networks;
pub mod params;
pub mod registry;
pub mod stats;
pub mod stdcopy;
pub mod system;
pub mod top;
pub mod upgrade;
pub mod version;
pub mod volumes;

use std::future::Future;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;

use crate::daemon::Daemon;
pub use error::{ApiError, ApiResult};

pub type AppState = Arc<Daemon>;

/// The whole API, unversioned; [`version::layer`] strips `/v1.NN` in front of it.
pub fn router(daemon: AppState) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(containers::routes())
        .merge(archive::routes())
        .merge(commit::routes())
        .merge(events::routes())
        .merge(exec::routes())
        .merge(top::routes())
        .merge(stats::routes())
        .merge(networks::routes())
        .merge(build::routes())
        .merge(volumes::routes())
        .merge(images::routes())
        .merge(registry::routes())
        .fallback(not_found)
        // A known path with another method is also dockerd's 404, not axum's empty 405.
        .method_not_allowed_fallback(not_found)
        .with_state(daemon)
}

async fn not_found() -> impl IntoResponse {
    // dockerd answers unknown routes with exactly this JSON 404.
    ApiError::new(StatusCode::NOT_FOUND, "page not found")
}

/// Serves the API on `listener` until `shutdown` resolves. In-flight hijacked streams
/// (attach, exec) are not waited for: they end when their processes do.
///
/// The accept loop is axum's `serve` plus what it cannot be told: hyper's header read
/// timeout (a client that sends its request head byte by byte, or an idle keep-alive
/// connection, is disconnected after `--header-read-timeout`), with the same graceful
/// shutdown (connections finish the request they are serving). HTTP/1.1 only, as dockerd's
/// Go server: the auto-detecting HTTP/2 builder waits for the first bytes of a connection
/// with no timeout, and [`legacy_hijack`] holds back an unfinished head.
pub async fn run<L>(
    listener: L,
    daemon: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt as _;

    let limits = daemon.limits.clone();
    let app = router(daemon).layer(axum::extract::DefaultBodyLimit::max(
        limits.max_request_body,
    ));
    let svc = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(version::layer))
        .layer(axum::middleware::from_fn_with_state(
            limits.max_request_body,
            limits::docker_errors,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits::Gate::new(limits.max_concurrent_requests),
            limits::gate,
        ))
        .service(app);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut listener = legacy_hijack::SniffingListener(listener);
    // `stop` tells connections to finish; every connection holds a `done` receiver, so
    // `done_tx.closed()` resolves once the last one ended.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        tracing::trace!("connection {peer:?} accepted");
        let svc = svc
            .clone()
            .map_request(|req: axum::http::Request<hyper::body::Incoming>| {
                req.map(axum::body::Body::new)
            });
        let conn = http1
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(svc))
            .with_upgrades();
        let (mut stop, done) = (stop_rx.clone(), done_rx.clone());
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = async { drop(stop.wait_for(|s| *s).await) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!("connection {peer:?}: {e}");
            }
            drop(done);
        });
    }
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}
