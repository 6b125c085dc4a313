//! The hijack handshake of attach and exec start: `101 UPGRADED` with `Upgrade: tcp`, after
//! which the connection is a raw duplex byte stream.
//!
//! hyper only hands the connection over after a 101 to a request that carried `Upgrade`;
//! the response's reason phrase is dockerd's exact `UPGRADED`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Whether the client asked to upgrade the connection.
pub fn wants_upgrade(req: &Request) -> bool {
    req.headers().contains_key(header::UPGRADE)
}

/// Takes the upgrade future out of the request, and builds the 101 response.
pub fn accept(req: &mut Request, content_type: &'static str) -> (OnUpgrade, Response) {
    let on_upgrade = hyper::upgrade::on(req);
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    resp.extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(b"UPGRADED"));
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (on_upgrade, resp)
}

/// Waits for the connection to be handed over.
pub async fn take(on_upgrade: OnUpgrade) -> Option<Upgraded> {
    match on_upgrade.await {
        Ok(u) => Some(TokioIo::new(u)),
        Err(e) => {
            tracing::debug!("connection upgrade failed: {e}");
            None
        }
    }
}
