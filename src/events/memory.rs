//! In-process bus: one bounded broadcast channel per org with local subscribers. Used
//! when no `REDIS_URL` is set, and as the local fan-out stage behind Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::db::events::Event;
use crate::db::ids::OrgId;

/// Events buffered per org for slow subscribers before they lag (and resync).
const CHANNEL_CAPACITY: usize = 1024;

/// Per-org broadcast channels of this process.
#[derive(Default)]
pub struct MemoryBus {
    channels: Mutex<HashMap<OrgId, broadcast::Sender<Arc<Event>>>>,
}

impl MemoryBus {
    /// Delivers `event` to this process's subscribers of its org.
    pub fn deliver(&self, event: Arc<Event>) {
        let Ok(mut channels) = self.channels.lock() else {
            return;
        };
        if let Some(sender) = channels.get(&event.org_id)
            && sender.send(event.clone()).is_err()
        {
            // Nobody listens any more: forget the channel.
            channels.remove(&event.org_id);
        }
    }

    /// A receiver of `org`'s events from now on.
    pub fn subscribe(&self, org: OrgId) -> broadcast::Receiver<Arc<Event>> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .entry(org)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }

    /// Orgs with at least one live local subscriber.
    pub fn active_orgs(&self) -> Vec<OrgId> {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .iter()
            .filter(|(_, s)| s.receiver_count() > 0)
            .map(|(org, _)| *org)
            .collect()
    }
}
