//! `GET /events`: replay from the backlog (`since`), then live events until `until`.
//! Headers go out at once (clients block on them); a slow client is dropped with a
//! warning rather than allowed to stall the bus.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use spec::api::models::EventMessage;
use tokio::sync::broadcast::error::RecvError;

use super::error::{ApiError, ApiResult};
use super::params::{self, Filters};
use super::AppState;
use crate::containers::logs::parse_timestamp;

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

fn event_time(e: &EventMessage) -> DateTime<Utc> {
    e.time_nano
        .map(DateTime::from_timestamp_nanos)
        .or_else(|| e.time.and_then(|t| DateTime::from_timestamp(t, 0)))
        .unwrap_or_default()
}

/// Docker's event filter semantics: values of one key are ORed, keys are ANDed.
pub fn matches(f: &Filters, e: &EventMessage) -> bool {
    let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
    let action = e.action.clone().unwrap_or_default();
    let actor = e.actor.clone().unwrap_or_default();
    let id = actor.id.unwrap_or_default();
    let attrs = actor.attributes.unwrap_or_default();
    let name = attrs.get("name").cloned().unwrap_or_default();
    let any =
        |k: &str, ok: &dyn Fn(&str) -> bool| f.get(k).is_none_or(|vals| vals.iter().any(|v| ok(v)));
    any("type", &|v| v == typ)
        // `exec_start: sh` matches the filter `exec_start`: compare up to the colon.
        && any("event", &|v| v == action || action.split(':').next() == Some(v))
        && any("container", &|v| typ == "container" && (id.starts_with(v) || name == v))
        && any("image", &|v| {
            (typ == "image" && (id == v || id.starts_with(v)))
                || attrs.get("image").is_some_and(|i| i == v)
        })
        && f.get("label").is_none_or(|v| params::labels_match(v, &attrs))
        && any("scope", &|v| v == "local")
        && any("daemon", &|v| typ == "daemon" && id == v)
        && any("network", &|v| typ == "network" && id.starts_with(v))
        && any("volume", &|v| typ == "volume" && id == v)
}

async fn events(State(d): State<AppState>, Query(q): Query<params::Query>) -> ApiResult<Response> {
    let f = params::filters(&q)?;
    params::check_filter_keys(
        &f,
        &[
            "type",
            "event",
            "container",
            "image",
            "label",
            "network",
            "volume",
            "daemon",
            "scope",
            "plugin",
            "node",
            "service",
            "secret",
            "config",
        ],
    )?;
    let ts = |k: &str| -> ApiResult<Option<DateTime<Utc>>> {
        match q.get(k).filter(|s| !s.is_empty()) {
            Some(s) => parse_timestamp(s)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for {k}: {s}"))),
            None => Ok(None),
        }
    };
    let since = ts("since")?;
    let until = ts("until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(ApiError::bad_request(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                q.get("since").map(String::as_str).unwrap_or_default(),
                q.get("until").map(String::as_str).unwrap_or_default()
            )));
        }
    }
    let (backlog, rx) = d.events.subscribe();
    let replay: Vec<EventMessage> = match since {
        Some(s) => backlog
            .into_iter()
            .filter(|e| event_time(e) >= s && until.is_none_or(|u| event_time(e) <= u))
            .collect(),
        None => Vec::new(),
    };
    let encode = |e: &EventMessage| -> Result<Bytes, std::convert::Infallible> {
        let mut v = serde_json::to_vec(e).unwrap_or_default();
        v.push(b'\n');
        Ok(Bytes::from(v))
    };
    let f2 = f.clone();
    let head = futures::stream::iter(
        replay
            .into_iter()
            .filter(move |e| matches(&f2, e))
            .map(move |e| encode(&e))
            .collect::<Vec<_>>(),
    );
    let live = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(e) => Some((e, rx)),
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("events client too slow: dropping it after missing {n} events");
                None
            }
            Err(RecvError::Closed) => None,
        }
    })
    .filter(move |e| futures::future::ready(matches(&f, e)))
    .map(move |e| encode(&e));
    let body = match until {
        // Past `until`, the stream ends when the replay is done; a future `until` ends it then.
        Some(u) => {
            let left = (u - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            let live = live.take_until(tokio::time::sleep(left));
            Body::from_stream(head.chain(live))
        }
        None => Body::from_stream(head.chain(live)),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}
