//! The in-memory image index: the last listing of every image, kept until something
//! changes an image record.
//!
//! Building a listing costs an `Images.List` round trip to containerd and a pass over every
//! record (names parsed, records grouped by config); `docker images`, every `resolve` of a
//! name (create, inspect, tag, run) and `/info` need one. dockerd answers them from memory,
//! so dockbridge keeps the last listing too and drops it when a record changes:
//! - the store's own writes ([`ListCache::invalidate`] after every record create, update
//!   or delete; the daemon is the only writer it knows of in its namespace);
//! - other clients' writes in the same namespace (`ctr -n …`, another dockbridge on the
//!   same containerd), through containerd's `/images/` events ([`follow_events`]).
//!
//! A listing built while a change happened is not kept: each build takes the generation it
//! started from, and [`ListCache::store`] keeps it only if no invalidation came since.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use containerd_client::services::v1::SubscribeRequest;

use super::ImageRecord;
use crate::containerd::Containerd;

#[derive(Default)]
struct State {
    generation: u64,
    listing: Option<Arc<Vec<ImageRecord>>>,
}

/// The last listing and the generation of the records it was built from.
#[derive(Default)]
pub struct ListCache {
    state: Mutex<State>,
}

/// What [`ListCache::get`] found.
pub enum Lookup {
    Hit(Arc<Vec<ImageRecord>>),
    /// Build a listing, then [`ListCache::store`] it with this generation.
    Miss(u64),
}

impl ListCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self) -> Lookup {
        let s = self.lock();
        match &s.listing {
            Some(l) => Lookup::Hit(l.clone()),
            None => Lookup::Miss(s.generation),
        }
    }

    /// Keeps `listing` unless the records changed since `generation` was handed out.
    pub fn store(&self, generation: u64, listing: Arc<Vec<ImageRecord>>) {
        let mut s = self.lock();
        if s.generation == generation {
            s.listing = Some(listing);
        }
    }

    /// A record changed (or may have): the next listing is built afresh.
    pub fn invalidate(&self) {
        let mut s = self.lock();
        s.generation = s.generation.wrapping_add(1);
        s.listing = None;
    }
}

/// Follows containerd's `/images/` events of `cd`'s namespace and invalidates `cache` on
/// each; ends when the cache is gone. While the subscription is broken, changes cannot be
/// seen: the cache is invalidated when the stream breaks and again once the new
/// subscription is pending (containerd's `Subscribe` answers only with its first event).
pub async fn follow_events(cd: Containerd, cache: Weak<ListCache>) {
    let invalidate = |cache: &Weak<ListCache>| match cache.upgrade() {
        Some(c) => {
            c.invalidate();
            true
        }
        None => false,
    };
    loop {
        let req = SubscribeRequest {
            filters: vec![format!(
                "namespace=={},topic~=\"^/images/\"",
                cd.namespace()
            )],
        };
        let mut events = cd.events();
        let subscribing = events.subscribe(req);
        tokio::pin!(subscribing);
        let mut announced = false;
        let subscribed = loop {
            tokio::select! {
                r = &mut subscribing => break r,
                _ = tokio::time::sleep(Duration::from_secs(1)), if !announced => {
                    announced = true;
                    if !invalidate(&cache) {
                        return;
                    }
                }
            }
        };
        if let Ok(stream) = subscribed {
            let mut stream = stream.into_inner();
            loop {
                match stream.message().await {
                    Ok(Some(env)) => {
                        tracing::trace!(topic = %env.topic, "image record changed");
                        if !invalidate(&cache) {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!("containerd image events broke: {}", e.message());
                        break;
                    }
                }
            }
        }
        if !invalidate(&cache) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(id: &str) -> Arc<Vec<ImageRecord>> {
        Arc::new(vec![ImageRecord {
            id: id.into(),
            ..Default::default()
        }])
    }

    fn hit(c: &ListCache) -> Option<String> {
        match c.get() {
            Lookup::Hit(l) => Some(l[0].id.clone()),
            Lookup::Miss(_) => None,
        }
    }

    #[test]
    fn a_stored_listing_is_served_until_invalidated() {
        let c = ListCache::default();
        let Lookup::Miss(g) = c.get() else {
            panic!("an empty cache has nothing")
        };
        c.store(g, listing("a"));
        assert_eq!(hit(&c).as_deref(), Some("a"));
        c.invalidate();
        assert_eq!(hit(&c), None);
    }

    #[test]
    fn a_listing_built_across_a_change_is_not_kept() {
        let c = ListCache::default();
        let Lookup::Miss(g) = c.get() else {
            panic!("an empty cache has nothing")
        };
        // A record changed while the listing was being built from the old records.
        c.invalidate();
        c.store(g, listing("stale"));
        assert_eq!(hit(&c), None);
        let Lookup::Miss(g2) = c.get() else {
            panic!("still empty")
        };
        assert_ne!(g, g2);
        c.store(g2, listing("fresh"));
        assert_eq!(hit(&c).as_deref(), Some("fresh"));
    }
}
