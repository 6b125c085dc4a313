//! The Docker event bus: handlers and the runtime event pump publish here; `/events`
//! subscribers get a replay from a bounded backlog and then live events.
//!
//! Publishing never waits for subscribers: live events go out on a broadcast channel, and a
//! subscriber that falls too far behind is dropped by the `/events` handler (see
//! `server::events`), so one slow client can never stall the daemon or the other clients.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use spec::api::models::EventMessageTypeEnum;
use tokio::sync::{broadcast, watch};
use translate::events::{EventType, Message};

/// How many past events `/events?since=` can replay (dockerd keeps 256 too).
const BACKLOG: usize = 256;
/// How far a live subscriber may fall behind before it is dropped (dockerd's pubsub buffers
/// 1024 per subscriber).
const LIVE_BUFFER: usize = 1024;

pub struct EventBus {
    backlog: Mutex<VecDeque<Message>>,
    live: broadcast::Sender<Message>,
    /// Set at shutdown: live streams end cleanly instead of being cut off when the
    /// server stops.
    closed: watch::Sender<bool>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

/// Now, in nanoseconds since the epoch: the clock every event is stamped with.
pub fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl EventBus {
    pub fn new() -> Self {
        Self {
            backlog: Mutex::new(VecDeque::with_capacity(BACKLOG)),
            live: broadcast::channel(LIVE_BUFFER).0,
            closed: watch::channel(false).0,
        }
    }

    /// Ends every live `/events` stream (as dockerd closes its subscribers at shutdown): the
    /// clients see a normal end of stream rather than a broken connection.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Lets the stream handlers see [`close`](Self::close).
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    pub fn publish(&self, mut ev: Message) {
        tracing::debug!(
            r#type = %ev.typ,
            action = %ev.action,
            id = %ev.actor.id,
            "event"
        );
        // Holding the lock while sending keeps backlog order and live order identical, so a
        // subscriber that snapshots the backlog under the same lock misses nothing and sees
        // nothing twice. `send` never blocks: it only fails when nobody listens.
        let mut backlog = self.backlog.lock().unwrap_or_else(|p| p.into_inner());
        // Events are stamped before this lock (by whoever saw the change), so two threads
        // can stamp in one order and publish in the other. The stream's order is the
        // publish order, and `since`/`until` readers rely on time never going back in it:
        // a late-published event takes the time of the one before it.
        if let Some(last) = backlog.back() {
            if ev.time_nano < last.time_nano {
                ev.time_nano = last.time_nano;
                ev.time = last.time;
            }
        }
        if backlog.len() == BACKLOG {
            backlog.pop_front();
        }
        backlog.push_back(ev.clone());
        let _ = self.live.send(ev);
    }

    /// The backlog so far and a receiver for everything after it.
    pub fn subscribe(&self) -> (Vec<Message>, broadcast::Receiver<Message>) {
        let backlog = self.backlog.lock().unwrap_or_else(|p| p.into_inner());
        (backlog.iter().cloned().collect(), self.live.subscribe())
    }

    /// Publishes an event of `kind` about `id` with `attributes`, stamped now. For callers
    /// that build attributes themselves (image handlers, prune); container events go through
    /// the container manager, which adds the container's labels, image and name.
    pub fn emit(
        &self,
        kind: EventMessageTypeEnum,
        action: &str,
        id: &str,
        attributes: HashMap<String, String>,
    ) {
        let Some(typ) = event_type(kind) else {
            tracing::warn!(action, id, "dropping an event without a type");
            return;
        };
        self.publish(Message::new(
            typ,
            action,
            id,
            attributes.into_iter().collect(),
            now_nanos(),
        ));
    }
}

fn event_type(kind: EventMessageTypeEnum) -> Option<EventType> {
    use EventMessageTypeEnum as K;
    Some(match kind {
        K::EMPTY => return None,
        K::BUILDER => EventType::Builder,
        K::CONFIG => EventType::Config,
        K::CONTAINER => EventType::Container,
        K::DAEMON => EventType::Daemon,
        K::IMAGE => EventType::Image,
        K::NETWORK => EventType::Network,
        K::NODE => EventType::Node,
        K::PLUGIN => EventType::Plugin,
        K::SECRET => EventType::Secret,
        K::SERVICE => EventType::Service,
        K::VOLUME => EventType::Volume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ev(n: i64) -> Message {
        Message::new(
            EventType::Container,
            "start",
            n.to_string(),
            BTreeMap::new(),
            n,
        )
    }

    #[test]
    fn backlog_is_bounded_and_ordered() {
        let bus = EventBus::new();
        for n in 0..300 {
            bus.publish(ev(n));
        }
        let (backlog, _rx) = bus.subscribe();
        assert_eq!(backlog.len(), BACKLOG);
        assert_eq!(
            backlog.first().map(|e| e.time_nano),
            Some(300 - BACKLOG as i64)
        );
        assert_eq!(backlog.last().map(|e| e.time_nano), Some(299));
    }

    #[tokio::test]
    async fn subscribers_get_what_follows_the_snapshot() {
        let bus = EventBus::new();
        bus.publish(ev(1));
        let (backlog, mut rx) = bus.subscribe();
        bus.publish(ev(2));
        assert_eq!(backlog.len(), 1);
        assert_eq!(rx.recv().await.map(|e| e.time_nano).ok(), Some(2));
    }

    #[tokio::test]
    async fn a_lagging_subscriber_never_blocks_publishing() {
        let bus = EventBus::new();
        let (_, mut rx) = bus.subscribe();
        for n in 0..(LIVE_BUFFER as i64 + 10) {
            bus.publish(ev(n));
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }

    #[tokio::test]
    async fn close_is_seen_by_subscribers() {
        let bus = EventBus::new();
        let mut closed = bus.closed();
        assert!(!*closed.borrow());
        bus.close();
        assert!(closed.wait_for(|c| *c).await.is_ok());
        assert!(*bus.closed().borrow());
    }

    #[test]
    fn time_never_goes_back_in_publish_order() {
        let bus = EventBus::default();
        let at = |t: i64| Message::new(EventType::Container, "start", "c", BTreeMap::new(), t);
        bus.publish(at(2_000_000_005));
        bus.publish(at(1_000_000_001));
        let (backlog, _) = bus.subscribe();
        let times: Vec<(i64, i64)> = backlog.iter().map(|e| (e.time, e.time_nano)).collect();
        assert_eq!(times, [(2, 2_000_000_005), (2, 2_000_000_005)]);
    }

    #[test]
    fn emit_stamps_and_types() {
        let bus = EventBus::new();
        bus.emit(
            EventMessageTypeEnum::IMAGE,
            "tag",
            "sha256:a",
            HashMap::from([("name".to_string(), "x:1".to_string())]),
        );
        bus.emit(EventMessageTypeEnum::EMPTY, "x", "y", HashMap::new());
        let (backlog, _) = bus.subscribe();
        assert_eq!(backlog.len(), 1);
        let e = &backlog[0];
        assert_eq!(e.typ, EventType::Image);
        assert_eq!(e.actor.attributes["name"], "x:1");
        assert_eq!(e.time, e.time_nano / 1_000_000_000);
        assert!(e.time_nano > 0);
    }
}
