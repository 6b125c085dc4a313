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
pub async fn run<L>(
    listener: L,
    daemon: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let app = router(daemon);
    let svc = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(version::layer))
        .service(app);
    axum::serve(
        legacy_hijack::SniffingListener(listener),
        axum::ServiceExt::<axum::extract::Request>::into_make_service(svc),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
