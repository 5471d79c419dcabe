//! In-process fan-out: one bounded broadcast channel per org with local subscribers.
//! Used alone when no `REDIS_URL` is set, and as the local stage behind Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::LiveEvent;
use crate::db::ids::OrgId;

/// Events buffered per org for a slow subscriber before it lags (and resyncs from the
/// outbox).
const CHANNEL_CAPACITY: usize = 1024;

/// Per-org broadcast channels of this process.
#[derive(Default)]
pub struct MemoryBus {
    channels: Mutex<HashMap<OrgId, broadcast::Sender<Arc<LiveEvent>>>>,
}

impl MemoryBus {
    /// Delivers `event` to this process's subscribers of its org.
    pub fn deliver(&self, event: Arc<LiveEvent>) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let org = event.event.org_id;
        if let Some(sender) = channels.get(&org)
            && sender.send(event).is_err()
        {
            // Nobody listens any more: forget the channel.
            channels.remove(&org);
        }
    }

    /// A receiver of `org`'s events from now on; `true` when it is the org's first.
    pub fn subscribe(&self, org: OrgId) -> (broadcast::Receiver<Arc<LiveEvent>>, bool) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let first = channels.get(&org).is_none_or(|s| s.receiver_count() == 0);
        let sender = channels
            .entry(org)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0);
        (sender.subscribe(), first)
    }

    /// Forgets orgs without subscribers; returns them.
    pub fn sweep(&self) -> Vec<OrgId> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let idle: Vec<OrgId> = channels
            .iter()
            .filter(|(_, s)| s.receiver_count() == 0)
            .map(|(o, _)| *o)
            .collect();
        for org in &idle {
            channels.remove(org);
        }
        idle
    }

    /// Live local receivers, over all orgs.
    pub fn receiver_count(&self) -> usize {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .values()
            .map(broadcast::Sender::receiver_count)
            .sum()
    }
}
