//! Request limits: how much of a request body is read into memory, how many requests are
//! worked on at once, and how long a client may take to send a request head.
//!
//! dockerd has none of the first two (Go's decoder reads JSON bodies as they come, and its
//! HTTP server takes any number of requests) and gives a request head 5 minutes
//! (`ReadHeaderTimeout`). dockbridge buffers small bodies before parsing them, so it bounds
//! them; the concurrency limit is off unless asked for; the head timeout is shorter than
//! dockerd's so that slow-loris connections go sooner.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;

/// The daemon's limits (`--max-request-body`, `--max-concurrent-requests`,
/// `--header-read-timeout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest body read into memory (JSON and form bodies); streamed uploads (`docker
    /// load`, `import`, `cp`, `build`) are not bounded by it.
    pub max_request_body: usize,
    /// Requests worked on at once; `None`: no limit (dockerd's behaviour).
    pub max_concurrent_requests: Option<usize>,
    /// How long a request head may take to arrive (an idle keep-alive connection waits as
    /// long for its next request); `None`: forever.
    pub header_read_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_body: DEFAULT_MAX_REQUEST_BODY,
            max_concurrent_requests: None,
            header_read_timeout: Some(Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS)),
        }
    }
}

/// axum's own default body limit: bodies of this size always worked.
pub const DEFAULT_MAX_REQUEST_BODY: usize = 2 << 20;
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 60;

impl Limits {
    /// From the flags: `0` means no limit for the concurrency and no timeout for heads.
    pub fn new(max_request_body: usize, max_concurrent: usize, header_read_secs: u64) -> Self {
        Self {
            max_request_body,
            max_concurrent_requests: (max_concurrent > 0).then_some(max_concurrent),
            header_read_timeout: (header_read_secs > 0)
                .then(|| Duration::from_secs(header_read_secs)),
        }
    }
}

/// Routes whose answer is a long-lived stream or hijacked connection (attach, exec start,
/// events, logs, wait, stats) or a long transfer (pull, push, load, save, export, build, cp):
/// they never wait for a slot of the concurrency limit and never hold one, so a few
/// `docker logs -f` cannot starve the API, and the API cannot hold up their start. `path` is
/// without its `/v1.NN` prefix.
pub fn is_stream(method: &Method, path: &str) -> bool {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        (method.as_str(), segs.as_slice()),
        (_, ["events"])
            | ("POST", ["build"])
            | ("POST", ["containers", _, "attach" | "wait"])
            | ("GET", ["containers", _, "attach", "ws"])
            | ("GET", ["containers", _, "logs" | "stats" | "export"])
            | (_, ["containers", _, "archive"])
            | ("POST", ["exec", _, "start"])
            | ("POST", ["images", "create" | "load"])
            | ("GET", ["images", "get"])
            | ("GET", ["images", .., "get"])
            | ("POST", ["images", .., "push"])
    )
}

/// The concurrency limit: a slot per request, held until its response head is ready (a
/// streamed body is not work the limit is about).
#[derive(Clone, Default)]
pub struct Gate(Option<Arc<Semaphore>>);

impl Gate {
    pub fn new(limit: Option<usize>) -> Self {
        Self(limit.map(|n| Arc::new(Semaphore::new(n))))
    }
}

pub async fn gate(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let Some(sem) = gate.0.as_ref() else {
        return next.run(req).await;
    };
    if is_stream(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    // Requests beyond the limit wait their turn, as behind a busy server; the semaphore is
    // never closed, so acquiring only fails if it were.
    let Ok(_permit) = sem.acquire().await else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down",
        )
        .into_response();
    };
    next.run(req).await
}

/// Longest error body of axum's own rejections that is rewritten.
const MAX_REJECTION_BODY: usize = 16 * 1024;

/// axum answers requests its extractors refuse (a query string that does not parse, a body
/// over the limit, a path segment that is not UTF-8) with a `text/plain` error; Docker's
/// clients read `{"message": …}`, so those are rewritten into Docker's shape. A body over
/// the limit gets a message that names the limit and the flag.
pub async fn docker_errors(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return resp;
    }
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        match axum::body::to_bytes(resp.into_body(), MAX_REJECTION_BODY).await {
            Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
            Err(_) => status.canonical_reason().unwrap_or("error").to_string(),
        }
    };
    ApiError::new(status, message).into_response()
}

/// The message of a 413.
pub fn too_large(limit: usize) -> String {
    format!("request body is larger than the daemon's limit of {limit} bytes (--max-request-body)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[test]
    fn streams_are_exempt_and_short_requests_are_not() {
        let get = Method::GET;
        let post = Method::POST;
        for (m, p) in [
            (&get, "/events"),
            (&post, "/containers/abc/attach"),
            (&get, "/containers/abc/attach/ws"),
            (&post, "/containers/abc/wait"),
            (&get, "/containers/abc/logs"),
            (&get, "/containers/abc/stats"),
            (&get, "/containers/abc/export"),
            (&get, "/containers/abc/archive"),
            (&Method::PUT, "/containers/abc/archive"),
            (&post, "/exec/abc/start"),
            (&post, "/images/create"),
            (&post, "/images/load"),
            (&get, "/images/get"),
            (&get, "/images/a/b:1/get"),
            (&post, "/images/reg:5000/a/push"),
            (&post, "/build"),
        ] {
            assert!(is_stream(m, p), "{m} {p}");
        }
        for (m, p) in [
            (&get, "/_ping"),
            (&get, "/images/json"),
            (&get, "/images/get/json"),
            (&get, "/containers/json"),
            (&get, "/containers/abc/json"),
            (&post, "/containers/create"),
            (&post, "/containers/abc/start"),
            (&post, "/containers/abc/stop"),
            (&post, "/exec/abc/resize"),
            (&Method::DELETE, "/images/busybox"),
        ] {
            assert!(!is_stream(m, p), "{m} {p}");
        }
    }

    #[test]
    fn zero_means_no_limit() {
        let l = Limits::new(10, 0, 0);
        assert_eq!(l.max_concurrent_requests, None);
        assert_eq!(l.header_read_timeout, None);
        let l = Limits::new(10, 4, 5);
        assert_eq!(l.max_concurrent_requests, Some(4));
        assert_eq!(l.header_read_timeout, Some(Duration::from_secs(5)));
    }

    #[tokio::test]
    async fn the_gate_lets_no_more_than_the_limit_through() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let app = {
            let (inside, peak) = (inside.clone(), peak.clone());
            axum::Router::new()
                .route(
                    "/work",
                    axum::routing::get(move || {
                        let (inside, peak) = (inside.clone(), peak.clone());
                        async move {
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            inside.fetch_sub(1, Ordering::SeqCst);
                            "ok"
                        }
                    }),
                )
                .layer(axum::middleware::from_fn_with_state(
                    Gate::new(Some(2)),
                    gate,
                ))
        };
        let mut calls = Vec::new();
        for _ in 0..8 {
            let app = app.clone();
            calls.push(tokio::spawn(async move {
                let req = Request::builder().uri("/work").body(Body::empty()).unwrap();
                tower::ServiceExt::oneshot(app, req).await.unwrap().status()
            }));
        }
        for c in calls {
            assert_eq!(c.await.unwrap(), StatusCode::OK);
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}
