//! `GET /events`: replay from the backlog (`since` / `until`), then live events until
//! `until` or until the client goes away.
//!
//! The response head goes out at once: clients block on it before they read any event. Each
//! client gets its own forwarding task and a bounded queue; a client that stops reading
//! fills its queue and is dropped with a warning instead of holding back the bus (which
//! never waits) or the other clients. The rules themselves (filters, window, encoding) live
//! in `translate::events`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use futures::StreamExt;
use spec::api::ApiVersion;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use translate::events::{self as ev, Filter, MediaType, Message, Window};

use super::error::{ApiError, ApiResult};
use super::params;
use super::AppState;
use crate::events::now_nanos;

/// Encoded events waiting for one client. Past this the client is too slow and is dropped
/// (dockerd buffers 1024 events per subscriber).
const CLIENT_QUEUE: usize = 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

/// What one subscription sends: which events, how encoded.
struct Subscription {
    filter: Filter,
    window: Window,
    version: ApiVersion,
    media: MediaType,
}

impl Subscription {
    fn wants(&self, e: &Message) -> bool {
        !ev::hidden_from(e, self.version) && self.filter.include(e)
    }

    fn encode(&self, e: &Message) -> Bytes {
        Bytes::from(ev::encode(e, self.version, self.media))
    }
}

async fn events(
    State(d): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    headers: HeaderMap,
    Query(q): Query<params::Query>,
) -> ApiResult<Response> {
    let get = |k: &str| q.get(k).map_or("", String::as_str);
    let window = Window::parse(get("since"), get("until"))?;
    let filter = Filter::from_json(get("filters"))?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let sub = Arc::new(Subscription {
        filter,
        window,
        version,
        media: ev::negotiate_media_type(version, accept),
    });

    // Snapshot and live receiver come from one lock: no event is missed or sent twice.
    let (backlog, rx) = d.events.subscribe();
    let replay: Vec<Bytes> = if sub.window.replays() {
        backlog
            .iter()
            .filter(|e| sub.window.contains(e.time_nano) && sub.wants(e))
            .map(|e| sub.encode(e))
            .collect()
    } else {
        Vec::new()
    };

    let (tx, queue) = mpsc::channel::<Bytes>(CLIENT_QUEUE);
    let dropped = Arc::new(AtomicBool::new(false));
    let now = now_nanos();
    let closed = d.events.closed();
    if sub.window.only_past(now) || *closed.borrow() {
        // Nothing live to wait for: the stream ends after the replay.
        drop(tx);
    } else {
        let left = sub
            .window
            .until
            .map(|u| Duration::from_nanos(u64::try_from(u.saturating_sub(now)).unwrap_or(0)));
        tokio::spawn(forward(
            Live {
                rx,
                tx,
                closed,
                until: left,
                dropped: dropped.clone(),
            },
            sub.clone(),
        ));
    }

    // A dropped client's stream ends with an error, so hyper aborts the response instead of
    // finishing it cleanly: the client sees the stream break rather than a normal end.
    let tail = futures::stream::once(async move {
        if dropped.load(Ordering::Acquire) {
            Some(Err(std::io::Error::other("events client too slow")))
        } else {
            None
        }
    })
    .filter_map(futures::future::ready);
    let body = futures::stream::iter(replay)
        .chain(ReceiverStream::new(queue))
        .map(Ok::<_, std::io::Error>)
        .chain(tail);

    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, sub.media.as_str())
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// The live half of one subscription.
struct Live {
    rx: broadcast::Receiver<Message>,
    tx: mpsc::Sender<Bytes>,
    closed: watch::Receiver<bool>,
    /// Time left until `until`.
    until: Option<Duration>,
    dropped: Arc<AtomicBool>,
}

/// Moves live events from the bus to one client's queue until `until` passes, the client
/// goes away, the daemon shuts down, or the client falls behind (then it is dropped with a
/// warning).
async fn forward(live: Live, sub: Arc<Subscription>) {
    let Live {
        mut rx,
        tx,
        mut closed,
        until,
        dropped,
    } = live;
    let deadline = async {
        match until {
            Some(left) => tokio::time::sleep(left).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        let e = tokio::select! {
            r = rx.recv() => r,
            // The client hung up: stop at once rather than at the next event.
            _ = tx.closed() => return,
            _ = &mut deadline => return,
            _ = closed.wait_for(|c| *c) => return,
        };
        match e {
            Ok(e) if sub.wants(&e) => match tx.try_send(sub.encode(&e)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        "events client too slow: {CLIENT_QUEUE} events unread; dropping it"
                    );
                    dropped.store(true, Ordering::Release);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            },
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("events client too slow: it missed {n} events; dropping it");
                dropped.store(true, Ordering::Release);
                return;
            }
            Err(RecvError::Closed) => return,
        }
    }
}
