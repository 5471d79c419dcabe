//! The live-event bus: committed outbox events fanned out to subscribers, in-process or
//! across instances through Redis pub/sub.

pub mod memory;

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::db::events::Event;
use crate::db::ids::OrgId;
use memory::MemoryBus;

/// Publishes committed events and hands out per-org receivers.
pub enum Bus {
    /// Single instance, no Redis.
    Memory(MemoryBus),
}

impl Bus {
    /// The in-process bus.
    pub fn memory() -> Self {
        Bus::Memory(MemoryBus::default())
    }

    /// Publishes a committed event (best effort).
    pub fn publish(&self, event: Event) {
        match self {
            Bus::Memory(bus) => bus.deliver(Arc::new(event)),
        }
    }

    /// Receives `org`'s events published from now on.
    pub fn subscribe(&self, org: OrgId) -> broadcast::Receiver<Arc<Event>> {
        match self {
            Bus::Memory(bus) => bus.subscribe(org),
        }
    }
}
