//! Which members are connected: every instance counts the WebSockets each user has open
//! on it and records the counts in `user_presence` (on each change, and on a heartbeat
//! while sockets stay open). [`sweep`] then sets OFFLINE the members whose last socket
//! has been closed for `AGENT_OFFLINE_AFTER_SECS`, wherever it was, and those whose
//! instance stopped heartbeating (it died with their sockets).
//!
//! One writer task per instance does every write, in order, so a late write never undoes
//! a newer one; sockets only touch an in-memory map.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use uuid::Uuid;

use crate::db::ids::UserId;
use crate::db::scope::Scope;
use crate::db::{Pool, presence};
use crate::state::AppState;

/// How often an instance confirms the sockets it holds.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Silence after which an instance's sockets no longer count (it is presumed dead).
pub const STALE_AFTER: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Counts {
    open: HashMap<UserId, i32>,
    changed: HashSet<UserId>,
}

struct Inner {
    instance: Uuid,
    counts: Mutex<Counts>,
    wake: Notify,
}

/// This instance's socket counts.
#[derive(Clone)]
pub struct Presence(Arc<Inner>);

/// Holds one open socket of a user; dropping it closes it.
pub struct SocketGuard {
    inner: Arc<Inner>,
    user: UserId,
}

impl Presence {
    /// Counts for a new instance, with their writer task on `pool` (call inside a Tokio
    /// runtime); the task ends when the last handle is dropped.
    pub fn start(pool: Pool) -> Self {
        let inner = Arc::new(Inner {
            instance: Uuid::new_v4(),
            counts: Mutex::default(),
            wake: Notify::new(),
        });
        tokio::spawn(write_loop(Arc::downgrade(&inner), pool));
        Self(inner)
    }

    /// Records a socket of `user` opened; it counts until the guard is dropped.
    pub fn connect(&self, user: UserId) -> SocketGuard {
        self.0.change(user, 1);
        SocketGuard {
            inner: self.0.clone(),
            user,
        }
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.inner.change(self.user, -1);
    }
}

impl Inner {
    fn change(&self, user: UserId, by: i32) {
        if let Ok(mut counts) = self.counts.lock() {
            let open = counts.open.entry(user).or_default();
            *open = (*open + by).max(0);
            counts.changed.insert(user);
        }
        self.wake.notify_one();
    }

    /// What to write now: changed users, plus every connected user on a heartbeat.
    /// Users down to no socket are forgotten once written.
    fn take(&self, heartbeat: bool) -> Vec<(UserId, i32)> {
        let Ok(mut counts) = self.counts.lock() else {
            return Vec::new();
        };
        let changed = std::mem::take(&mut counts.changed);
        let rows: Vec<(UserId, i32)> = counts
            .open
            .iter()
            .filter(|(user, open)| changed.contains(user) || (heartbeat && **open > 0))
            .map(|(user, open)| (*user, *open))
            .collect();
        counts.open.retain(|_, open| *open > 0);
        rows
    }
}

async fn write_loop(inner: Weak<Inner>, pool: Pool) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut version: i64 = 0;
    loop {
        let wake = match inner.upgrade() {
            Some(inner) => inner,
            None => return,
        };
        let beat = tokio::select! {
            _ = heartbeat.tick() => true,
            () = wake.wake.notified() => false,
            // Re-check now and then whether the instance is gone.
            () = tokio::time::sleep(HEARTBEAT) => false,
        };
        let rows = wake.take(beat);
        let instance = wake.instance;
        drop(wake);
        if rows.is_empty() {
            continue;
        }
        version += 1;
        let counts: Vec<(UserId, i32, i64)> =
            rows.into_iter().map(|(u, n)| (u, n, version)).collect();
        let written = match pool.checkout(Scope::System).await {
            Ok(mut conn) => presence::record(&mut conn, instance, &counts)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not record socket presence; retrying");
            if let Some(inner) = inner.upgrade()
                && let Ok(mut pending) = inner.counts.lock()
            {
                pending.changed.extend(counts.iter().map(|(u, _, _)| *u));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Sets OFFLINE the members whose last socket closed more than `AGENT_OFFLINE_AFTER_SECS`
/// ago (or whose instance went silent), and publishes the changes; how many.
pub async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    let now = chrono::Utc::now();
    let offline_after = chrono::Duration::from_std(state.config().agent_offline_after)?;
    let stale_after = chrono::Duration::from_std(STALE_AFTER)?;
    let mut conn = state.system_conn().await?;
    let swept =
        crate::inbox::members::sweep_offline(&mut conn, now - offline_after, now - stale_after)
            .await?;
    Ok(state.publish(swept).len())
}
