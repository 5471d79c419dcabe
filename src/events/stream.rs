//! A resumable stream of one org's live events for one user: replay from the `events`
//! outbox after the client's seq, then live from the bus, with no gap and no duplicate.
//!
//! The live receiver is taken before the replay starts, so nothing committed meanwhile
//! is lost; live events at or below the last delivered seq are dropped as duplicates;
//! a jump in seqs, a lagging receiver, a Redis reconnect or (while Redis is unhealthy)
//! a 2-second tick send the stream back to the outbox from its last seq. Seqs are dense
//! and in commit order per org (see [`crate::db::events`]), which is what makes "jump"
//! detectable. A removed member's stream ends at the MEMBER_REMOVED event about them.
//! Access is also re-checked periodically, once per org, user and session for the whole
//! process ([`super::access`]): in case that event was missed, and to end the
//! streams of a session ended by `logout` or `changePassword`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, BoxStream, StreamExt as _};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::Bus;
use super::LiveEvent;
use crate::auth::viewer::role_in;
use crate::db::enums::EventKind;
use crate::db::ids::{OrgId, UserId};
use crate::db::scope::Scope;
use crate::db::{Pool, events};
use crate::error::{AppError, AppResult};

/// Events read from the outbox per query.
const REPLAY_BATCH: i64 = 500;
/// How often an unhealthy bus is compensated by reading the outbox.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A stream item: an event for the subscriber, or why the stream ends.
pub type Item = Result<Arc<LiveEvent>, AppError>;

/// A subscriber's stream.
pub type Stream = BoxStream<'static, Item>;

struct State {
    pool: Pool,
    bus: Arc<Bus>,
    org: OrgId,
    user: UserId,
    /// The session of the token the subscriber came with.
    session: Option<Uuid>,
    last: i64,
    pending: VecDeque<Arc<LiveEvent>>,
    replay: bool,
    finished: bool,
    /// The subscriber was removed from the org: the stream ends once `pending` drains.
    removed: bool,
    live: broadcast::Receiver<Arc<LiveEvent>>,
    resyncs: watch::Receiver<u64>,
    tick: tokio::time::Interval,
    checked_at: Instant,
}

/// Opens `user`'s stream of `org`'s events after seq `after` (or from now), replaying
/// from the outbox in `pool` and going live on `bus`; the stream ends with
/// `UNAUTHENTICATED` once `session` (theirs) is found ended. Fails with
/// `RESYNC_REQUIRED` when events after `after` were already pruned.
pub async fn open(
    pool: Pool,
    bus: Arc<Bus>,
    org: OrgId,
    (user, session): (UserId, Option<Uuid>),
    after: Option<i64>,
) -> Result<Stream, AppError> {
    // Subscribe first: whatever commits from here on is either replayed or live.
    let live = bus.subscribe(org).await;
    let resyncs = bus.resyncs();
    let (last_seq, pruned_through) = {
        let mut conn = pool.checkout(Scope::Viewer(user)).await?;
        events::watermarks(&mut conn, org).await?
    };
    let start = match after {
        Some(after) if after < pruned_through => return Err(AppError::ResyncRequired),
        Some(after) if after > last_seq => {
            return Err(AppError::bad_input("`after` is beyond the latest event"));
        }
        Some(after) => after,
        None => last_seq,
    };
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = State {
        pool,
        bus,
        org,
        user,
        session,
        last: start,
        pending: VecDeque::new(),
        replay: start < last_seq,
        finished: false,
        removed: false,
        live,
        resyncs,
        tick,
        checked_at: Instant::now(),
    };
    Ok(stream::unfold(state, next).boxed())
}

async fn next(mut st: State) -> Option<(Item, State)> {
    loop {
        if st.finished {
            return None;
        }
        if let Some(event) = st.pending.pop_front() {
            return Some((Ok(event), st));
        }
        if st.removed {
            st.finished = true;
            return Some((Err(AppError::Forbidden), st));
        }
        if st.replay {
            if let Err(e) = replay(&mut st).await {
                st.finished = true;
                return Some((Err(e), st));
            }
            continue;
        }
        tokio::select! {
            received = st.live.recv() => match received {
                Ok(event) => accept_live(&mut st, event),
                Err(broadcast::error::RecvError::Lagged(_)) => st.replay = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            changed = st.resyncs.changed() => {
                if changed.is_ok() { st.replay = true } else { return None }
            }
            _ = st.tick.tick() => {
                if !st.bus.healthy() {
                    st.replay = true;
                }
                if st.checked_at.elapsed() >= st.bus.access_checks().interval()
                    && let Err(e) = check_access(&mut st).await
                {
                    st.finished = true;
                    return Some((Err(e), st));
                }
            }
        }
    }
}

fn accept_live(st: &mut State, event: Arc<LiveEvent>) {
    let seq = event.event.seq;
    if seq <= st.last {
        return; // already delivered (replay overlap or our own duplicate)
    }
    if seq == st.last + 1 {
        st.last = seq;
        take(st, event);
    } else {
        // Something between went missing on the way: the outbox has it.
        st.replay = true;
    }
}

async fn replay(st: &mut State) -> Result<(), AppError> {
    let mut conn = st.pool.checkout(Scope::Viewer(st.user)).await?;
    let batch = events::after(&mut conn, st.org, st.last, REPLAY_BATCH).await?;
    if (batch.len() as i64) < REPLAY_BATCH {
        st.replay = false;
    }
    for event in batch {
        st.last = event.seq;
        take(st, Arc::new(LiveEvent::from(event)));
        if st.removed {
            break;
        }
    }
    Ok(())
}

/// Queues an event the subscriber may see; the removal of the subscriber from the org
/// ends the stream after it.
fn take(st: &mut State, event: Arc<LiveEvent>) {
    if st.removed {
        return;
    }
    let removed = event.event.kind == EventKind::MemberRemoved
        && event
            .snapshot
            .member
            .as_ref()
            .is_some_and(|m| m.user_id == st.user);
    if visible(&event, st.user) {
        st.pending.push_back(event);
    }
    if removed {
        st.removed = true;
        st.replay = false;
    }
}

async fn check_access(st: &mut State) -> Result<(), AppError> {
    st.checked_at = Instant::now();
    let (pool, org, user, session) = (&st.pool, st.org, st.user, st.session);
    // The scoping statement says both the user's roles and whether the session ended.
    let lookup = async {
        let (_conn, access) = pool
            .checkout_with_access(Scope::Viewer(user), session)
            .await?;
        AppResult::Ok(role_in(access.as_ref(), org)?.is_some())
    };
    let member = st
        .bus
        .access_checks()
        .still_allowed((org, user, session), lookup)
        .await?;
    if member {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Notification events are private to their user; everything else is org-wide.
fn visible(event: &LiveEvent, user: UserId) -> bool {
    event.event.user_id.is_none_or(|u| u == user)
}
