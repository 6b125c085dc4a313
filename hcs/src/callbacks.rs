//! Routing of HCS event callbacks to async receivers.
//!
//! HCS calls back on its own threads with a context value chosen at registration. The context
//! is a registration number looked up here (as hcsshim's callbackMap does), never a pointer to
//! Rust state, so an event that races with a handle's closing is simply dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::mpsc;

pub const EVENT_SYSTEM_EXITED: u32 = 0x0000_0001;
pub const EVENT_PROCESS_EXITED: u32 = 0x0001_0000;
pub const EVENT_SERVICE_DISCONNECT: u32 = 0x0200_0000;

/// One event as HCS reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub event_type: u32,
    pub data: Option<String>,
}

type Registry = Mutex<HashMap<usize, mpsc::UnboundedSender<Notification>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

static NEXT: AtomicUsize = AtomicUsize::new(1);

/// A live registration; dropping it stops delivery (the receiver then sees the end).
#[derive(Debug)]
pub struct Registration {
    id: usize,
}

impl Registration {
    pub fn context(&self) -> usize {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

pub fn register() -> (Registration, mpsc::UnboundedReceiver<Notification>) {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::unbounded_channel();
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, tx);
    (Registration { id }, rx)
}

/// Called from HCS's callback thread (through the ffi trampoline). Never blocks or panics.
pub(crate) fn dispatch(context: usize, event_type: u32, data: Option<String>) {
    let tx = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&context)
        .cloned();
    if let Some(tx) = tx {
        // A dropped receiver means nobody waits for this handle any more.
        let _ = tx.send(Notification { event_type, data });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_only_live_registrations() {
        let (reg, mut rx) = register();
        dispatch(reg.context(), EVENT_PROCESS_EXITED, Some("{}".into()));
        assert_eq!(rx.try_recv().unwrap().event_type, EVENT_PROCESS_EXITED);
        let ctx = reg.context();
        drop(reg);
        dispatch(ctx, EVENT_PROCESS_EXITED, None);
        assert!(rx.try_recv().is_err());
    }
}
