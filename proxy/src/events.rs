//! The Docker event bus: handlers and the runtime event pump publish here; `/events`
//! subscribers get a replay from a bounded backlog and then live events.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use spec::api::models::{EventActor, EventMessage, EventMessageTypeEnum};
use tokio::sync::broadcast;

/// How many past events `/events?since=` can replay (dockerd keeps 256 too).
const BACKLOG: usize = 256;

pub struct EventBus {
    backlog: Mutex<VecDeque<EventMessage>>,
    live: broadcast::Sender<EventMessage>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        Self {
            backlog: Mutex::new(VecDeque::with_capacity(BACKLOG)),
            live: broadcast::channel(1024).0,
        }
    }

    pub fn publish(&self, ev: EventMessage) {
        // Holding the lock while sending keeps backlog order and live order identical, so a
        // subscriber that snapshots the backlog under the same lock misses nothing.
        let mut backlog = self.backlog.lock().unwrap_or_else(|p| p.into_inner());
        if backlog.len() == BACKLOG {
            backlog.pop_front();
        }
        backlog.push_back(ev.clone());
        let _ = self.live.send(ev);
    }

    /// The backlog so far and a receiver for everything after it.
    pub fn subscribe(&self) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>) {
        let backlog = self.backlog.lock().unwrap_or_else(|p| p.into_inner());
        (backlog.iter().cloned().collect(), self.live.subscribe())
    }

    /// Publishes an event of `kind` about `id` with `attributes`, stamped now.
    pub fn emit(
        &self,
        kind: EventMessageTypeEnum,
        action: &str,
        id: &str,
        attributes: HashMap<String, String>,
    ) {
        let now = chrono::Utc::now();
        self.publish(EventMessage {
            typ: Some(kind),
            action: Some(action.to_string()),
            actor: Some(EventActor {
                id: Some(id.to_string()),
                attributes: Some(attributes),
            }),
            scope: Some(spec::api::models::EventMessageScopeEnum::LOCAL),
            time: Some(now.timestamp()),
            time_nano: now.timestamp_nanos_opt(),
        });
    }
}
